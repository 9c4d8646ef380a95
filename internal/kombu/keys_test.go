package kombu

import "testing"

func TestPriorityStep(t *testing.T) {
	steps := DefaultPrioritySteps()
	for _, tc := range []struct{ in, want int }{
		{-3, 0}, {0, 0}, {2, 0}, {3, 3}, {5, 3}, {6, 6}, {8, 6}, {9, 9}, {42, 9},
	} {
		if got := PriorityStep(tc.in, steps); got != tc.want {
			t.Errorf("PriorityStep(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
	if got := PriorityStep(7, []int{0, 5}); got != 5 {
		t.Errorf("PriorityStep(7, [0 5]) = %d, want 5", got)
	}
}

func TestQueueKey(t *testing.T) {
	for _, tc := range []struct {
		q    string
		step int
		want string
	}{
		{"celery", 0, "celery"}, {"celery", 3, "celery\x06\x163"}, {"a.b", 9, "a.b\x06\x169"},
	} {
		if got := QueueKey(tc.q, tc.step); got != tc.want {
			t.Errorf("QueueKey(%q, %d) = %q, want %q", tc.q, tc.step, got, tc.want)
		}
		if got := QueueFromKey(tc.want); got != tc.q {
			t.Errorf("QueueFromKey(%q) = %q, want %q", tc.want, got, tc.q)
		}
	}
}

func TestBindingMember(t *testing.T) {
	m := BindingMember("celery", "", "celery")
	if m != "celery\x06\x16\x06\x16celery" {
		t.Fatalf("BindingMember = %q", m)
	}
	rk, pat, q, ok := ParseBindingMember(m)
	if !ok || rk != "celery" || pat != "" || q != "celery" {
		t.Fatalf("ParseBindingMember(%q) = %q %q %q %v", m, rk, pat, q, ok)
	}
	if _, _, _, ok := ParseBindingMember("nope"); ok {
		t.Fatal("ParseBindingMember(nope) ok")
	}
}

func TestFanoutChannel(t *testing.T) {
	if got := FanoutChannel(0, "celeryev", "task.succeeded"); got != "/0.celeryev/task.succeeded" {
		t.Errorf("got %q", got)
	}
	if got := FanoutChannel(3, "celery.pidbox", ""); got != "/3.celery.pidbox" {
		t.Errorf("got %q", got)
	}
}
