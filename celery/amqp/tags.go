package amqp

import (
	"slices"
	"sync"
)

// deliveryTags follows a consuming channel's delivery tags, so that a batch of
// acknowledgements can go out as one basic.ack with multiple set, which
// acknowledges every delivery of the channel up to its tag that is not
// settled yet. That is safe for a tag t only when every delivery up to t
// was received (RabbitMQ numbers a channel's deliveries 1, 2, 3, …, but
// those of two consumers may reach ReceiveBatch out of order) and none
// of them is still held unsettled by the worker (a task running with
// acks_late, an ETA task waiting). RabbitMQ also wants t itself
// unsettled: t is always a tag of the batch. Tags that do not qualify
// are acknowledged one by one, as kombu does. Peers cannot tell.
type deliveryTags struct {
	mu sync.Mutex
	// seen is the highest tag up to which every delivery was received.
	seen uint64
	// ahead holds received tags above seen+1.
	ahead map[uint64]struct{}
	// open holds the received tags not settled yet, ascending.
	open []uint64
}

// received records the receipt of the delivery tagged t.
func (s *deliveryTags) received(t uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case t == s.seen+1:
		s.seen++
		for len(s.ahead) > 0 {
			if _, ok := s.ahead[s.seen+1]; !ok {
				break
			}
			delete(s.ahead, s.seen+1)
			s.seen++
		}
	case t > s.seen+1:
		if s.ahead == nil {
			s.ahead = map[uint64]struct{}{}
		}
		s.ahead[t] = struct{}{}
	}
	if n := len(s.open); n == 0 || s.open[n-1] < t {
		s.open = append(s.open, t)
		return
	}
	if i, found := slices.BinarySearch(s.open, t); !found {
		s.open = slices.Insert(s.open, i, t)
	}
}

// settled forgets t, settled. The caller holds mu.
func (s *deliveryTags) settled(t uint64) {
	i, found := slices.BinarySearch(s.open, t)
	switch {
	case !found:
	case i == 0:
		s.open = s.open[1:]
	default:
		s.open = slices.Delete(s.open, i, i+1)
	}
}

// upTo returns the highest tag t that one basic.ack with multiple set
// may carry once the batch is marked settled: every tag up to t was
// received and none is still open. The caller holds mu.
func (s *deliveryTags) upTo() uint64 {
	limit := s.seen
	if len(s.open) > 0 && s.open[0]-1 < limit {
		limit = s.open[0] - 1
	}
	return limit
}
