package handlers_test

import (
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/handlers"
)

// readiness is /readyz's answer.
type readiness struct {
	Status  string            `json:"status"`
	Version string            `json:"version"`
	Checks  map[string]string `json:"checks"`
}

func ready(t *testing.T, e *env) (int, readiness) {
	t.Helper()
	rec := e.call(http.MethodGet, "/readyz", "", "")
	var r readiness
	decodeInto(t, rec, &r)
	return rec.Code, r
}

// frozenEngine is an engine whose last turn was at a fixed time: a stuck one, once time
// moves on.
type frozenEngine time.Time

func (f frozenEngine) LastTurn() time.Time { return time.Time(f) }

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *handlers.Server) { s.Engine = frozenEngine(time.Now()) })

	rec := e.call(http.MethodGet, "/healthz", "", "")
	requireStatus(t, rec, http.StatusOK)
	assert.Equal(t, "ok", object(t, rec)["status"])

	code, r := ready(t, e)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, readiness{Status: "ok", Version: "test", Checks: map[string]string{"database": "ok", "engine": "ok"}}, r)

	// With the database gone the process is still up but no longer ready.
	require.NoError(t, e.store.Close())
	code, r = ready(t, e)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, readiness{Status: "unavailable", Version: "test", Checks: map[string]string{"database": "unreachable", "engine": "ok"}}, r)
	rec = e.call(http.MethodGet, "/healthz", "", "")
	requireStatus(t, rec, http.StatusOK)
}

func TestReadinessWithoutAnEngineChecksTheDatabaseOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	code, r := ready(t, e)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, map[string]string{"database": "ok"}, r.Checks)
}

func TestReadinessReportsAStuckEngine(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(s *handlers.Server) {
			s.Engine = frozenEngine(time.Now())
			s.EngineStall = 2 * time.Minute
		})
		wh := dbtest.Webhook(t, e.store, "https://wh.test/hook")

		// Nothing is due: an engine that does not turn is not holding anything up.
		time.Sleep(10 * time.Minute)
		code, r := ready(t, e)
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, "ok", r.Checks["engine"])

		// Work comes due: from now on the engine's silence matters.
		for i := range 3 {
			dbtest.Event(t, e.store, "a.b", i)
		}
		code, r = ready(t, e)
		assert.Equal(t, http.StatusServiceUnavailable, code)
		assert.Equal(t, readiness{Status: "unavailable", Version: "test", Checks: map[string]string{
			"database": "ok", "engine": "stuck: no turn for 10m0s while 3 deliveries are due"}}, r)

		// An engine that turned within the bound is fine, work due or not.
		e2 := newEnv(t, func(s *handlers.Server) {
			s.Engine = frozenEngine(time.Now().Add(-2 * time.Minute))
			s.EngineStall = 2 * time.Minute
			s.DB = e.store
		})
		code, r = ready(t, e2)
		assert.Equal(t, http.StatusOK, code, "exactly the bound is not past it")
		time.Sleep(time.Second)
		code, r = ready(t, e2)
		assert.Equal(t, http.StatusServiceUnavailable, code)
		assert.Equal(t, "stuck: no turn for 2m1s while 3 deliveries are due", r.Checks["engine"])

		// Deliveries of a disabled webhook are not due: nothing would send them.
		_, err := e.store.UpdateWebhook(t.Context(), wh.ID, db.WebhookUpdate{Enabled: new(false)})
		require.NoError(t, err)
		code, r = ready(t, e)
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, "ok", r.Checks["engine"])
	})
}

func TestReadinessDefaultStallIsTwoMinutes(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(s *handlers.Server) { s.Engine = frozenEngine(time.Now()) })
		dbtest.Webhook(t, e.store, "https://wh.test/hook")
		dbtest.Event(t, e.store, "a.b", 1)
		time.Sleep(2 * time.Minute)
		code, _ := ready(t, e)
		assert.Equal(t, http.StatusOK, code)
		time.Sleep(time.Second)
		code, r := ready(t, e)
		assert.Equal(t, http.StatusServiceUnavailable, code)
		assert.Equal(t, "stuck: no turn for 2m1s while 1 delivery is due", r.Checks["engine"])
	})
}

func TestReadinessWithTheDatabaseDownAndTheEngineSilent(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(s *handlers.Server) { s.Engine = frozenEngine(time.Now()) })
		time.Sleep(5 * time.Minute)
		require.NoError(t, e.store.Close())
		code, r := ready(t, e)
		assert.Equal(t, http.StatusServiceUnavailable, code)
		assert.Equal(t, map[string]string{"database": "unreachable",
			"engine": "unknown: no turn for 5m0s, and the database is unreachable"}, r.Checks)
	})
}
