package handlers_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/handlers"
)

type dailyPage struct {
	Data []struct {
		Day       string `json:"day"`
		Succeeded int    `json:"succeeded"`
		Failed    int    `json:"failed"`
	} `json:"data"`
}

// Issue 14: a webhook's attempts per day, every day of the window, and the same after the
// pruner rolled their hours up past the retention.
func TestDailyAttemptsOutliveRetention(t *testing.T) {
	t.Parallel()
	clock := dbtest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	e := newEnv(t, func(s *handlers.Server) { s.UI.Now = clock.Now })
	e.store.Clock = clock.Now
	wh := dbtest.Webhook(t, e.store, "https://a.test/hook", "a.*")
	other := dbtest.Webhook(t, e.store, "https://b.test/hook", "b.*")
	for i := range 3 {
		dbtest.Event(t, e.store, "a.x", i)
	}
	dbtest.Event(t, e.store, "b.x", 0)
	dbtest.Succeed(t, e.store, wh.ID)
	dbtest.Fail(t, e.store, wh.ID, 503)
	dbtest.Succeed(t, e.store, other.ID)
	clock.Add(24 * time.Hour)
	dbtest.Succeed(t, e.store, wh.ID)

	read := func(query string) dailyPage {
		t.Helper()
		rec := e.admin(http.MethodGet, "/api/v1/webhooks/"+wh.ID+"/daily-attempts"+query, "")
		requireStatus(t, rec, http.StatusOK)
		var p dailyPage
		decodeInto(t, rec, &p)
		return p
	}
	before := read("?days=3")
	require.Len(t, before.Data, 3)
	assert.Equal(t, "2026-02-28", before.Data[0].Day)
	assert.Zero(t, before.Data[0].Succeeded+before.Data[0].Failed, "a day without attempts is there, as zeros")
	assert.Equal(t, "2026-03-01", before.Data[1].Day)
	assert.Equal(t, []int{1, 1}, []int{before.Data[1].Succeeded, before.Data[1].Failed})
	assert.Equal(t, "2026-03-02", before.Data[2].Day)
	assert.Equal(t, []int{1, 0}, []int{before.Data[2].Succeeded, before.Data[2].Failed})
	assert.Len(t, read("").Data, 30, "30 days by default")

	// Everything is past the retention now: events, deliveries and attempts go; the counts stay.
	clock.Add(3 * 24 * time.Hour)
	for {
		p, err := e.store.PruneBatch(t.Context(), db.PruneRequest{Before: clock.Now(), Batch: 100})
		require.NoError(t, err)
		if !p.More {
			break
		}
	}
	assert.Empty(t, dbtest.Deliveries(t, e.store, wh.ID), "the history is gone")
	after := read("?days=6")
	assert.Equal(t, before.Data, after.Data[:3], "the days read the same")

	for _, bad := range []string{"?days=0", "?days=3661", "?days=x"} {
		rec := e.admin(http.MethodGet, "/api/v1/webhooks/"+wh.ID+"/daily-attempts"+bad, "")
		requireStatus(t, rec, http.StatusBadRequest)
	}
	requireStatus(t, e.admin(http.MethodGet, "/api/v1/webhooks/whk_missing/daily-attempts", ""), http.StatusNotFound)
}
