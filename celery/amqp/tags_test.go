package amqp

import "testing"

// TestDeliveryTags: one acknowledgement may cover a tag only when every
// lower tag was received and is settled.
func TestDeliveryTags(t *testing.T) {
	var s deliveryTags
	settle := func(tags ...uint64) {
		for _, tag := range tags {
			s.settled(tag)
		}
	}
	check := func(want uint64) {
		t.Helper()
		if got := s.upTo(); got != want {
			t.Fatalf("upTo = %d, want %d (seen %d, open %v)", got, want, s.seen, s.open)
		}
	}
	check(0)
	for tag := uint64(1); tag <= 5; tag++ {
		s.received(tag)
	}
	check(0)
	settle(1, 2)
	check(2)
	settle(4) // 3 still held (a running acks_late task)
	check(2)
	settle(3, 5)
	check(5)
	// Tag 7 (one consumer's) overtakes 6 (another's): 7 is not
	// acknowledgeable with 6 unseen.
	s.received(7)
	settle(7)
	check(5)
	s.received(6)
	check(5)
	settle(6)
	check(7)
	// Received out of order, still kept ascending.
	s.received(9)
	s.received(8)
	if len(s.open) != 2 || s.open[0] != 8 || s.open[1] != 9 {
		t.Fatalf("open %v", s.open)
	}
	settle(9)
	check(7)
	settle(8)
	check(9)
	if len(s.ahead) != 0 {
		t.Errorf("ahead %v", s.ahead)
	}
}
