package duration

import (
	"errors"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"3", 3 * time.Second},
		{"0.5", 500 * time.Millisecond},
		{"0", 0},
		{" 40 ", 40 * time.Second},
		{"1e3", 1000 * time.Second},
		{"-1", -time.Second},
		{"3s", 3 * time.Second},
		{"1m", time.Minute},
		{"1m30s", 90 * time.Second},
		{"250ms", 250 * time.Millisecond},
		{"0.001", time.Millisecond},
	} {
		got, err := Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "soon", "3 s", "NaN", "Inf", "-Inf", "1e300", "s"} {
		if got, err := Parse(in); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) = %v, %v; want an ErrSyntax error", in, got, err)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, d := range []time.Duration{0, 90 * time.Minute, 61 * time.Second, time.Second, 30 * time.Second, time.Hour, 1500 * time.Millisecond, 250 * time.Millisecond} {
		s := Format(d)
		if got, err := Parse(s); err != nil || got != d {
			t.Errorf("Parse(Format(%v) = %q) = %v, %v", d, s, got, err)
		}
	}
	for d, want := range map[time.Duration]string{0: "0s", 30 * time.Second: "30s", time.Minute: "1m", 24 * time.Hour: "24h", 90 * time.Minute: "1h30m", 61 * time.Second: "1m1s"} {
		if got := Format(d); got != want {
			t.Errorf("Format(%v) = %q, want %q", d, got, want)
		}
	}
}
