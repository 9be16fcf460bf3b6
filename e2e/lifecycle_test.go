//go:build e2e

package e2e

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSIGTERMLetsTheAttemptInFlightFinish stops the server while a receiver is still
// answering: the process must wait for the attempt, record it once, and exit cleanly; after a
// restart on the same database nothing is sent again.
func TestSIGTERMLetsTheAttemptInFlightFinish(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			arrived <- struct{}{}
			<-release
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	defer close(release)

	srv := startServer(t, "")
	var wh struct{ ID string }
	require.Equal(t, 201, srv.api(t, "POST", "/api/v1/webhooks", adminToken,
		map[string]any{"url": rcv.URL + "/hook", "eventTypes": []string{"*"}}, &wh))
	var ev struct{ ID string }
	require.Equal(t, 202, srv.api(t, "POST", "/api/v1/events", ingestToken,
		map[string]any{"eventType": "order.paid", "data": map[string]int{"n": 1}}, &ev))
	<-arrived

	require.NoError(t, srv.proc.Signal(syscall.SIGTERM))
	eventually(t, "the server to stop accepting requests", func() bool {
		resp, err := http.Get(srv.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err != nil
	})
	select {
	case <-srv.proc.Exited():
		t.Fatal("the server exited with an attempt still in flight")
	default:
	}
	release <- struct{}{}
	select {
	case <-srv.proc.Exited():
	case <-time.After(20 * time.Second):
		t.Fatal("the server did not exit after the attempt finished")
	}
	assert.Equal(t, 0, srv.exitCode(), "a clean exit:\n%s", srv.output())

	again := startServer(t, srv.DBPath)
	var d struct {
		Status   string
		Attempts []struct{ StatusCode int }
	}
	var list struct{ Data []struct{ ID string } }
	require.Equal(t, 200, again.api(t, "GET", "/api/v1/webhooks/"+wh.ID+"/deliveries", adminToken, nil, &list))
	require.Len(t, list.Data, 1)
	again.api(t, "GET", "/api/v1/deliveries/"+list.Data[0].ID, adminToken, nil, &d)
	assert.Equal(t, "succeeded", d.Status)
	require.Len(t, d.Attempts, 1, "the attempt was recorded exactly once")
	assert.Equal(t, 204, d.Attempts[0].StatusCode)
	assert.Equal(t, int32(1), calls.Load(), "nothing was sent again after the restart")
}
