package design

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
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
	root := moduleRoot(t)
	fset := token.NewFileSet()
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
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		if redisSpeakers[filepath.ToSlash(rel)] {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == redigo {
				file, _ := filepath.Rel(root, path)
				t.Errorf("%s imports %s: reach Redis through celery.Transport / celery.ResultBackend (or the small interfaces beside them)", filepath.ToSlash(file), redigo)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
