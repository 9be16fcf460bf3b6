package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// A postgres:// URL in HOOKRELAY_DB runs the server on PostgreSQL: an event goes out to its
// webhook, and the URL's password never reaches the log.
func TestServeOnPostgres(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(pgtest.URL(t))
	require.NoError(t, err)
	const password = "pg-password-never-logged"
	u.User = url.UserPassword(u.User.Username(), password) // trust authentication ignores it
	got := make(chan string, 1)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("webhook-id")
	}))
	defer rcv.Close()
	s := startCapturing(t, []string{"--addr", "127.0.0.1:0", "--db", u.String()},
		with(validEnv, "HOOKRELAY_ALLOW_PRIVATE_NETWORKS", "true", "HOOKRELAY_DB_MAX_CONNS", "4"))
	admin, ingest := validEnv["HOOKRELAY_ADMIN_TOKEN"], validEnv["HOOKRELAY_INGEST_TOKEN"]
	require.Equal(t, 201, s.call(t, "POST", "/api/v1/webhooks", admin, `{"url":"`+rcv.URL+`","eventTypes":["*"]}`, nil))
	var ev struct{ ID string }
	require.Equal(t, 202, s.call(t, "POST", "/api/v1/events", ingest, `{"eventType":"a.b","data":{}}`, &ev))
	assert.Equal(t, ev.ID, <-got, "delivered from PostgreSQL")
	require.NoError(t, s.stop())
	assert.Contains(t, s.out.String(), `db="postgres://`+u.User.Username()+`:xxxxx@`, "the URL is logged, its password masked")
	assert.NotContains(t, s.out.String(), password)
}
