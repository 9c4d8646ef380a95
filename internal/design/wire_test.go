package design

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// wireDoc is the repository's wire reference, relative to the module root.
const wireDoc = "docs/wire.md"

// forbidden are how comments used to cite a wire specification that is
// not in the repository: by section number or by file name. Built at run
// time so that this file does not match them.
var forbidden = []string{"spec " + "\u00a7", "celery-wire" + "-spec"}

// wireCitation matches a Go comment's reference to a section of the wire
// reference; group 1 is the anchor.
var wireCitation = regexp.MustCompile(`docs/wire\.md#([A-Za-z0-9_-]+)`)

// docLink matches a Markdown link to a section of the wire reference from
// another page of docs/ (group 1) or from the page itself (group 2).
var docLink = regexp.MustCompile(`\]\((?:\./)?wire\.md#([A-Za-z0-9_-]+)\)|\]\(#([A-Za-z0-9_-]+)\)`)

// goFiles calls fn with the module-relative path and text of every Go
// file of the module, tests included (nested modules, testdata and hidden
// directories excluded).
func goFiles(t *testing.T, root string, fn func(rel, text string)) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path == root {
				return nil
			}
			if strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		fn(filepath.ToSlash(rel), string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNoSpecCitations fails when a Go file cites the wire specification by
// section number: that document is not in the repository. Cite a section
// of docs/wire.md (docs/wire.md#<anchor>) or the upstream Celery/kombu
// source instead.
func TestNoSpecCitations(t *testing.T) {
	goFiles(t, moduleRoot(t), func(rel, text string) {
		for i, line := range strings.Split(text, "\n") {
			for _, f := range forbidden {
				if !strings.Contains(line, f) {
					continue
				}
				t.Errorf("%s:%d cites a specification outside the repository; cite docs/wire.md#<anchor> or upstream source: %s",
					rel, i+1, strings.TrimSpace(line))
			}
		}
	})
}

// TestWireAnchors fails when a Go file or a page of docs/ links to a
// section of docs/wire.md that does not exist.
func TestWireAnchors(t *testing.T) {
	root := moduleRoot(t)
	anchors := markdownAnchors(t, filepath.Join(root, wireDoc))
	cited := 0
	goFiles(t, root, func(rel, text string) {
		for i, line := range strings.Split(text, "\n") {
			for _, m := range wireCitation.FindAllStringSubmatch(line, -1) {
				cited++
				if !anchors[m[1]] {
					t.Errorf("%s:%d cites %s#%s, which has no such section", rel, i+1, wireDoc, m[1])
				}
			}
		}
	})
	if cited == 0 {
		t.Errorf("no Go file cites %s#<anchor>: is the pattern %s stale?", wireDoc, wireCitation)
	}
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, filepath.Join(root, "README.md"))
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, page)
		rel = filepath.ToSlash(rel)
		for i, line := range strings.Split(string(b), "\n") {
			for _, m := range docLink.FindAllStringSubmatch(line, -1) {
				anchor := m[1]
				if m[2] != "" {
					if rel != wireDoc {
						continue // a link within another page
					}
					anchor = m[2]
				}
				if !anchors[anchor] {
					t.Errorf("%s:%d links to %s#%s, which has no such section", rel, i+1, wireDoc, anchor)
				}
			}
		}
	}
}

// markdownAnchors returns the anchors GitHub gives the headings of the
// Markdown file at path: lower case, punctuation dropped, spaces turned to
// hyphens, and "-1", "-2", ... appended to repeats.
func markdownAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	anchors := map[string]bool{}
	seen := map[string]int{}
	fence := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			fence = !fence
			continue
		}
		if fence || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimLeft(line, "#")
		if text == line || !strings.HasPrefix(text, " ") {
			continue
		}
		slug := githubSlug(text)
		if n := seen[slug]; n > 0 {
			anchors[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return anchors
}

// githubSlug turns a heading's text into its GitHub anchor.
func githubSlug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestGithubSlug(t *testing.T) {
	for in, want := range map[string]string{
		" Key names":                     "key-names",
		" `celeriac serve` (= `run`)":    "celeriac-serve--run",
		" 1. Worker drain throughput":    "1-worker-drain-throughput",
		" Where Celery differs":          "where-celery-differs",
		" Catch-up: when beat was down":  "catch-up-when-beat-was-down",
		" unacked_index and the sweep's": "unacked_index-and-the-sweeps",
	} {
		if got := githubSlug(in); got != want {
			t.Errorf("githubSlug(%q) = %q, want %q", in, got, want)
		}
	}
}
