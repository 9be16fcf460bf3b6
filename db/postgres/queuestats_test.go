package postgres_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db/postgres"
)

// TestQueueStatsReadsOnlyIndexes keeps the gauges' query cheap at any table size: with
// sequential scans priced out, no part of it reads the deliveries table in full, so each has
// a partial index of the rows it counts. (What QueueStats returns is in the conformance
// suite, db/storetest.)
func TestQueueStatsReadsOnlyIndexes(t *testing.T) {
	t.Parallel()
	store, _ := newStore(t)
	plan, err := store.QueryPlanForTest(t.Context(), postgres.QueueStatsQuery, int64(0))
	require.NoError(t, err)
	text := strings.Join(plan, "\n")
	assert.NotContains(t, text, "Seq Scan on deliveries", "plan:\n%s", text)
	assert.Equal(t, 5, strings.Count(text, "Index Scan on deliveries")+strings.Count(text, "Index Only Scan using deliveries_"),
		"each of the five parts reads an index of deliveries; plan:\n%s", text)
}
