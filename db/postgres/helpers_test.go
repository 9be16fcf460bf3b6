package postgres_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/db/postgres"
	"github.com/hookrelay/hookrelay/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// t0 is where test clocks start.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// secret is a valid signing secret for fixtures.
const secret = dbtest.Secret

// open opens a store on url, closed when the test ends.
func open(t *testing.T, url string, o postgres.Options) *postgres.DB {
	t.Helper()
	s, err := postgres.Open(t.Context(), url, o)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// newStore opens a store on a fresh database of its own, with a clock the test moves.
func newStore(t *testing.T) (*postgres.DB, *dbtest.Clock) {
	t.Helper()
	s := open(t, pgtest.URL(t), postgres.Options{})
	clock := dbtest.NewClock(t0)
	s.Clock = clock.Now
	return s, clock
}

func webhook(t *testing.T, s *postgres.DB, url string, patterns ...string) db.Webhook {
	t.Helper()
	if len(patterns) == 0 {
		patterns = []string{"*"}
	}
	w, err := s.CreateWebhook(context.Background(), db.NewWebhook{URL: url, EventTypes: patterns, Secret: secret, Enabled: true})
	require.NoError(t, err)
	return w
}

func event(t *testing.T, s *postgres.DB, typ string, n int) db.IngestResult {
	t.Helper()
	data, _ := json.Marshal(map[string]int{"n": n})
	res, err := s.CreateEvents(context.Background(), []db.NewEvent{{Type: typ, Data: data}})
	require.NoError(t, err)
	return res[0]
}

func claim(t *testing.T, s *postgres.DB, lease time.Duration, reqs ...db.ClaimRequest) db.Claimed {
	t.Helper()
	c, err := s.ClaimDue(t.Context(), reqs, lease)
	require.NoError(t, err)
	return c
}

func record(t *testing.T, s *postgres.DB, results ...db.AttemptResult) {
	t.Helper()
	require.NoError(t, s.RecordAttempts(t.Context(), results))
}

func delivery(t *testing.T, s *postgres.DB, id string) db.Delivery {
	t.Helper()
	d, err := s.FindDelivery(t.Context(), id)
	require.NoError(t, err)
	return d
}

func count(t *testing.T, s *postgres.DB, table string) int {
	t.Helper()
	n, err := s.CountRowsForTest(t.Context(), table)
	require.NoError(t, err)
	return n
}

// signals collects callback calls for a test to wait on.
type signals struct {
	mu     sync.Mutex
	due    [][]string
	alerts int
	ch     chan struct{}
}

func watch(s *postgres.DB) *signals {
	g := &signals{ch: make(chan struct{}, 1000)}
	s.OnDue(func(ids []string) {
		g.mu.Lock()
		g.due = append(g.due, ids)
		g.mu.Unlock()
		g.ch <- struct{}{}
	})
	s.OnAlertQueued(func() {
		g.mu.Lock()
		g.alerts++
		g.mu.Unlock()
		g.ch <- struct{}{}
	})
	return g
}

// wait waits until cond holds, checking after each callback, and fails after 10 seconds.
func (g *signals) wait(t *testing.T, what string, cond func(due [][]string, alerts int) bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		g.mu.Lock()
		ok := cond(g.due, g.alerts)
		g.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-g.ch:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (g *signals) snapshot() ([][]string, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([][]string(nil), g.due...), g.alerts
}
