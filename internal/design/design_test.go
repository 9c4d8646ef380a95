package design

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// allowed maps "path/from/module/root.go:Func:time.Call" to why that call
// is not polling. Func is the enclosing function (Type.Method for methods,
// "-" at file level). Keep each justification to one line.
var allowed = map[string]string{
	"worker/heartbeat.go:heartbeater.loop:time.NewTicker":          "worker-heartbeat is a periodic send (Celery's event heartbeat), not a wait for work",
	"api/sse.go:handlers.taskEvents:time.NewTicker":                "SSE keep-alive comments are periodic writes to the client, not a poll",
	"worker/subscribe.go:keepSubscribed:time.NewTimer":             "reconnect back-off after a lost pidbox or broadcast-queue subscription (error path only)",
	"worker/pidbox.go:pidboxNode.refreshBinding:time.NewTicker":    "kombu's binding deadline is kept ahead by a periodic write (every 20 min), not a wait for work",
	"celery/redis/backend.go:subscriber.run:time.NewTimer":         "reconnect back-off after a lost result subscription (error path only)",
	"celery/events/receiver.go:Receiver.Run:time.NewTimer":         "reconnect back-off after a lost event subscription (error path only)",
	"internal/redistest/server.go:Server.waitReady:time.NewTicker": "test harness: a child redis-server offers no readiness event to block on; only tests use it",
	"internal/rabbittest/server.go:Node.boot:time.After":           "test harness: a booting rabbitmq-server offers no readiness event to block on; only tests use it",
	"internal/rabbittest/server.go:waitPort:time.Sleep":            "test harness: waits for a child epmd to listen; only tests use it",
	"internal/proctest/proctest.go:Proc.WaitLog:time.After":        "test harness: a child process's output offers no event for a line; only tests use it",
	"beat/beat.go:Beat.Run:time.NewTimer":                          "beat waits for a computed instant (next due time, lease renewal or expiry); nothing is checked until then",
	"celery/redis/unavailable.go:withRetry:time.NewTimer":          "retry back-off after a connection error (error path only)",
	"worker/result.go:Worker.store:time.NewTimer":                  "retry back-off after Redis refused a final result (error path only)",
	"cmd/celeriac/worker_cmd.go:checkAuth:time.Sleep":              "start-up check retries a transient, non-dial error at most 5 times (error path only)",
	"cmd/celeriac/connect.go:waitForBroker:time.NewTimer":          "start-up back-off between connection attempts to a broker that does not answer (Celery's retry schedule; error path only)",
	"bench/latencybench/main.go:run:time.NewTicker":                "the benchmark's open-loop pacer sends at a fixed rate; it does not wait for state",
	"bench/latencybench/main.go:printJitter:time.Sleep":            "measures how late the machine wakes a sleeper; it waits for no state",
}

// banned are called out wherever they appear; inLoop only inside a for or
// range statement (a timer re-armed to look again is a poll).
var (
	banned = map[string]bool{"Sleep": true, "Tick": true, "NewTicker": true}
	inLoop = map[string]bool{"After": true, "NewTimer": true, "AfterFunc": true}
)

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

type finding struct {
	key string // allowlist key
	pos string // file:line
}

// scan returns every time.Sleep/Tick/NewTicker call and every
// time.After/NewTimer/AfterFunc call inside a loop in the module's non-test
// Go files (nested modules, testdata and hidden directories excluded).
func scan(t *testing.T) []finding {
	t.Helper()
	var out []finding
	fset := token.NewFileSet()
	walkGo(t, fset, func(file, _ string, test bool, f *ast.File) {
		if !test {
			out = append(out, scanFile(fset, file, f)...)
		}
	})
	return out
}

func scanFile(fset *token.FileSet, rel string, f *ast.File) []finding {
	timeName := ""
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == "time" {
			timeName = "time"
			if imp.Name != nil {
				timeName = imp.Name.Name
			}
		}
	}
	if timeName == "" || timeName == "_" {
		return nil
	}
	var out []finding
	for _, decl := range f.Decls {
		fn := "-"
		if fd, ok := decl.(*ast.FuncDecl); ok {
			fn = funcName(fd)
		}
		var walk func(n ast.Node, loops int)
		walk = func(n ast.Node, loops int) {
			ast.Inspect(n, func(c ast.Node) bool {
				switch x := c.(type) {
				case *ast.ForStmt:
					if x != n {
						walk(x.Body, loops+1)
						return false
					}
				case *ast.RangeStmt:
					if x != n {
						walk(x.Body, loops+1)
						return false
					}
				case *ast.FuncLit:
					// A closure body runs when called, not per iteration of
					// the loop around its definition.
					if x != n {
						walk(x.Body, 0)
						return false
					}
				case *ast.SelectorExpr:
					id, ok := x.X.(*ast.Ident)
					if !ok || id.Name != timeName {
						return true
					}
					if banned[x.Sel.Name] || (loops > 0 && inLoop[x.Sel.Name]) {
						out = append(out, finding{
							key: rel + ":" + fn + ":time." + x.Sel.Name,
							pos: fset.Position(x.Pos()).String(),
						})
					}
				}
				return true
			})
		}
		walk(decl, 0)
	}
	return out
}

func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	typ := fd.Recv.List[0].Type
	if s, ok := typ.(*ast.StarExpr); ok {
		typ = s.X
	}
	if ix, ok := typ.(*ast.IndexExpr); ok { // generic receiver
		typ = ix.X
	}
	if id, ok := typ.(*ast.Ident); ok {
		return id.Name + "." + fd.Name.Name
	}
	return fd.Name.Name
}

// TestNoPolling fails on any sleep, ticker or looped timer that is not on
// the allowlist: waiting must be BRPOP, pub/sub or a one-shot timer.
func TestNoPolling(t *testing.T) {
	found := scan(t)
	used := map[string]bool{}
	for _, f := range found {
		if _, ok := allowed[f.key]; ok {
			used[f.key] = true
			continue
		}
		t.Errorf("%s: %s looks like polling; block on BRPOP, pub/sub or a one-shot timer instead, or add %q to the allowlist with a one-line justification", f.pos, f.key[strings.LastIndex(f.key, ":")+1:], f.key)
	}
	var stale []string
	for k := range allowed {
		if !used[k] {
			stale = append(stale, k)
		}
	}
	sort.Strings(stale)
	for _, k := range stale {
		t.Errorf("allowlist entry %q matches no call any more: remove it", k)
	}
}

// TestScanner checks the detector on known snippets.
func TestScanner(t *testing.T) {
	src := `package p
import tm "time"
func a() { tm.Sleep(1) }
func b() { for { <-tm.After(1) } }
func c() { <-tm.After(1) }
func d() { for range 3 { go func() { <-tm.After(1) }() } }
type T struct{}
func (*T) e() { t := tm.NewTicker(1); _ = t }
func f() { for { t := tm.NewTimer(1); <-t.C } }
`
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range scanFile(fset, "p.go", file) {
		got = append(got, f.key)
	}
	want := []string{"p.go:a:time.Sleep", "p.go:b:time.After", "p.go:T.e:time.NewTicker", "p.go:f:time.NewTimer"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("found %v, want %v", got, want)
	}
}
