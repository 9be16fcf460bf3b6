package handlers_test

import (
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBusyStorageIs503InUI holds the database's write lock from another connection, as
// another process might, and makes a change through the UI: once SQLite's busy timeout
// (5 s) runs out the page says storage is unavailable, with 503 as the API answers, where
// it used to be a 500. TestClassifyErrors shows the API and the UI agree on this error.
func TestBusyStorageIs503InUI(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	form := url.Values{"url": {"https://r.test/hook"}, "event_types": {"*"}, "enabled": {"true"}}

	other, err := sql.Open("sqlite", "file:"+e.dbPath)
	require.NoError(t, err)
	defer other.Close()
	lock, err := other.Conn(t.Context())
	require.NoError(t, err)
	defer lock.Close()
	_, err = lock.ExecContext(t.Context(), "BEGIN IMMEDIATE")
	require.NoError(t, err)
	rec := b.post("/webhooks", form)
	_, err = lock.ExecContext(t.Context(), "ROLLBACK")
	require.NoError(t, err)

	require.Equal(t, http.StatusServiceUnavailable, rec.Code, "body: %s", rec.Body)
	page := testid(doc(t, rec), "error-page")
	assert.Equal(t, "503", page.AttrOr("data-status", ""))
	assert.Contains(t, text(page), "Storage is unavailable. Try again in a moment.")
	assert.Contains(t, text(page), rec.Header().Get("X-Request-Id"), "the page names the logged request")

	rec = b.post("/webhooks", form)
	assert.Equal(t, http.StatusSeeOther, rec.Code, "with the lock gone the same post goes through")
	assert.True(t, strings.HasPrefix(rec.Header().Get("Location"), "/webhooks/whk_"), rec.Header().Get("Location"))
}

// TestClosedStorageIs503InAPI makes changes through the API after the store was closed,
// as during shutdown: each is a 503 the client may retry, not a 500.
func TestClosedStorageIs503InAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.createWebhook("https://r.test/hook", true, "*")
	require.NoError(t, e.store.Close())
	for _, c := range []struct{ method, path, body string }{
		{http.MethodPost, "/api/v1/webhooks", `{"url":"https://r.test/hook","eventTypes":["*"]}`},
		{http.MethodPatch, "/api/v1/webhooks/" + id, `{"description":"d"}`},
		{http.MethodPost, "/api/v1/webhooks/" + id + "/secret/rotate", ""},
	} {
		got := assertError(t, e.admin(c.method, c.path, c.body), http.StatusServiceUnavailable, "unavailable", "")
		assert.Equal(t, "storage is unavailable, try again", got.Error.Message)
	}
}
