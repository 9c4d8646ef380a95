package design

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// redisSpeakers are the directories whose non-test code may import the
// Redis client: the Redis transport and result backend (celery/redis,
// behind the Transport and ResultBackend interfaces), the connection
// helpers, the test server, and the benchmark tools that read Redis
// directly. Everything else reaches Redis through those interfaces.
var redisSpeakers = map[string]bool{
	"celery/redis":       true,
	"internal/rconn":     true,
	"internal/redistest": true,
	"bench/drainbench":   true,
	"bench/latencybench": true,
}

const redigo = "github.com/gomodule/redigo/redis"

// TestRedisSpokenInOnePlace fails when a package outside redisSpeakers
// imports redigo in non-test code.
func TestRedisSpokenInOnePlace(t *testing.T) {
	walkGo(t, token.NewFileSet(), func(file, dir string, test bool, f *ast.File) {
		if test || redisSpeakers[dir] {
			return
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == redigo {
				t.Errorf("%s imports %s: reach Redis through celery.Transport / celery.ResultBackend (or the small interfaces beside them)", file, redigo)
			}
		}
	})
}

// module is the module path; import arrows are checked between its
// packages, named by their directory below the module root.
const module = "github.com/celeriac/celeriac"

// transports are the packages implementing celery.Transport and
// celery.ResultBackend. Only the binary (cmd), benchmarks and tests
// choose one; everything else takes the interfaces.
var transports = []string{"celery/redis", "celery/amqp"}

// importRule is one forbidden arrow: non-test code in a directory that
// from matches must not import a package that to matches. A pattern
// "x/..." matches x and everything below it.
type importRule struct {
	from, to, why string
	except        []string // from-directories the rule leaves out
}

var importRules = []importRule{
	{from: "...", to: "cmd/...", why: "nothing imports the binary"},
	{from: "celery/...", to: "worker/...", why: "celery (the wire and the interfaces) never imports the worker"},
	{from: "celery/...", to: "api/...", why: "celery never imports the HTTP API"},
	{from: "celery/...", to: "beat/...", why: "celery never imports beat"},
	{from: "api/...", to: "worker/...", why: "the API reaches workers through remote control, not the worker package"},
	{from: "...", to: "internal/rconn/...", why: "Redis connection helpers belong to the Redis transport (backoff and lost/restored logging: internal/reconnect; URL redaction: internal/redact)",
		except: []string{"celery/redis/...", "internal/rconn/...", "internal/redistest/...", "bench/...", "integration/..."}},
}

func init() {
	for _, tr := range transports {
		importRules = append(importRules, importRule{
			from: "...", to: tr + "/...", why: "a transport is chosen by cmd (and tests, benchmarks); the rest takes celery.Transport / celery.ResultBackend",
			except: []string{"cmd/...", "bench/...", "integration/...", tr + "/..."},
		})
	}
}

// matchDir reports whether dir matches pattern ("..." alone matches all).
func matchDir(pattern, dir string) bool {
	if pattern == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return dir == base || strings.HasPrefix(dir, base+"/")
	}
	return dir == pattern
}

// violation returns the rule that forbids dir importing imp, or nil.
func violation(dir, imp string) *importRule {
	rel, ok := strings.CutPrefix(imp, module+"/")
	if !ok {
		return nil
	}
	for i, r := range importRules {
		if !matchDir(r.from, dir) || !matchDir(r.to, rel) || slices.ContainsFunc(r.except, func(e string) bool { return matchDir(e, dir) }) {
			continue
		}
		return &importRules[i]
	}
	return nil
}

// TestImportArrows fails when non-test code imports across the allowed
// arrows (importRules): transports only from cmd, benchmarks and tests;
// celery never imports worker, api or beat; api never imports worker;
// nothing imports cmd.
func TestImportArrows(t *testing.T) {
	walkGo(t, token.NewFileSet(), func(file, dir string, test bool, f *ast.File) {
		if test {
			return
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if r := violation(dir, p); r != nil {
				t.Errorf("%s imports %s: %s", file, p, r.why)
			}
		}
	})
}

// TestImportRules checks the rules themselves on known arrows.
func TestImportRules(t *testing.T) {
	for _, c := range []struct {
		dir, imp string
		bad      bool
	}{
		{"worker", module + "/celery/redis", true},
		{"api", module + "/worker", true},
		{"celery", module + "/worker", true},
		{"celery/control", module + "/api", true},
		{"celery/events", module + "/beat", true},
		{"worker", module + "/internal/rconn", true},
		{"celery/redis", module + "/internal/rconn", false},
		{"worker", module + "/cmd/celeriac", true},
		{"cmd/celeriac", module + "/celery/redis", false},
		{"bench/drainbench", module + "/celery/redis", false},
		{"celery/redis", module + "/celery", false},
		{"worker", module + "/celery", false},
		{"worker", "github.com/gomodule/redigo/redis", false}, // TestRedisSpokenInOnePlace's
	} {
		if got := violation(c.dir, c.imp) != nil; got != c.bad {
			t.Errorf("%s importing %s: forbidden = %v, want %v", c.dir, c.imp, got, c.bad)
		}
	}
}

// TestOptionNamesDistinct fails when two option constructors of a
// package differ only by an option type's name after With (WithLogger,
// WithBackendLogger, WithClientLogger): one concept, one name per
// package. A package with several option types shares one Option type
// instead, or moves a type to its own package.
func TestOptionNamesDistinct(t *testing.T) {
	// dir -> option types (function types named *Option) and With* funcs
	type fn struct{ name, file string }
	types := map[string][]string{}
	funcs := map[string][]fn{}
	walkGo(t, token.NewFileSet(), func(file, dir string, test bool, f *ast.File) {
		if test {
			return
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				for _, s := range d.Specs {
					if ts, ok := s.(*ast.TypeSpec); ok && ts.Name.IsExported() && strings.HasSuffix(ts.Name.Name, "Option") {
						types[dir] = append(types[dir], strings.TrimSuffix(ts.Name.Name, "Option"))
					}
				}
			case *ast.FuncDecl:
				if d.Recv == nil && d.Name.IsExported() && strings.HasPrefix(d.Name.Name, "With") {
					funcs[dir] = append(funcs[dir], fn{d.Name.Name, file})
				}
			}
		}
	})
	for dir, fs := range funcs {
		seen := map[string]string{}
		for _, f := range fs {
			key := normalOption(f.name, types[dir])
			if other, ok := seen[key]; ok {
				t.Errorf("%s: %s and %s name one option twice (%s): give the package one option type, or one name", dir, other, f.name, key)
				continue
			}
			seen[key] = f.name
		}
	}
}

// normalOption drops an option type's name after "With": WithBackendLogger
// with type BackendOption is WithLogger.
func normalOption(name string, typeBases []string) string {
	rest := strings.TrimPrefix(name, "With")
	for _, b := range typeBases {
		if b != "" && len(rest) > len(b) && strings.HasPrefix(rest, b) {
			return "With" + strings.TrimPrefix(rest, b)
		}
	}
	return name
}

func TestNormalOption(t *testing.T) {
	bases := []string{"Broker", "Backend", "Client", ""}
	for _, c := range [][2]string{
		{"WithBackendLogger", "WithLogger"}, {"WithClientLogger", "WithLogger"}, {"WithLogger", "WithLogger"},
		{"WithResultExpires", "WithResultExpires"}, {"WithBroker", "WithBroker"},
	} {
		if got := normalOption(c[0], bases); got != c[1] {
			t.Errorf("normalOption(%s) = %s, want %s", c[0], got, c[1])
		}
	}
}

// walkGo calls fn with every Go file of the module (its path and its
// directory relative to the module root, slash-separated; whether it is
// a test file; its imports and declarations), parsed into fset, skipping
// hidden directories, testdata and nested modules (e.g. bench/asynqbench).
func walkGo(t *testing.T, fset *token.FileSet, fn func(file, dir string, test bool, f *ast.File)) {
	t.Helper()
	root := moduleRoot(t)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			if path != root {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		file, _ := filepath.Rel(root, path)
		fn(filepath.ToSlash(file), filepath.ToSlash(rel), strings.HasSuffix(name, "_test.go"), f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
