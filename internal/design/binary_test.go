package design

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// unusedInRelease are modules the release binary must not link: they come
// with a dependency's optional features celeriac never uses, and a
// worker's idle RSS is mostly its binary's pages.
var unusedInRelease = []string{
	"github.com/ugorji/go/codec", // gin's MessagePack binding (6 MB); left out by -tags nomsgpack
}

// TestReleaseBinaryLinks checks that `make build` builds with the
// release flags and that, with them, the binary does not link
// unusedInRelease.
func TestReleaseBinaryLinks(t *testing.T) {
	root := moduleRoot(t)
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^BUILD_FLAGS := (.*)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("Makefile: no BUILD_FLAGS line")
	}
	tags := regexp.MustCompile(`-tags (\S+)`).FindSubmatch(m[1])
	if tags == nil || !strings.Contains(string(tags[1]), "nomsgpack") {
		t.Fatalf("Makefile BUILD_FLAGS = %s: want -tags nomsgpack", m[1])
	}
	if testing.Short() {
		return
	}
	cmd := exec.Command("go", "list", "-deps", "-tags", string(tags[1]), "./cmd/celeriac")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, bad := range unusedInRelease {
			if pkg == bad || strings.HasPrefix(pkg, bad+"/") {
				t.Errorf("the release binary links %s", pkg)
			}
		}
	}
}
