package storetest

import (
	"crypto/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
)

func instanceTests() []test {
	return []test{
		{"ClaimFollowsWebhookChangesFromAnotherProcess", testClaimFollowsWebhookChangesFromAnotherProcess},
		{"ClaimCarriesANewEventAfterTheTableWasEmptied", testClaimCarriesANewEventAfterTheTableWasEmptied},
		{"ClaimSkipsAWebhookWhoseSecretDoesNotDecrypt", testClaimSkipsAWebhookWhoseSecretDoesNotDecrypt},
	}
}

// A claim follows a change made by another process at once, even though claims cache what
// they read of a webhook.
func testClaimFollowsWebhookChangesFromAnotherProcess(t *testing.T, h Harness) {
	ctx := t.Context()
	a, clock := open(t, h)
	b := openAgain(t, h, a, Options{Clock: clock.Now})
	wh := dbtest.Webhook(t, a, "https://old.test/hook")
	attempt := func() db.Claimed {
		t.Helper()
		dbtest.Event(t, b, "a.b", 1)
		got := claim(t, a, held, db.ClaimRequest{WebhookID: wh.ID, Limit: 1})
		for _, c := range got.Claims {
			record(t, a, db.AttemptResult{Claim: c, AttemptedAt: a.Now(), StatusCode: 200, Next: db.StateSucceeded})
		}
		return got
	}
	require.Equal(t, "https://old.test/hook", attempt().Claims[0].URL)

	_, err := b.UpdateWebhook(ctx, wh.ID, db.WebhookUpdate{URL: new("https://new.test/hook")})
	require.NoError(t, err)
	assert.Equal(t, "https://new.test/hook", attempt().Claims[0].URL, "a URL changed elsewhere")

	const rotated = "whsec_Zm9yIHRoZSByb3RhdGlvbiB0ZXN0IG9ubHkhIQ=="
	_, err = b.RotateSecret(ctx, wh.ID, rotated, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{rotated}, attempt().Claims[0].Secrets, "a secret rotated elsewhere with no grace")

	_, err = b.UpdateWebhook(ctx, wh.ID, db.WebhookUpdate{Enabled: new(false)})
	require.NoError(t, err)
	assert.Empty(t, attempt().Claims, "a webhook disabled elsewhere")
}

// Event row ids may be reused once the newest rows are deleted (SQLite's are); the bodies
// claims cache must not be mistaken for a new event's.
func testClaimCarriesANewEventAfterTheTableWasEmptied(t *testing.T, h Harness) {
	store, _ := open(t, h)
	wh := dbtest.Webhook(t, store, "https://wh.test/hook")
	first := dbtest.Event(t, store, "a.b", 1)
	c := claim(t, store, held, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
	require.Equal(t, first.EventID, c.EventID)
	record(t, store, db.AttemptResult{Claim: c, AttemptedAt: store.Now(), StatusCode: 200, Next: db.StateSucceeded})
	h.Exec(t, store, `DELETE FROM events`)

	second := dbtest.Event(t, store, "a.b", 2)
	ev, err := store.FindEvent(t.Context(), second.EventID)
	require.NoError(t, err)
	c = claim(t, store, held, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
	assert.Equal(t, second.EventID, c.EventID)
	assert.Equal(t, ev.Body, c.Body)
}

// A webhook whose secret cannot be read is reported, and every other webhook's work is
// claimed as usual.
func testClaimSkipsAWebhookWhoseSecretDoesNotDecrypt(t *testing.T, h Harness) {
	key := make([]byte, db.EncryptionKeySize)
	rand.Read(key)
	clock := dbtest.NewClock(t0)
	store := h.Open(t, Options{Clock: clock.Now, EncryptionKey: key})
	bad := dbtest.Webhook(t, store, "https://bad.test/hook")
	good := dbtest.Webhook(t, store, "https://good.test/hook")
	dbtest.Event(t, store, "a.b", 1)
	h.Exec(t, store, `UPDATE webhooks SET secret = ? WHERE public_id = ?`, "enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", bad.ID)

	got := claim(t, store, held, db.ClaimRequest{WebhookID: bad.ID, Limit: 5}, db.ClaimRequest{WebhookID: good.ID, Limit: 5})
	require.Len(t, got.Claims, 1)
	assert.Equal(t, good.ID, got.Claims[0].WebhookID)
	require.Contains(t, got.Failed, bad.ID)
	assert.ErrorIs(t, got.Failed[bad.ID], db.ErrEncryptionKeyWrong)
	assert.Equal(t, map[db.State]int{db.StatePending: 1}, statesOf(t, store, bad.ID), "its work waits")
	assert.Equal(t, map[db.State]int{db.StateDelivering: 1}, statesOf(t, store, good.ID))
}
