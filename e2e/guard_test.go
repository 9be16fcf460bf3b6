//go:build e2e

package e2e

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGuardRefusesAtConnectionTime saves a webhook whose host name resolves to loopback while
// the guard is off, then restarts with the guard on: the attempts are made, refused at
// connection time with class blocked, retried on schedule, and never reach the receiver.
// This is what a DNS rebinding attack looks like from the server's side.
func TestGuardRefusesAtConnectionTime(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	byName := strings.Replace(rcv.URL, "127.0.0.1", "localhost", 1) + "/hook"

	off := startServer(t, "")
	var wh struct{ ID string }
	require.Equal(t, 201, off.api(t, "POST", "/api/v1/webhooks", adminToken,
		map[string]any{"url": byName, "eventTypes": []string{"*"}}, &wh))
	assert.Contains(t, off.output(), "destination guard is off", "turning the guard off is logged")
	off.stop(t)

	on := startServer(t, off.DBPath, "HOOKRELAY_ALLOW_PRIVATE_NETWORKS=false", "HOOKRELAY_RETRY_SCHEDULE=100ms,100ms")
	assert.NotContains(t, on.output(), "destination guard is off")
	var e apiError
	require.Equal(t, 400, on.api(t, "POST", "/api/v1/webhooks", adminToken,
		map[string]any{"url": rcv.URL + "/hook", "eventTypes": []string{"*"}}, &e))
	assert.Equal(t, "url", e.Error.Field)
	assert.Equal(t, "destination 127.0.0.1 blocked: loopback", trim(e.Error.Message))

	require.Equal(t, 202, on.api(t, "POST", "/api/v1/events", ingestToken,
		map[string]any{"eventType": "order.paid", "data": map[string]int{"n": 1}}, nil))
	var d deliveryDetail
	eventually(t, "the delivery to fail", func() bool {
		d = onlyDelivery(t, on, wh.ID)
		return d.Status == "failed"
	})
	require.Len(t, d.Attempts, 3, "blocked attempts follow the retry schedule")
	for _, a := range d.Attempts {
		assert.Equal(t, "blocked", a.Error)
		assert.Contains(t, a.ErrorMessage, "loopback")
		assert.Zero(t, a.StatusCode)
	}
	assert.Zero(t, calls.Load(), "nothing reached the receiver")
	on.stop(t)

	// With the range allowed, a manual retry goes through.
	allowed := startServer(t, off.DBPath, "HOOKRELAY_ALLOW_PRIVATE_NETWORKS=false", "HOOKRELAY_ALLOWED_CIDRS=127.0.0.0/8,::1/128")
	require.Equal(t, 202, allowed.api(t, "POST", "/api/v1/deliveries/"+d.ID+"/retry", adminToken, nil, nil))
	eventually(t, "the retry to succeed", func() bool { return onlyDelivery(t, allowed, wh.ID).Status == "succeeded" })
	assert.Equal(t, int32(1), calls.Load())
	allowed.stop(t)

	// HTTPS only refuses the http:// URL at delivery time as well.
	httpsOnly := startServer(t, off.DBPath, "HOOKRELAY_HTTPS_ONLY=true")
	require.Equal(t, 202, httpsOnly.api(t, "POST", "/api/v1/deliveries/"+d.ID+"/retry", adminToken, nil, nil))
	eventually(t, "the https-only retry to fail", func() bool { return onlyDelivery(t, httpsOnly, wh.ID).Status == "failed" })
	d = onlyDelivery(t, httpsOnly, wh.ID)
	last := d.Attempts[len(d.Attempts)-1]
	assert.Equal(t, "blocked", last.Error)
	assert.Contains(t, last.ErrorMessage, "only https://")
	assert.Equal(t, int32(1), calls.Load())
}

type apiError struct {
	Error struct{ Code, Message, Field string }
}

type deliveryDetail struct {
	ID       string
	Status   string
	Attempts []struct {
		StatusCode   int
		Error        string
		ErrorMessage string
	}
}

// onlyDelivery returns the one delivery of a webhook, with its attempts.
func onlyDelivery(t *testing.T, s *server, webhookID string) deliveryDetail {
	t.Helper()
	var list struct{ Data []struct{ ID string } }
	require.Equal(t, 200, s.api(t, "GET", "/api/v1/webhooks/"+webhookID+"/deliveries", adminToken, nil, &list))
	require.Len(t, list.Data, 1)
	var d deliveryDetail
	require.Equal(t, 200, s.api(t, "GET", "/api/v1/deliveries/"+list.Data[0].ID, adminToken, nil, &d))
	return d
}
