//go:build e2e

package e2e

import (
	"os"
	"strings"

	"github.com/hookrelay/hookrelay/internal/testsuite"
)

// The parts of the e2e tests that need tools from outside Go. Without them they skip on a
// developer's machine and fail in CI (see internal/testsuite).
var (
	browserSuite    = testsuite.Suite{Name: "browser tests", Missing: browserMissing}
	interopSuite    = testsuite.Suite{Name: "Node interop check", Missing: interopMissing}
	prometheusSuite = testsuite.Suite{Name: "Prometheus rules and scrape tests", Missing: prometheusMissing}
	systemdSuite    = testsuite.Suite{Name: "systemd unit check", Missing: systemdMissing}
)

// announceSkips is TestMain's part: one line per suite that will be skipped, to stderr and
// to the file that make test prints.
func announceSkips() {
	var lines strings.Builder
	testsuite.ReportSkips(&lines, []testsuite.Suite{browserSuite, interopSuite, prometheusSuite, systemdSuite}, testsuite.CIMode(os.Getenv))
	testsuite.Announce(os.Getenv, lines.String())
}
