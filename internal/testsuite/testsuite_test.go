package testsuite

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordingTB records what Require asks of a test instead of ending it.
type recordingTB struct {
	testing.TB
	skipped, failed string
}

func (r *recordingTB) Helper()                        {}
func (r *recordingTB) Skipf(format string, a ...any)  { r.skipped = fmt.Sprintf(format, a...) }
func (r *recordingTB) Fatalf(format string, a ...any) { r.failed = fmt.Sprintf(format, a...) }

func TestSuitesSkipLoudlyOnADevelopersMachineAndFailInCI(t *testing.T) {
	t.Parallel()
	ready := Suite{"ready suite", func() string { return "" }}
	lacking := Suite{"browser tests", func() string { return "not found: Chromium; run `make browser-deps`" }}

	var r recordingTB
	assert.True(t, Require(&r, ready, true))
	assert.Empty(t, r.skipped+r.failed)

	r = recordingTB{}
	assert.False(t, Require(&r, lacking, false))
	assert.Equal(t, "SKIP browser tests: not found: Chromium; run `make browser-deps`", r.skipped)
	assert.Empty(t, r.failed)

	r = recordingTB{}
	assert.False(t, Require(&r, lacking, true))
	assert.Empty(t, r.skipped, "CI never skips")
	assert.Contains(t, r.failed, "browser tests cannot run")
	assert.Contains(t, r.failed, "run `make browser-deps`")

	var report strings.Builder
	ReportSkips(&report, []Suite{ready, lacking}, false)
	assert.Equal(t, "SKIP browser tests: not found: Chromium; run `make browser-deps`\n", report.String())
	report.Reset()
	ReportSkips(&report, []Suite{ready, lacking}, true)
	assert.Empty(t, report.String(), "in CI the tests fail instead")
}

func TestCIModeIsTrueOrOne(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{"": false, "false": false, "0": false, "true": true, "TRUE": true, "1": true, " true ": true} {
		assert.Equal(t, want, CIMode(func(string) string { return v }), "CI=%q", v)
	}
}

func TestAnnounceAppendsToTheReportFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "skips")
	getenv := func(k string) string {
		if k == SkipReportEnv {
			return path
		}
		return ""
	}
	Announce(getenv, "SKIP a: x\n")
	Announce(getenv, "SKIP b: y\n")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "SKIP a: x\nSKIP b: y\n", string(b))
}
