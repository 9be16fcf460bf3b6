//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestKillDashNineLosesNothing sends 2,000 events, kills the server with SIGKILL while
// deliveries are in flight, restarts it on the same database, and checks that every event
// reached the receiver at least once. Duplicates are reported; they can only be the
// deliveries that were in flight at the kill (claimed, not yet recorded), so there are at most
// HOOKRELAY_WEBHOOK_CONCURRENCY of them.
func TestKillDashNineLosesNothing(t *testing.T) {
	t.Parallel()
	const (
		events      = 2000
		concurrency = 16  // HOOKRELAY_WEBHOOK_CONCURRENCY: the most attempts in flight
		freezeAfter = 500 // deliveries answered before the receiver stops answering
	)
	var (
		mu       sync.Mutex
		seen     = map[string]int{} // webhook-id -> times received
		frozen   = map[string]bool{}
		received int
		crashed  atomic.Bool
		stuck    = make(chan struct{}, concurrency)
		release  = make(chan struct{})
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("webhook-id")
		mu.Lock()
		seen[id]++
		received++
		freeze := !crashed.Load() && received > freezeAfter
		if freeze {
			frozen[id] = true
		}
		mu.Unlock()
		if freeze {
			// Hold the attempt open so that it is in flight when the server dies.
			stuck <- struct{}{}
			<-release
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	env := []string{
		"HOOKRELAY_DELIVERY_TIMEOUT=1s", // lease = 2×1s+5s: rescued about 10s after the kill
		fmt.Sprintf("HOOKRELAY_WEBHOOK_CONCURRENCY=%d", concurrency),
		"HOOKRELAY_RETRY_SCHEDULE=200ms,200ms,200ms,200ms,200ms",
	}
	srv := startServer(t, "", env...)
	var wh struct{ ID string }
	require.Equal(t, 201, srv.api(t, "POST", "/api/v1/webhooks", adminToken,
		map[string]any{"url": rcv.URL + "/hook", "eventTypes": []string{"*"}}, &wh))

	ids := make([]string, 0, events)
	for b := 0; b < events/100; b++ {
		items := make([]map[string]any, 100)
		for i := range items {
			items[i] = map[string]any{"eventType": "crash.test", "data": map[string]int{"n": b*100 + i}}
		}
		var res struct{ Results []struct{ ID string } }
		require.Equal(t, 202, srv.api(t, "POST", "/api/v1/events/batch", ingestToken, map[string]any{"events": items}, &res))
		for _, r := range res.Results {
			require.NotEmpty(t, r.ID)
			ids = append(ids, r.ID)
		}
	}

	// Every slot holds an attempt the receiver has not answered: kill now.
	deadline := time.After(30 * time.Second)
	for range concurrency {
		select {
		case <-stuck:
		case <-deadline:
			t.Fatalf("the receiver did not get %d attempts in flight", concurrency)
		}
	}
	srv.kill()
	crashed.Store(true)
	close(release)
	mu.Lock()
	before, inFlight := received, len(frozen)
	mu.Unlock()
	t.Logf("killed with %d deliveries received and %d in flight", before, inFlight)
	require.Equal(t, concurrency, inFlight)
	require.Less(t, before, events, "the kill came before everything was delivered")

	restarted := startServer(t, srv.DBPath, env...)
	start := time.Now()
	missing := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, id := range ids {
			if seen[id] == 0 {
				n++
			}
		}
		return n
	}
	for missing() > 0 || !allSucceeded(t, restarted, wh.ID, events) {
		if time.Since(start) > 45*time.Second {
			t.Fatalf("%d events never reached the receiver", missing())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("every event delivered %v after the restart", time.Since(start).Round(time.Millisecond))

	mu.Lock()
	defer mu.Unlock()
	dups := 0
	for id, n := range seen {
		if n > 1 {
			dups += n - 1
			assert.True(t, frozen[id], "%s was delivered twice but was not in flight at the kill", id)
		}
	}
	t.Logf("events: %d, lost: 0, duplicates: %d (in flight at the kill: %d)", events, dups, inFlight)
	assert.LessOrEqual(t, dups, inFlight, "duplicates are bounded by what was in flight")
	assert.Len(t, seen, events, "the receiver saw nothing but the events sent")
}

// allSucceeded reports whether the webhook has want deliveries, all succeeded.
func allSucceeded(t *testing.T, s *server, webhookID string, want int) bool {
	t.Helper()
	n := 0
	cursor := ""
	for {
		var page struct {
			Data       []struct{ Status string }
			NextCursor *string
		}
		require.Equal(t, 200, s.api(t, "GET", "/api/v1/webhooks/"+webhookID+"/deliveries?status=succeeded&limit=500&cursor="+cursor,
			adminToken, nil, &page))
		n += len(page.Data)
		if page.NextCursor == nil {
			return n == want
		}
		cursor = *page.NextCursor
	}
}

// TestFullDiskMakesIngestAnswer503 takes away the server's ability to write any file
// (RLIMIT_FSIZE 0: every write past offset 0 fails with EFBIG, as on a full disk): ingest
// answers 503 and never 202, nothing is stored, the process keeps serving, and once writes
// work again ingest succeeds.
func TestFullDiskMakesIngestAnswer503(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	srv := startServer(t, "")
	var wh struct{ ID string }
	require.Equal(t, 201, srv.api(t, "POST", "/api/v1/webhooks", adminToken,
		map[string]any{"url": rcv.URL + "/hook", "eventTypes": []string{"*"}}, &wh))
	event := map[string]any{"eventType": "disk.test", "data": map[string]int{"n": 1}}
	require.Equal(t, 202, srv.api(t, "POST", "/api/v1/events", ingestToken, event, nil))

	pid := srv.pid()
	setFsize := func(n uint64) {
		require.NoError(t, unix.Prlimit(pid, unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: n, Max: unix.RLIM_INFINITY}, nil))
	}
	setFsize(0)
	for i := range 5 {
		var e apiError
		assert.Equal(t, 503, srv.api(t, "POST", "/api/v1/events", ingestToken, event, &e), "single ingest %d", i)
		assert.Equal(t, "unavailable", e.Error.Code)
		assert.Equal(t, 503, srv.api(t, "POST", "/api/v1/events/batch", ingestToken,
			map[string]any{"events": []any{event, event}}, &e), "batch ingest %d", i)
		status := srv.api(t, "POST", "/api/v1/webhooks", adminToken,
			map[string]any{"url": rcv.URL + "/other", "eventTypes": []string{"*"}}, &e)
		assert.Equal(t, 503, status, "a management write on a full disk")
		assert.Equal(t, "unavailable", e.Error.Code)
	}
	resp, err := http.Get(srv.URL + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode, "the process keeps serving")

	setFsize(unix.RLIM_INFINITY)
	require.Equal(t, 202, srv.api(t, "POST", "/api/v1/events", ingestToken, event, nil), "writes work again")
	var list struct{ Data []struct{ ID string } }
	require.Equal(t, 200, srv.api(t, "GET", "/api/v1/webhooks/"+wh.ID+"/deliveries", adminToken, nil, &list))
	assert.Len(t, list.Data, 2, "only the two accepted events were stored")
	var whs struct{ Data []struct{ ID string } }
	require.Equal(t, 200, srv.api(t, "GET", "/api/v1/webhooks", adminToken, nil, &whs))
	assert.Len(t, whs.Data, 1, "no webhook was created while the disk was full")
	eventually(t, "both stored events to be delivered", func() bool { return calls.Load() == 2 })
}
