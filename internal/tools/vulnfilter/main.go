// Command vulnfilter reads `govulncheck -format json` on stdin and prints
// one line per vulnerability that the code reaches (symbol level). It
// exits 1 when one of them is in a module, which a `go get` of the fixed
// version cures; vulnerabilities in the standard library are printed as
// warnings only, because the Go toolchain is the machine's (see
// docs/reliability.md, "Security").
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
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
	fail := false
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
		kind := "error  "
		if t.Module == "stdlib" {
			kind = "warning"
		} else {
			fail = true
		}
		seen[key] = fmt.Sprintf("%s %s in %s@%s (%s.%s), fixed in %s", kind, f.OSV, t.Module, t.Version, t.Package, t.Function, f.FixedVersion)
	}
	lines := make([]string, 0, len(seen))
	for _, l := range seen {
		lines = append(lines, l)
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(out, "govulncheck:", l)
	}
	switch {
	case fail:
		fmt.Fprintln(out, "govulncheck: vulnerable modules are called: upgrade them (go get MODULE@FIXED)")
		return 1, nil
	case len(lines) > 0:
		fmt.Fprintln(out, "govulncheck: only the Go toolchain is affected: a newer Go fixes it (GOTOOLCHAIN)")
	default:
		fmt.Fprintln(out, "govulncheck: no called vulnerabilities")
	}
	return 0, nil
}
