package postgres_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/postgres"
	"github.com/hookrelay/hookrelay/internal/pgtest"
)

var (
	key      = bytes.Repeat([]byte{7}, db.EncryptionKeySize)
	otherKey = bytes.Repeat([]byte{8}, db.EncryptionKeySize)
)

// Secrets stored before a key was set are encrypted when a store opens with one (old
// secrets too); afterwards a store without the key, or with another, refuses to open.
func TestOpenEncryptsSecretsAndRefusesAWrongKey(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := pgtest.URL(t)
	plain, err := postgres.Open(ctx, url, postgres.Options{})
	require.NoError(t, err)
	wh := webhook(t, plain, "https://wh.test/hook")
	const rotated = "whsec_Zm9yIHRoZSByb3RhdGlvbiB0ZXN0IG9ubHkhIQ=="
	_, err = plain.RotateSecret(ctx, wh.ID, rotated, time.Hour)
	require.NoError(t, err)
	require.NoError(t, plain.Close())

	// Two instances start together with the key: one encrypts, the other finds it done.
	var (
		wg     sync.WaitGroup
		stores [2]*postgres.DB
		errs   [2]error
	)
	for i := range 2 {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(ctx, url, postgres.Options{EncryptionKey: key}) })
	}
	wg.Wait()
	for i := range 2 {
		require.NoError(t, errs[i])
		t.Cleanup(func() { stores[i].Close() })
	}
	s := stores[0]
	stored, err := s.QueryIntForTest(ctx, `SELECT count(*) FROM webhooks WHERE secret LIKE 'enc:v1:%'`)
	require.NoError(t, err)
	assert.EqualValues(t, 1, stored)
	stored, err = s.QueryIntForTest(ctx, `SELECT count(*) FROM webhook_old_secrets WHERE secret LIKE 'enc:v1:%'`)
	require.NoError(t, err)
	assert.EqualValues(t, 1, stored)
	got, err := stores[1].FindWebhookSecrets(ctx, wh.ID)
	require.NoError(t, err)
	assert.Equal(t, rotated, got.Current)
	require.Len(t, got.Old, 1)
	assert.Equal(t, secret, got.Old[0].Secret)

	_, err = postgres.Open(ctx, url, postgres.Options{})
	assert.ErrorIs(t, err, db.ErrEncryptionKeyRequired)
	_, err = postgres.Open(ctx, url, postgres.Options{EncryptionKey: otherKey})
	assert.ErrorIs(t, err, db.ErrEncryptionKeyWrong)
}

// A webhook whose secret does not decrypt is reported in Claimed.Failed with its work left
// pending, and the other webhooks' work is claimed.
func TestClaimSkipsAWebhookWhoseSecretDoesNotDecrypt(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _ := newStore(t)
	broken := webhook(t, s, "https://broken.test/hook")
	fine := webhook(t, s, "https://fine.test/hook")
	event(t, s, "a.b", 1)
	require.NoError(t, s.ExecForTest(ctx, `UPDATE webhooks SET secret = 'enc:v1:AAAA', version = version + 1 WHERE public_id = ?`, broken.ID))

	got := claim(t, s, time.Minute, db.ClaimRequest{WebhookID: broken.ID, Limit: 1}, db.ClaimRequest{WebhookID: fine.ID, Limit: 1})
	require.Len(t, got.Claims, 1)
	assert.Equal(t, fine.ID, got.Claims[0].WebhookID)
	require.Contains(t, got.Failed, broken.ID)
	assert.ErrorIs(t, got.Failed[broken.ID], db.ErrEncryptionKeyRequired)
	assert.Equal(t, db.StatePending, deliveries(t, s, broken.ID)[0].State)
}

// A change made through one instance governs the other's next claim, although claims cache
// what they read of a webhook.
func TestClaimFollowsChangesFromAnotherInstance(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, _ := twoStores(t, postgres.Options{EncryptionKey: key})
	wh := webhook(t, a, "https://old.test/hook")
	attempt := func() db.Claimed {
		t.Helper()
		event(t, b, "a.b", 1)
		got := claim(t, a, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1})
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
