package design

import (
	"go/build"
	"path/filepath"
	"strings"
	"testing"
)

const modulePath = "github.com/celeriac/celeriac"

// libraryPackages are the packages users of celeriac import as a library;
// none of them may link the embedded broker's miniredis, which only
// `celeriac serve` (cmd/celeriac through internal/embedded) and tests use.
var libraryPackages = []string{"celery", "celery/control", "celery/events", "worker", "worker/builtin", "beat", "api"}

// TestLibraryDoesNotLinkMiniredis follows the non-test imports of each
// library package through the module and fails when one of them reaches
// miniredis (go list -deps, without running the go command).
func TestLibraryDoesNotLinkMiniredis(t *testing.T) {
	root := moduleRoot(t)
	imports := map[string][]string{} // module-relative dir → its non-test imports
	load := func(rel string) []string {
		if imps, ok := imports[rel]; ok {
			return imps
		}
		pkg, err := build.Default.ImportDir(filepath.Join(root, filepath.FromSlash(rel)), 0)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		imports[rel] = pkg.Imports
		return pkg.Imports
	}
	for _, lib := range libraryPackages {
		// Breadth-first from lib; via records how each package was reached.
		via := map[string]string{lib: ""}
		queue := []string{lib}
		for len(queue) > 0 {
			rel := queue[0]
			queue = queue[1:]
			for _, imp := range load(rel) {
				if strings.HasPrefix(imp, "github.com/alicebob/miniredis") {
					chain := imp
					for p := rel; p != ""; p = via[p] {
						chain = p + " → " + chain
					}
					t.Errorf("library package %s links miniredis: %s", lib, chain)
					continue
				}
				dep, ok := strings.CutPrefix(imp, modulePath+"/")
				if !ok {
					continue
				}
				if _, seen := via[dep]; !seen {
					via[dep] = rel
					queue = append(queue, dep)
				}
			}
		}
	}
}
