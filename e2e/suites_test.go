//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// skipReportEnv names the file where TestMain appends one line per suite it skips. go test
// shows nothing of a passing package without -v, skips included, so make test hands the
// tests this file and prints it after the run.
const skipReportEnv = "HOOKRELAY_TEST_SKIP_REPORT"

// suite is a part of the e2e tests that needs tools from outside Go.
type suite struct {
	name    string
	missing func() string // what is missing and how to get it; "" when nothing is
}

var (
	browserSuite    = suite{"browser tests", browserMissing}
	interopSuite    = suite{"Node interop check", interopMissing}
	prometheusSuite = suite{"Prometheus rules and scrape tests", prometheusMissing}
	systemdSuite    = suite{"systemd unit check", systemdMissing}
)

// ciMode reports whether the tests run in CI (CI=true or CI=1), where a suite that cannot
// run fails instead of skipping: a skip there would hide that it never ran.
func ciMode(getenv func(string) string) bool {
	switch strings.ToLower(strings.TrimSpace(getenv("CI"))) {
	case "true", "1":
		return true
	}
	return false
}

// requireSuite lets t go on only when s can run. Otherwise it skips t on a developer's
// machine, and fails it in CI. It reports whether t may go on.
func requireSuite(t testing.TB, s suite, ci bool) bool {
	t.Helper()
	m := s.missing()
	switch {
	case m == "":
		return true
	case ci:
		t.Fatalf("%s cannot run (CI is set, so this is a failure, not a skip): %s", s.name, m)
	default:
		t.Skipf("SKIP %s: %s", s.name, m)
	}
	return false
}

// reportSkips writes one line for each of suites that will be skipped. In CI none is.
func reportSkips(w io.Writer, suites []suite, ci bool) {
	if ci {
		return
	}
	for _, s := range suites {
		if m := s.missing(); m != "" {
			fmt.Fprintf(w, "SKIP %s: %s\n", s.name, m)
		}
	}
}

// announceSkips is TestMain's part: the lines go to stderr (seen with -v) and to the file
// that make test prints.
func announceSkips() {
	var lines strings.Builder
	reportSkips(&lines, []suite{browserSuite, interopSuite, prometheusSuite, systemdSuite}, ciMode(os.Getenv))
	if lines.Len() == 0 {
		return
	}
	fmt.Fprint(os.Stderr, lines.String())
	if path := os.Getenv(skipReportEnv); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintf(os.Stderr, "write %s: %v\n", skipReportEnv, err)
			return
		}
		defer f.Close()
		f.WriteString(lines.String())
	}
}

// recordingTB records what requireSuite asks of a test instead of ending it.
type recordingTB struct {
	testing.TB
	skipped, failed string
}

func (r *recordingTB) Helper()                        {}
func (r *recordingTB) Skipf(format string, a ...any)  { r.skipped = fmt.Sprintf(format, a...) }
func (r *recordingTB) Fatalf(format string, a ...any) { r.failed = fmt.Sprintf(format, a...) }

func TestSuitesSkipLoudlyOnADevelopersMachineAndFailInCI(t *testing.T) {
	t.Parallel()
	ready := suite{"ready suite", func() string { return "" }}
	lacking := suite{"browser tests", func() string { return "not found: Chromium; run `make browser-deps`" }}

	var r recordingTB
	assert.True(t, requireSuite(&r, ready, true))
	assert.Empty(t, r.skipped+r.failed)

	r = recordingTB{}
	assert.False(t, requireSuite(&r, lacking, false))
	assert.Equal(t, "SKIP browser tests: not found: Chromium; run `make browser-deps`", r.skipped)
	assert.Empty(t, r.failed)

	r = recordingTB{}
	assert.False(t, requireSuite(&r, lacking, true))
	assert.Empty(t, r.skipped, "CI never skips")
	assert.Contains(t, r.failed, "browser tests cannot run")
	assert.Contains(t, r.failed, "run `make browser-deps`")

	var report strings.Builder
	reportSkips(&report, []suite{ready, lacking}, false)
	assert.Equal(t, "SKIP browser tests: not found: Chromium; run `make browser-deps`\n", report.String())
	report.Reset()
	reportSkips(&report, []suite{ready, lacking}, true)
	assert.Empty(t, report.String(), "in CI the tests fail instead")
}

func TestCIModeIsTrueOrOne(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{"": false, "false": false, "0": false, "true": true, "TRUE": true, "1": true, " true ": true} {
		assert.Equal(t, want, ciMode(func(string) string { return v }), "CI=%q", v)
	}
}
