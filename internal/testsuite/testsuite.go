// Package testsuite decides what happens to a test suite that needs tools from outside Go
// (a browser, Node, PostgreSQL) when they are missing: on a developer's machine it is
// skipped, loudly; in CI it fails, since a skip there would hide that it never ran. Import
// it from _test files only.
package testsuite

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
)

// SkipReportEnv names the file where tests append one line per suite they skip. go test
// shows nothing of a passing package without -v, skips included, so make test hands the
// tests this file and prints it after the run.
const SkipReportEnv = "HOOKRELAY_TEST_SKIP_REPORT"

// Suite is a part of the tests that needs tools from outside Go.
type Suite struct {
	Name string
	// Missing says what is missing and how to get it; "" when nothing is.
	Missing func() string
}

// CIMode reports whether the tests run in CI (CI=true or CI=1), where a suite that cannot
// run fails instead of skipping.
func CIMode(getenv func(string) string) bool {
	switch strings.ToLower(strings.TrimSpace(getenv("CI"))) {
	case "true", "1":
		return true
	}
	return false
}

// Require lets t go on only when s can run. Otherwise it skips t on a developer's machine,
// and fails it in CI. It reports whether t may go on.
func Require(t testing.TB, s Suite, ci bool) bool {
	t.Helper()
	m := s.Missing()
	switch {
	case m == "":
		return true
	case ci:
		t.Fatalf("%s cannot run (CI is set, so this is a failure, not a skip): %s", s.Name, m)
	default:
		t.Skipf("%s", SkipLine(s.Name, m))
	}
	return false
}

// SkipLine is the line that announces a skipped suite.
func SkipLine(name, missing string) string {
	return fmt.Sprintf("SKIP %s: %s", name, missing)
}

// ReportSkips writes one line for each of suites that will be skipped. In CI none is.
func ReportSkips(w io.Writer, suites []Suite, ci bool) {
	if ci {
		return
	}
	for _, s := range suites {
		if m := s.Missing(); m != "" {
			fmt.Fprintln(w, SkipLine(s.Name, m))
		}
	}
}

// Announce writes lines (each ending in a newline) to stderr, seen with -v, and appends them
// to the file named by SkipReportEnv, which make test prints.
func Announce(getenv func(string) string, lines string) {
	if lines == "" {
		return
	}
	fmt.Fprint(os.Stderr, lines)
	path := getenv(SkipReportEnv)
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "write %s: %v\n", SkipReportEnv, err)
		return
	}
	defer f.Close()
	if _, err := f.WriteString(lines); err != nil {
		fmt.Fprintf(os.Stderr, "write %s: %v\n", SkipReportEnv, err)
	}
}
