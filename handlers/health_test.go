package handlers_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	rec := e.call(http.MethodGet, "/healthz", "", "")
	requireStatus(t, rec, http.StatusOK)
	assert.Equal(t, "ok", object(t, rec)["status"])

	rec = e.call(http.MethodGet, "/readyz", "", "")
	requireStatus(t, rec, http.StatusOK)
	assert.Equal(t, "ok", object(t, rec)["status"])

	// With the database gone the process is still up but no longer ready.
	require.NoError(t, e.store.Close())
	rec = e.call(http.MethodGet, "/readyz", "", "")
	assertError(t, rec, http.StatusServiceUnavailable, "unavailable", "")
	rec = e.call(http.MethodGet, "/healthz", "", "")
	requireStatus(t, rec, http.StatusOK)
}
