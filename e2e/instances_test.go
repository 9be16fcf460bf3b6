//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/alert/alerttest"
	"github.com/hookrelay/hookrelay/internal/pgtest"
)

// TestThreeInstancesOnPostgres runs three servers on one PostgreSQL database, with no proxy
// in front: events are ingested round-robin while one instance is killed with SIGKILL and
// restarted. Nothing is lost; duplicates are at most what was in flight at the kill (the
// per-webhook cap holds across instances); a failing webhook's alert is emailed once, not
// once per instance; a webhook disabled through one instance gets nothing from any instance
// from one second after; a browser session made on one instance works on another.
func TestThreeInstancesOnPostgres(t *testing.T) {
	t.Parallel()
	const (
		events = 1500
		cap    = 8 // HOOKRELAY_WEBHOOK_CONCURRENCY, over all instances
	)
	dsn := pgtest.URL(t)
	smtpSrv := alerttest.Start(t)

	var (
		mu       sync.Mutex
		seen     = map[string]int{} // webhook-id → times received by the main receiver
		slowLast time.Time          // when the slow receiver last got a request
	)
	main := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get("webhook-id")]++
		mu.Unlock()
		time.Sleep(10 * time.Millisecond) // attempts overlap, so the kill finds some in flight
		w.WriteHeader(http.StatusNoContent)
	}))
	defer main.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer failing.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		slowLast = time.Now()
		mu.Unlock()
		time.Sleep(50 * time.Millisecond)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer slow.Close()

	env := []string{
		"HOOKRELAY_DELIVERY_TIMEOUT=1s", // lease = 2×1s+5s: a dead instance's leases run out in 7s
		fmt.Sprintf("HOOKRELAY_WEBHOOK_CONCURRENCY=%d", cap),
		"HOOKRELAY_RETRY_SCHEDULE=100ms",
		"HOOKRELAY_SMTP_ADDR=" + smtpSrv.Addr, "HOOKRELAY_SMTP_TLS=none",
		"HOOKRELAY_SMTP_FROM=hookrelay@example.com", "HOOKRELAY_ALERT_EMAILS=ops@example.com",
	}
	srvs := []*server{startServer(t, dsn, env...), startServer(t, dsn, env...), startServer(t, dsn, env...)}

	webhook := func(s *server, url, pattern string) string {
		t.Helper()
		var wh struct{ ID string }
		require.Equal(t, 201, s.api(t, "POST", "/api/v1/webhooks", adminToken,
			map[string]any{"url": url, "eventTypes": []string{pattern}}, &wh))
		return wh.ID
	}
	webhook(srvs[0], main.URL+"/hook", "load.*")
	webhook(srvs[1], failing.URL+"/hook", "fail.*")
	slowID := webhook(srvs[2], slow.URL+"/hook", "slow.*")

	// A UI session made through one instance is good on the others.
	cookie := signInOver(t, srvs[0])
	for _, s := range srvs[1:] {
		assert.Equal(t, http.StatusOK, uiGet(t, s, "/webhooks", cookie), "signed in on %s", s.URL)
	}

	// The failing webhook's one delivery fails on its second attempt: one alert.
	require.Equal(t, 202, srvs[1].api(t, "POST", "/api/v1/events", ingestToken,
		map[string]any{"eventType": "fail.x", "data": map[string]int{}}, nil))

	// Load, round-robin, with instance 1 killed after a third and restarted.
	var ids []string
	send := func(s *server, n int) {
		items := make([]map[string]any, n)
		for i := range items {
			items[i] = map[string]any{"eventType": "load.x", "data": map[string]int{"n": len(ids) + i}}
		}
		var res struct{ Results []struct{ ID string } }
		require.Equal(t, 202, s.api(t, "POST", "/api/v1/events/batch", ingestToken, map[string]any{"events": items}, &res))
		for _, r := range res.Results {
			ids = append(ids, r.ID)
		}
	}
	for i := 0; len(ids) < events; i++ {
		if len(ids) == events/3 {
			srvs[1].kill()
			srvs[1] = startServer(t, dsn, env...)
		}
		send(srvs[i%3], 50)
	}
	eventually(t, "every event to reach the receiver", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if seen[id] == 0 {
				return false
			}
		}
		return true
	})
	mu.Lock()
	dup := 0
	for _, id := range ids {
		dup += seen[id] - 1
	}
	mu.Unlock()
	rescued := 0
	for _, s := range srvs {
		rescued += strings.Count(s.output(), "rescued deliveries whose lease expired")
	}
	t.Logf("%d events over 3 instances, one killed: 0 lost, %d duplicates, %d rescues", len(ids), dup, rescued)
	assert.LessOrEqual(t, dup, cap, "only what was in flight at the kill is sent twice")

	// A webhook disabled through one instance: nothing from any instance after a second.
	items := make([]map[string]any, 100)
	for i := range items {
		items[i] = map[string]any{"eventType": "slow.x", "data": map[string]int{"n": i}}
	}
	require.Equal(t, 202, srvs[0].api(t, "POST", "/api/v1/events/batch", ingestToken, map[string]any{"events": items}, nil))
	eventually(t, "the slow webhook's backlog to start", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return !slowLast.IsZero()
	})
	require.Equal(t, 200, srvs[2].api(t, "PATCH", "/api/v1/webhooks/"+slowID, adminToken, map[string]any{"enabled": false}, nil))
	disabledAt := time.Now()
	eventually(t, "in-flight attempts to the disabled webhook to end", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return time.Since(slowLast) > 500*time.Millisecond
	})
	var list struct{ Data []struct{ Status string } }
	require.Equal(t, 200, srvs[1].api(t, "GET", "/api/v1/webhooks/"+slowID+"/deliveries?status=pending&limit=500", adminToken, nil, &list))
	assert.NotEmpty(t, list.Data, "its backlog waits, pending")
	mu.Lock()
	assert.Less(t, slowLast.Sub(disabledAt), time.Second, "no attempt began later than a second after the change")
	mu.Unlock()

	// The alert went out once, whichever instance sent it, and was recorded as sent.
	emails := smtpSrv.Wait(t, 1, 20*time.Second)
	assert.Contains(t, emails[0].Subject, failing.URL)
	var alerts struct{ Data []struct{ Status string } }
	eventually(t, "the alert to be recorded as sent", func() bool {
		require.Equal(t, 200, srvs[0].api(t, "GET", "/api/v1/alerts", adminToken, nil, &alerts))
		return len(alerts.Data) == 1 && alerts.Data[0].Status == "sent"
	})
	assert.Len(t, smtpSrv.Emails(), 1, "one email for one alert, with three instances running senders")
}

// signInOver signs the e2e admin in through s's sign-in form and returns the session cookie.
func signInOver(t *testing.T, s *server) *http.Cookie {
	t.Helper()
	form := url.Values{"email": {adminEmail}, "password": {adminPassword}}
	req, err := http.NewRequest("POST", s.URL+"/login", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.URL)
	resp, err := noRedirects.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "signed in")
	for _, c := range resp.Cookies() {
		if c.Name == "hookrelay_session" {
			return c
		}
	}
	t.Fatal("no session cookie")
	return nil
}

func uiGet(t *testing.T, s *server, path string, c *http.Cookie) int {
	t.Helper()
	req, err := http.NewRequest("GET", s.URL+path, nil)
	require.NoError(t, err)
	req.AddCookie(c)
	resp, err := noRedirects.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
