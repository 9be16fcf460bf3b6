//go:build e2e

package e2e

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/bench"
)

// TestBenchSmokeLosesNothing runs make bench's smoke mode against the real binary: short
// closed-loop, fan-out, burst (after its loopback calibration), open-loop, backlog, batch and
// recover runs whose every accepted event must reach every webhook, checked by receivers that
// de-duplicate on webhook-id. It checks no speed: this binary has the race detector and
// shares the machine with the other tests.
func TestBenchSmokeLosesNothing(t *testing.T) {
	t.Parallel()
	cfg := bench.SmokeDefaults()
	cfg.Server = binary
	cfg.Log = t.Output()
	rep, err := bench.Run(t.Context(), cfg)
	require.NoError(t, err)

	var table strings.Builder
	rep.WriteTable(&table)
	t.Log("\n" + table.String())
	assert.True(t, rep.Passed(), rep.Failures())
	var names []string
	for _, r := range rep.Results {
		names = append(names, r.Scenario)
	}
	require.Equal(t, []string{"a", "b", "cal", "burst-1", "c", "f", "g", "r"}, names)
	for _, r := range rep.Results {
		if r.Scenario == "cal" { // no hookrelay in its path: it counts requests, not deliveries
			assert.Positive(t, r.Requests)
			continue
		}
		assert.Positive(t, r.Expected, "%s accepted nothing", r.Scenario)
		assert.Equal(t, r.Expected, r.Delivered, "%s: every accepted delivery arrives", r.Scenario)
		assert.Zero(t, r.Lost, r.Scenario)
		assert.Zero(t, r.IngestErrors, "%s: %s", r.Scenario, r.FirstIngestError)
		assert.Zero(t, r.BadSignatures, r.Scenario)
	}
}
