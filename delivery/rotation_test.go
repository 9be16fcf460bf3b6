package delivery_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/delivery"
	"github.com/hookrelay/hookrelay/webhook"
)

// During a rotation's grace period each delivery carries two signatures, the new secret's
// first, and a receiver holding either secret verifies it; once the period is over only the
// new secret signs.
func TestDeliveriesDuringAndAfterARotation(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := dbtest.New(t)
		type got struct {
			header http.Header
			body   []byte
		}
		var (
			mu       sync.Mutex
			received []got
		)
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				return nil, err
			}
			mu.Lock()
			received = append(received, got{r.Header.Clone(), b})
			mu.Unlock()
			return respond(http.StatusNoContent, ""), nil
		})}
		wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
		oldSecret := wh.Secret
		newSecret := webhook.NewSecret()
		_, err := store.RotateSecret(t.Context(), wh.ID, newSecret, time.Hour)
		require.NoError(t, err)
		startEngine(t, delivery.NewEngine(store, delivery.Options{Client: client}))

		last := func() got {
			synctest.Wait()
			mu.Lock()
			defer mu.Unlock()
			require.NotEmpty(t, received)
			return received[len(received)-1]
		}
		verifies := func(g got, secret string) bool {
			v, err := webhook.NewVerifier(secret)
			require.NoError(t, err)
			return v.Verify(g.header, g.body) == nil
		}

		dbtest.Event(t, store, "a.b", 1)
		during := last()
		sigs := strings.Fields(during.header.Get(webhook.HeaderSignature))
		require.Len(t, sigs, 2)
		newKey, _ := webhook.ParseSecret(newSecret)
		ts := during.header.Get(webhook.HeaderTimestamp)
		assert.Equal(t, webhook.Sign(newKey, during.header.Get(webhook.HeaderID), time.Now().Unix(), during.body), sigs[0], "new first (sent at %s)", ts)
		assert.True(t, verifies(during, oldSecret), "a receiver still on the old secret verifies")
		assert.True(t, verifies(during, newSecret), "a receiver on the new secret verifies")

		time.Sleep(time.Hour)
		dbtest.Event(t, store, "a.b", 2)
		after := last()
		assert.Len(t, strings.Fields(after.header.Get(webhook.HeaderSignature)), 1)
		assert.True(t, verifies(after, newSecret))
		assert.False(t, verifies(after, oldSecret), "after the grace period the old secret no longer verifies")
	})
}
