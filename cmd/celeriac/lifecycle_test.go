package main

import "testing"

func TestParseAutoscale(t *testing.T) {
	for _, tc := range []struct {
		in       string
		max, min int
		ok       bool
	}{
		{"10,3", 10, 3, true},
		{"3,10", 10, 3, true}, // Celery sorts them
		{"10", 10, 0, true},
		{" 4 , 1 ", 4, 1, true},
		{"0", 0, 0, false},
		{"a,1", 0, 0, false},
		{"-1,2", 0, 0, false},
		{"1,2,3", 0, 0, false},
	} {
		mx, mn, err := parseAutoscale(tc.in)
		if (err == nil) != tc.ok || mx != tc.max || mn != tc.min {
			t.Errorf("parseAutoscale(%q) = %d, %d, %v", tc.in, mx, mn, err)
		}
	}
}
