package rconn

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url                     string
		network, addr, user, pw string
		db                      int
		tls                     bool
		prefix                  string
	}{
		{url: "redis://localhost:6379/0", network: "tcp", addr: "localhost:6379"},
		{url: "redis://", network: "tcp", addr: "localhost:6379"},
		{url: "redis://h/3", network: "tcp", addr: "h:6379", db: 3},
		{url: "redis://:secret@h:1/2", network: "tcp", addr: "h:1", pw: "secret", db: 2},
		{url: "redis://user:secret@h:1", network: "tcp", addr: "h:1", user: "user", pw: "secret"},
		{url: "rediss://h:6380/1?ssl_cert_reqs=none", network: "tcp", addr: "h:6380", db: 1, tls: true},
		{url: "unix:///tmp/redis.sock?db=4", network: "unix", addr: "/tmp/redis.sock", db: 4},
		{url: "redis+socket:///tmp/r.sock", network: "unix", addr: "/tmp/r.sock"},
		{url: "redis://[::1]:7000/0", network: "tcp", addr: "[::1]:7000"},
		{url: "redis://h/0?global_keyprefix=x:", network: "tcp", addr: "h:6379", prefix: "x:"},
		{url: "unix:///tmp/r.sock?db=1&global_keyprefix=app%2F", network: "unix", addr: "/tmp/r.sock", db: 1, prefix: "app/"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			c, err := ParseURL(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if c.Network != tc.network || c.Addr != tc.addr || c.Username != tc.user || c.Password != tc.pw || c.DB != tc.db || (c.TLS != nil) != tc.tls || c.KeyPrefix != tc.prefix {
				t.Errorf("ParseURL(%q) = %+v", tc.url, c)
			}
		})
	}
}

func TestParseSentinel(t *testing.T) {
	c, err := ParseURL("sentinel://:pw@s1:26379/2;sentinel://s2?master_name=mymaster&global_keyprefix=p:")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Sentinels) != 2 || c.Sentinels[1] != "s2:26379" || c.MasterName != "mymaster" || c.Password != "pw" || c.DB != 2 || c.KeyPrefix != "p:" {
		t.Errorf("got %+v", c)
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, u := range []string{
		"amqp://guest@localhost//", "localhost:6379", "redis://h:port/0", "redis://h/x",
		"redis://h/0?ssl_cert_reqs=none", "rediss://h?ssl_cert_reqs=maybe", "unix://",
	} {
		if _, err := ParseURL(u); !errors.Is(err, ErrBadURL) {
			t.Errorf("ParseURL(%q) = %v, want ErrBadURL", u, err)
		}
	}
}

func TestRedact(t *testing.T) {
	c, err := ParseURL("redis://user:secret@h:1/0")
	if err != nil {
		t.Fatal(err)
	}
	if s := c.String(); strings.Contains(s, "secret") {
		t.Errorf("String() leaks the password: %s", s)
	}
	if _, err := ParseURL("foo://:secret@h"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("error leaks the password: %v", err)
	}
	for _, raw := range []string{"redis://:secret@h:port/0", "redis://:secret@h/x", "rediss://:secret@h?ssl_cert_reqs=maybe", "redis://:sec ret@h/0", "redis://:secret%zz@h/0"} {
		if _, err := ParseURL(raw); err == nil || strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "ret@") {
			t.Errorf("ParseURL(%q) error leaks the password: %v", raw, err)
		}
	}
}

func TestIsAuthError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{redis.Error("WRONGPASS invalid username-password pair or user is disabled."), true},
		{fmt.Errorf("celery: ping: %w", redis.Error("NOAUTH Authentication required.")), true},
		{redis.Error("NOPERM this user has no permissions to run the 'brpop' command"), true},
		{redis.Error("ERR unknown command"), false},
		{errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), false},
		{errors.New("remote error: tls: certificate required"), true},
		{x509.UnknownAuthorityError{}, true},
	} {
		if got := IsAuthError(tc.err); got != tc.want {
			t.Errorf("IsAuthError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestProbeTLSPlain(t *testing.T) {
	c, err := ParseURL("redis://127.0.0.1:1/0")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ProbeTLS(context.Background(), time.Millisecond); err != nil {
		t.Errorf("ProbeTLS on redis:// = %v", err)
	}
}
