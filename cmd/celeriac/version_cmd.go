package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// cmdVersion is `celeriac version` (also `celeriac --version`).
func cmdVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	fmt.Fprintln(stdout, versionLine())
	return nil
}

// versionLine is "celeriac <module version> (commit <rev>[, modified],
// <commit time>) <go version> <os>/<arch>", from the build information
// the go command embeds (the VCS stamp is there when the binary was built
// from a git checkout).
func versionLine() string {
	version, commit, when, modified := "(unknown)", "unknown", "", ""
	goVersion := runtime.Version()
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		goVersion = info.GoVersion
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				when = ", " + s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = ", modified"
				}
			}
		}
	}
	return fmt.Sprintf("celeriac %s (commit %s%s%s) %s %s/%s", version, commit, modified, when, goVersion, runtime.GOOS, runtime.GOARCH)
}
