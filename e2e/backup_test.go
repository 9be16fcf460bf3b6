//go:build e2e

package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/webhook"
)

// TestBackupOfALiveServerRestores backs up the database of a running server while it holds
// pending deliveries and ingest goes on, starts a second server on the copy with the same
// encryption key, and sees the copy's pending deliveries reach the webhook it holds, signed
// with the secret it holds.
func TestBackupOfALiveServerRestores(t *testing.T) {
	t.Parallel()
	key := make([]byte, 32)
	rand.Read(key)
	keyEnv := "HOOKRELAY_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(key)

	// The receiver holds the first server's attempts open, so that its deliveries stay
	// pending (one webhook slot, taken); it answers the restored server's at once.
	var (
		restored atomic.Bool
		verifier atomic.Pointer[webhook.Verifier]
		mu       sync.Mutex
		received = map[string]bool{} // webhook-id of each delivery the restored server made
		bad      []string
		held     = make(chan struct{}, 1)
		release  = make(chan struct{})
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !restored.Load() {
			select {
			case held <- struct{}{}:
			default:
			}
			<-release
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if err := verifier.Load().Verify(r.Header, body); err != nil {
			bad = append(bad, err.Error())
		}
		received[r.Header.Get(webhook.HeaderID)] = true
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	var once sync.Once
	releaseAll := func() { once.Do(func() { close(release) }) }
	defer releaseAll()

	env := []string{keyEnv, "HOOKRELAY_WEBHOOK_CONCURRENCY=1", "HOOKRELAY_DELIVERY_TIMEOUT=2s"}
	live := startServer(t, "", env...)
	var wh struct{ ID string }
	require.Equal(t, 201, live.api(t, "POST", "/api/v1/webhooks", adminToken,
		map[string]any{"url": rcv.URL + "/hook", "eventTypes": []string{"*"}}, &wh))
	var secret struct{ Secret string }
	require.Equal(t, 200, live.api(t, "GET", "/api/v1/webhooks/"+wh.ID+"/secret", adminToken, nil, &secret))
	v, err := webhook.NewVerifier(secret.Secret)
	require.NoError(t, err)
	verifier.Store(v)
	ingest := func() {
		require.Equal(t, 202, live.api(t, "POST", "/api/v1/events", ingestToken,
			map[string]any{"eventType": "backup.test", "data": map[string]any{}}, nil))
	}
	for range 5 {
		ingest()
	}
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("the live server made no attempt")
	}

	// Back up while the server serves and ingest goes on.
	to := filepath.Join(t.TempDir(), "backup.db")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				ingest()
			}
		}
	})
	out, err := exec.Command(binary, "backup", "--db", live.DBPath, "--to", to).CombinedOutput()
	close(stop)
	wg.Wait()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "backed up "+live.DBPath+" to "+to)

	out, err = exec.Command(binary, "backup", "--db", live.DBPath, "--to", to).CombinedOutput()
	require.Error(t, err, "a second backup to the same file")
	assert.Contains(t, string(out), "exists already")

	// The live server goes away; the copy is all that is left.
	releaseAll()
	live.stop(t)
	require.NoError(t, os.Remove(live.DBPath))

	restored.Store(true)
	copied := startServer(t, to, env...)
	var pending struct {
		Data []struct{ ID, EventID string }
	}
	require.Equal(t, 200, copied.api(t, "GET", "/api/v1/webhooks/"+wh.ID+"/deliveries?status=pending&limit=500", adminToken, nil, &pending))
	var all struct{ Data []struct{ ID string } }
	require.Equal(t, 200, copied.api(t, "GET", "/api/v1/webhooks/"+wh.ID+"/deliveries?limit=500", adminToken, nil, &all))
	require.GreaterOrEqual(t, len(all.Data), 5, "the copy holds every delivery made before the backup")
	t.Logf("the copy holds %d deliveries, %d of them pending", len(all.Data), len(pending.Data))

	// Every delivery the copy held pending reaches the receiver from the restored server.
	eventually(t, "the copy's pending deliveries to arrive", func() bool {
		var page struct{ Data []struct{ ID string } }
		require.Equal(t, 200, copied.api(t, "GET", "/api/v1/webhooks/"+wh.ID+"/deliveries?status=succeeded&limit=500", adminToken, nil, &page))
		return len(page.Data) >= len(pending.Data)
	})
	mu.Lock()
	defer mu.Unlock()
	for _, d := range pending.Data {
		assert.True(t, received[d.EventID], "delivery %s (event %s) reached the receiver", d.ID, d.EventID)
	}
	assert.Empty(t, bad, "every delivery is signed with the secret the copy holds")
}
