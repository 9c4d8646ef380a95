package embedded

import (
	"strings"
	"testing"

	"github.com/gomodule/redigo/redis"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestStart: the server answers on its URL, and a second one on the same
// address fails with an error naming it.
func TestStart(t *testing.T) {
	s, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if want := "redis://" + s.Addr() + "/0"; s.URL() != want {
		t.Errorf("URL() = %q, want %q", s.URL(), want)
	}
	c, err := redis.DialURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if pong, err := redis.String(c.Do("PING")); err != nil || pong != "PONG" {
		t.Errorf("PING = %q, %v", pong, err)
	}
	if _, err := Start(s.Addr()); err == nil || !strings.Contains(err.Error(), s.Addr()) {
		t.Errorf("Start on a taken address: err = %v, want one naming %s", err, s.Addr())
	}
}

// TestZrangeWithScores: the RESP3 answer of the sorted-set range forms
// kombu uses, computed as Redis would.
func TestZrangeWithScores(t *testing.T) {
	set := map[string]float64{"a": 1, "b": 2, "c": 3, "d": 3}
	cases := []struct {
		cmd  string
		args []string
		want string // members in order, or "-" when not ours
	}{
		{"ZRANGE", []string{"k", "0", "-1", "WITHSCORES"}, "abcd"},
		{"ZRANGE", []string{"k", "1", "2", "WITHSCORES"}, "bc"},
		{"ZREVRANGE", []string{"k", "0", "0", "WITHSCORES"}, "d"},
		{"ZRANGE", []string{"k", "+inf", "(1", "BYSCORE", "REV", "LIMIT", "0", "2", "WITHSCORES"}, "dc"},
		{"ZRANGEBYSCORE", []string{"k", "2", "3", "LIMIT", "1", "5", "WITHSCORES"}, "cd"},
		{"ZREVRANGEBYSCORE", []string{"k", "2", "-inf", "WITHSCORES"}, "ba"},
		{"ZRANGE", []string{"k", "[a", "[b", "BYLEX"}, "-"},
		{"ZRANGE", []string{"k", "0"}, "-"},
	}
	for _, tc := range cases {
		q, ok := parseRange(tc.cmd, tc.args)
		got := "-"
		if ok {
			got = ""
			for _, p := range q.apply(set) {
				got += p.member
			}
		}
		if got != tc.want {
			t.Errorf("%s %v = %q, want %q", tc.cmd, tc.args, got, tc.want)
		}
	}
}
