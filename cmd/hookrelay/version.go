package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version and commit are stamped at build time: make build and make release pass
// -ldflags "-X main.version=… -X main.commit=…".
var (
	version = "dev"
	commit  = ""
)

// buildInfo is what `hookrelay version` reports.
type buildInfo struct {
	Version, Commit, GoVersion, Platform string
}

// readBuildInfo returns the stamped version and commit; where the build did not stamp them
// (go build or go install without make) it falls back to what the Go toolchain recorded:
// the module version of `go install …@v1.2.3` and the VCS revision of a build in a checkout.
func readBuildInfo(stampedVersion, stampedCommit string, bi *debug.BuildInfo) buildInfo {
	info := buildInfo{Version: stampedVersion, Commit: stampedCommit, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		if info.Commit == "" {
			info.Commit = "unknown"
		}
		return info
	}
	info.GoVersion = bi.GoVersion
	if info.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	if info.Commit == "" {
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if info.Commit != "" && modified {
			info.Commit += "-dirty"
		}
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	return info
}

// String is the one line `hookrelay version` prints.
func (b buildInfo) String() string {
	return fmt.Sprintf("hookrelay %s (commit %s, %s, %s)", b.Version, b.Commit, b.GoVersion, b.Platform)
}

// currentBuild is this binary's buildInfo.
func currentBuild() buildInfo {
	bi, _ := debug.ReadBuildInfo()
	return readBuildInfo(version, commit, bi)
}

// runVersion is `hookrelay version` (and `hookrelay --version`).
func runVersion(_ context.Context, args []string, p process) error {
	fs := flag.NewFlagSet("hookrelay version", flag.ContinueOnError)
	if err := parseFlags(fs, args, "Usage: hookrelay version\n\nPrints the version, the commit and the Go version hookrelay was built with.\n", p.stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (see 'hookrelay version --help')", fs.Arg(0))}
	}
	fmt.Fprintln(p.stdout, currentBuild())
	return nil
}
