package handlers_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStaticAssetsAreServedWithCacheHeaders(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	anon := e.browser() // assets need no session: the sign-in page uses them

	htmx := anon.get("/static/htmx-2.0.11.min.js")
	require.Equal(t, http.StatusOK, htmx.Code)
	assert.Equal(t, "public, max-age=31536000, immutable", htmx.Header().Get("Cache-Control"))
	assert.Contains(t, htmx.Header().Get("Content-Type"), "javascript")
	assert.Contains(t, htmx.Body.String(), "htmx")

	css := anon.get("/static/app.css")
	require.Equal(t, http.StatusOK, css.Code)
	assert.Equal(t, "no-cache", css.Header().Get("Cache-Control"))
	etag := css.Header().Get("ETag")
	require.NotEmpty(t, etag)
	again := anon.get("/static/app.css", "If-None-Match", etag)
	assert.Equal(t, http.StatusNotModified, again.Code, "unchanged files are not sent again")

	for _, path := range []string{"/static/nope.js", "/static/../go.mod", "/static/"} {
		assert.Equal(t, http.StatusNotFound, anon.get(path).Code, path)
	}
}
