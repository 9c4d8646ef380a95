// Package redistest runs throw-away redis-server processes for tests.
//
// Every server is a real redis-server (7.x) listening on a free loopback
// port (127.0.0.1), with persistence switched off (--save "",
// --appendonly no unless WithAOF is given), protected mode off, and its
// working directory and log file in a temporary directory.
//
// Typical use in a test:
//
//	srv := redistest.Start(t)
//	url := srv.URL(0) // "redis://127.0.0.1:PORT/0"
//	...
//	if n := srv.Do(t, "LLEN", "celery"); n != int64(0) { ... }
//
// Start registers a t.Cleanup that stops the server (SIGTERM, then SIGKILL
// if it does not exit in time) and, when the test failed, logs the tail of
// the redis log. Restart stops the server and starts it again on the same
// port and directory, which together with WithAOF is what Redis-restart
// tests need.
//
// For TLS, NewCA makes a test CA with server and client certificates, and
// WithTLS(ca, clientAuth) adds a TLS port (Server.TLSPort) that uses them.
//
// For a server shared by a whole package, use New and Close from TestMain:
//
//	func TestMain(m *testing.M) {
//		srv, err := redistest.New()
//		if err != nil { ... }
//		code := m.Run()
//		srv.Close()
//		os.Exit(code)
//	}
//
// The binary is taken from $CELERIAC_REDIS_SERVER, or else looked up as
// "redis-server" on $PATH. When it cannot be found, Start skips the test,
// unless CELERIAC_REQUIRE_REDIS=1 or CI=true, in which case it fails it;
// New returns an error wrapping ErrNoRedisServer.
//
// The package keeps no global mutable state; a Server is safe for
// concurrent use, but the methods that take a testing.TB must be called
// from the test's goroutine because they may call tb.Fatal.
package redistest
