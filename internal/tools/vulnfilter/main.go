// Command vulnfilter reads `govulncheck -format json` on stdin and prints
// one line per vulnerability that the code reaches (symbol level), and
// exits 1 when there is any: in a module, a `go get` of the fixed version
// cures it; in the standard library, a newer toolchain line in go.mod (see
// docs/reliability.md, "Dependencies").
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type finding struct {
	OSV          string `json:"osv"`
	FixedVersion string `json:"fixed_version"`
	Trace        []struct {
		Module   string `json:"module"`
		Version  string `json:"version"`
		Package  string `json:"package"`
		Function string `json:"function"`
	} `json:"trace"`
}

func main() {
	code, err := run(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulnfilter:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func run(in io.Reader, out io.Writer) (int, error) {
	dec := json.NewDecoder(in)
	seen := map[string]string{} // osv+module -> line
	for {
		var msg struct {
			Finding *finding `json:"finding"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return 0, err
		}
		f := msg.Finding
		if f == nil || len(f.Trace) == 0 || f.Trace[0].Function == "" {
			continue // imported or required, but not called
		}
		t := f.Trace[0]
		key := f.OSV + " " + t.Module
		if _, ok := seen[key]; ok {
			continue
		}
		fix := "go get " + t.Module + "@" + f.FixedVersion
		if t.Module == "stdlib" {
			fix = "go.mod: toolchain go" + strings.TrimPrefix(f.FixedVersion, "v")
		}
		seen[key] = fmt.Sprintf("%s in %s@%s (%s.%s), fixed by %s", f.OSV, t.Module, t.Version, t.Package, t.Function, fix)
	}
	lines := make([]string, 0, len(seen))
	for _, l := range seen {
		lines = append(lines, l)
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(out, "govulncheck:", l)
	}
	if len(lines) > 0 {
		fmt.Fprintln(out, "govulncheck: vulnerable code is called: upgrade as each line says")
		return 1, nil
	}
	fmt.Fprintln(out, "govulncheck: no called vulnerabilities")
	return 0, nil
}
