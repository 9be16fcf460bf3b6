//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/internal/testsuite"
)

// unitFile is the systemd unit that docs/operating.md installs.
const unitFile = "../deploy/hookrelay.service"

func systemdMissing() string {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		return "systemd-analyze not found; install Debian's systemd package (apt-get install --no-install-recommends systemd), as .ci/run does"
	}
	return ""
}

// checkUnit runs systemd-analyze verify on unit, with ExecStart pointing at the hookrelay
// binary built for the tests (verify insists that the program exists), and returns what it
// said. verify exits 0 even when it ignores a line it cannot parse, so anything it prints is
// a problem.
func checkUnit(t *testing.T, unit string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hookrelay.service")
	unit = strings.ReplaceAll(unit, "ExecStart=/usr/local/bin/hookrelay ", "ExecStart="+binary+" ")
	require.NoError(t, os.WriteFile(path, []byte(unit), 0o644))
	out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
	if err != nil {
		return string(out) + err.Error()
	}
	return strings.TrimSpace(string(out))
}

func TestSystemdUnitVerifies(t *testing.T) {
	t.Parallel()
	testsuite.Require(t, systemdSuite, testsuite.CIMode(os.Getenv))
	b, err := os.ReadFile(unitFile)
	require.NoError(t, err)
	unit := string(b)
	require.Contains(t, unit, "ExecStart=/usr/local/bin/hookrelay serve")
	assert.Empty(t, checkUnit(t, unit), "systemd-analyze verify")

	// The check catches what a careless edit does: a misspelt key, a bad value.
	assert.Contains(t, checkUnit(t, strings.Replace(unit, "NoNewPrivileges=yes", "NoNewPrivilege=yes", 1)), "Unknown key")
	assert.Contains(t, checkUnit(t, strings.Replace(unit, "ProtectSystem=strict", "ProtectSystem=strickt", 1)), "protect system value")

	// The hardening the guide promises, as systemd scores it: exposure from 0 (the most
	// confined) to 10, 2 and under being what systemd calls OK. --threshold counts tenths.
	path := filepath.Join(t.TempDir(), "hookrelay.service")
	require.NoError(t, os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/hookrelay", binary)), 0o644))
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", "--threshold=20", path).CombinedOutput()
	assert.NoError(t, err, "exposure above 2.0:\n%s", out)
	assert.Contains(t, string(out), "OK")
	for _, want := range []string{"User=hookrelay", "ProtectSystem=strict", "StateDirectory=hookrelay", "NoNewPrivileges=yes",
		"HOOKRELAY_INGEST_TOKEN_FILE=", "HOOKRELAY_ADMIN_TOKEN_FILE=", "HOOKRELAY_ENCRYPTION_KEY_FILE="} {
		assert.Contains(t, unit, want)
	}
}
