package sqlite_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/db/sqlite"
)

// TestQueueStatsReadsOnlyIndexes keeps the gauges' query cheap at any table size: every step
// that touches deliveries goes through an index of the rows it counts. (What QueueStats
// returns is in the conformance suite, db/storetest.)
func TestQueueStatsReadsOnlyIndexes(t *testing.T) {
	t.Parallel()
	store := dbtest.Open(t, filepath.Join(t.TempDir(), "hookrelay.db"))
	plan, err := store.QueryPlanForTest(t.Context(), sqlite.QueueStatsQuery, 0)
	require.NoError(t, err)
	var deliverySteps int
	for _, step := range plan {
		if !strings.Contains(step, "deliveries") && !strings.Contains(step, " d ") {
			continue
		}
		deliverySteps++
		assert.Contains(t, step, "USING COVERING INDEX", "a step reads the deliveries table itself: %q", step)
	}
	assert.Equal(t, 5, deliverySteps, "plan: %q", plan)
}
