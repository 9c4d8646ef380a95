package redistest_test

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/gomodule/redigo/redis"
	"go.uber.org/goleak"

	"github.com/celeriac/celeriac/internal/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestStartPingRestartStop(t *testing.T) {
	srv := redistest.Start(t)

	if got := srv.Do(t, "PING"); got != "PONG" {
		t.Fatalf("PING = %#v, want PONG", got)
	}
	host, port, err := net.SplitHostPort(srv.Addr())
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("Addr() = %q", srv.Addr())
	}
	if want := "redis://" + srv.Addr() + "/3"; srv.URL(3) != want {
		t.Fatalf("URL(3) = %q, want %q", srv.URL(3), want)
	}

	// Persistence is off: no save points, no AOF.
	save, err := redis.Strings(srv.Do(t, "CONFIG", "GET", "save"), nil)
	if err != nil || len(save) != 2 || save[1] != "" {
		t.Fatalf("CONFIG GET save = %q, %v", save, err)
	}
	srv.Do(t, "RPUSH", "l", "a", "b")
	if n, _ := redis.Int64(srv.Do(t, "LLEN", "l"), nil); n != 2 {
		t.Fatalf("LLEN = %d, want 2", n)
	}

	portBefore := srv.Port()
	srv.Restart(t)
	if srv.Port() != portBefore {
		t.Fatalf("port changed across Restart: %d -> %d", portBefore, srv.Port())
	}
	if got := srv.Do(t, "PING"); got != "PONG" {
		t.Fatalf("PING after restart = %#v", got)
	}
	// Without AOF the data is gone.
	if n, _ := redis.Int64(srv.Do(t, "EXISTS", "l"), nil); n != 0 {
		t.Fatalf("key survived restart without AOF")
	}

	srv.Do(t, "SET", "k", "v")
	srv.FlushAll(t)
	if n, _ := redis.Int64(srv.Do(t, "DBSIZE"), nil); n != 0 {
		t.Fatalf("DBSIZE after FLUSHALL = %d", n)
	}

	srv.Stop()
	if srv.Running() {
		t.Fatal("Running() after Stop")
	}
	if c, err := net.Dial("tcp", srv.Addr()); err == nil {
		c.Close()
		t.Fatal("server still accepts connections after Stop")
	}
	srv.Stop() // idempotent

	log, err := os.ReadFile(srv.LogPath())
	if err != nil || !strings.Contains(string(log), "Ready to accept connections") {
		t.Fatalf("log %s: err=%v, content:\n%s", srv.LogPath(), err, log)
	}
}

func TestAOFSurvivesRestart(t *testing.T) {
	srv := redistest.Start(t, redistest.WithAOF(), redistest.WithArgs("--appendfsync", "always"))
	srv.Do(t, "RPUSH", "q", "1", "2", "3")
	srv.Restart(t)
	if n, _ := redis.Int64(srv.Do(t, "LLEN", "q"), nil); n != 3 {
		t.Fatalf("LLEN after AOF restart = %d, want 3", n)
	}
	srv.Stop()
	srv.Restart(t) // restart from stopped works too
	if n, _ := redis.Int64(srv.Do(t, "LLEN", "q"), nil); n != 3 {
		t.Fatalf("LLEN after stop+restart = %d, want 3", n)
	}
}

func TestParallelServers(t *testing.T) {
	for i := range 4 {
		t.Run(string(rune('a'+i)), func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t)
			srv.Do(t, "SET", "name", t.Name())
			if got, _ := redis.String(srv.Do(t, "GET", "name"), nil); got != t.Name() {
				t.Fatalf("GET = %q", got)
			}
		})
	}
}

func TestNewClose(t *testing.T) {
	srv, err := redistest.New()
	if err != nil {
		t.Fatal(err)
	}
	dir := srv.Dir()
	if got := srv.Do(t, "PING"); got != "PONG" {
		t.Fatalf("PING = %#v", got)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("dir %s not removed: %v", dir, err)
	}
}

func TestMissingBinary(t *testing.T) {
	t.Setenv(redistest.EnvServer, "/nonexistent/redis-server")
	if _, err := redistest.New(); err == nil {
		t.Fatal("New with a bad binary succeeded")
	}
}

func TestMissingBinarySkips(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(redistest.EnvServer, "")
	t.Setenv(redistest.EnvRequire, "")
	t.Setenv("CI", "")
	var skipped bool
	t.Run("start", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		redistest.Start(t)
		t.Error("Start returned without redis-server on PATH")
	})
	if !skipped {
		t.Fatal("Start did not skip without redis-server")
	}
}
