package postgres_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/postgres"
)

// Two instances folding the alert outbox at once fold each failure once: the second waits
// for the first's advisory lock and then finds the failures folded.
func TestTwoInstancesFoldEachFailureOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, clock := twoStores(t, postgres.Options{})
	const hooks, each = 5, 20
	for i := range hooks {
		wh := webhook(t, a, fmt.Sprintf("https://wh%d.test/hook", i))
		batch := make([]db.NewEvent, each)
		for j := range batch {
			batch[j] = db.NewEvent{Type: "a.b", Data: []byte(`{}`)}
		}
		_, err := a.CreateEvents(ctx, batch)
		require.NoError(t, err)
		// Only this webhook has deliveries pending: the others' were failed already.
		got := claim(t, a, time.Hour, db.ClaimRequest{WebhookID: wh.ID, Limit: each})
		require.Len(t, got.Claims, each)
		var results []db.AttemptResult
		for _, c := range got.Claims {
			results = append(results, db.AttemptResult{Claim: c, AttemptedAt: clock.Now(), StatusCode: 500, Next: db.StateFailed})
		}
		record(t, a, results...)
	}
	require.Equal(t, hooks*each, count(t, a, "alert_failures"))

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		folded  int
		raised  []string
		started = make(chan struct{})
	)
	for _, s := range []*postgres.DB{a, b, a, b} {
		wg.Go(func() {
			<-started
			for {
				res, err := s.FoldAlertFailures(ctx, time.Hour)
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				folded += res.Failures
				raised = append(raised, res.Raised...)
				mu.Unlock()
				if !res.More {
					return
				}
			}
		})
	}
	close(started)
	wg.Wait()
	assert.Equal(t, hooks*each, folded, "each failure folded once")
	// By the no-flood rule each webhook gets an immediate alert for its first failure and
	// one digest of the rest of the window: two alerts, whoever folded.
	assert.Len(t, raised, 2*hooks)
	alerts, _, err := b.ListAlerts(ctx, db.AlertFilter{Limit: 500})
	require.NoError(t, err)
	kinds := map[string]map[db.AlertKind]int{}
	for _, al := range alerts {
		if kinds[al.WebhookID] == nil {
			kinds[al.WebhookID] = map[db.AlertKind]int{}
		}
		kinds[al.WebhookID][al.Kind] += al.DeliveryCount
	}
	assert.Len(t, kinds, hooks)
	for w, k := range kinds {
		assert.Equal(t, map[db.AlertKind]int{db.AlertImmediate: 1, db.AlertDigest: each - 1}, k, w)
	}
}

// Instances starting together agree on generated settings and create one first admin.
func TestTwoInstancesAgreeOnSettingsAndTheFirstAdmin(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, _ := twoStores(t, postgres.Options{})
	const rounds = 5
	for round := range rounds {
		var (
			wg      sync.WaitGroup
			values  [4][]byte
			created [4]bool
			start   = make(chan struct{})
		)
		for i, s := range []*postgres.DB{a, b, a, b} {
			wg.Go(func() {
				<-start
				v, err := s.Setting(ctx, fmt.Sprintf("key-%d", round), []byte(fmt.Sprintf("value-%d", i)))
				assert.NoError(t, err)
				values[i] = v
				ok, err := s.CreateFirstUser(ctx, fmt.Sprintf("admin%d-%d@example.test", round, i), "h")
				assert.NoError(t, err)
				created[i] = ok
			})
		}
		close(start)
		wg.Wait()
		for i := range values {
			assert.Equal(t, values[0], values[i], "round %d", round)
		}
		n := 0
		for _, ok := range created {
			if ok {
				n++
			}
		}
		if round == 0 {
			assert.Equal(t, 1, n, "one first admin")
		} else {
			assert.Zero(t, n)
		}
	}
	users, err := a.CountUsers(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, users)
}

// Text PostgreSQL cannot store (NUL, invalid UTF-8) that comes from outside in an attempt's
// error is replaced rather than failing the batch; in what an admin typed it is refused with
// an error that says why.
func TestTextPostgreSQLCannotStore(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, clock := newStore(t)
	wh := webhook(t, s, "https://wh.test/hook")
	event(t, s, "a.b", 1)
	c := claim(t, s, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
	record(t, s, db.AttemptResult{Claim: c, AttemptedAt: clock.Now(), ErrorClass: "connection",
		ErrorMessage: "read: \x00\xff", Next: db.StatePending, NextAt: clock.Now()})
	attempts, err := s.ListAttempts(ctx, c.DeliveryID)
	require.NoError(t, err)
	require.Len(t, attempts, 1)
	assert.Equal(t, "read: \uFFFD\uFFFD", attempts[0].ErrorMessage)

	_, err = s.UpdateWebhook(ctx, wh.ID, db.WebhookUpdate{Description: new("a\x00b")})
	assert.ErrorContains(t, err, "NUL character")
}

// A write that loses a deadlock to another is run again, so both succeed: callers never see
// PostgreSQL resolve a conflict between two of hookrelay's own transactions.
func TestWriteRunsAgainAfterADeadlock(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _ := newStore(t)
	for _, k := range []string{"a", "b"} {
		_, err := s.Setting(ctx, k, []byte("0"))
		require.NoError(t, err)
	}
	var (
		runs       atomic.Int32
		wg         sync.WaitGroup
		aIn, bIn   = make(chan struct{}), make(chan struct{})
		errs       [2]error
		firstOrder = [2][2]string{{"a", "b"}, {"b", "a"}}
		mine       = [2]chan struct{}{aIn, bIn}
	)
	for i := range 2 {
		wg.Go(func() {
			first := true
			errs[i] = s.WriteForTest(ctx, func(exec func(string, ...any) error) error {
				runs.Add(1)
				if err := exec(`UPDATE settings SET value = 'x' WHERE key = ?`, firstOrder[i][0]); err != nil {
					return err
				}
				if first {
					// Both hold their first row before either asks for its second.
					first = false
					close(mine[i])
					<-mine[1-i]
				}
				return exec(`UPDATE settings SET value = 'y' WHERE key = ?`, firstOrder[i][1])
			})
		})
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	// At least once: on a loaded machine the rerun can meet the other write's second lock
	// and lose a deadlock again before it gets through (seen once in CI: 4 runs).
	assert.GreaterOrEqual(t, runs.Load(), int32(3), "the deadlock's victim ran again")
}
