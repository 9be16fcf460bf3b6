package storetest

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/webhook"
)

func secretTests() []test {
	return []test{
		{"RotateSecretSignsWithBothDuringTheGracePeriod", testRotateSecretSignsWithBothDuringTheGracePeriod},
		{"RotateSecretKeepsAtMostThreeOldSecrets", testRotateSecretKeepsAtMostThreeOldSecrets},
		{"RotateSecretGraceEndsForEveryOldSecret", testRotateSecretGraceEndsForEveryOldSecret},
		{"RotateSecretRefusals", testRotateSecretRefusals},
		{"DeletingAWebhookDeletesItsOldSecrets", testDeletingAWebhookDeletesItsOldSecrets},
		{"SecretsAreEncryptedAtRest", testSecretsAreEncryptedAtRest},
		{"EncryptionKeyAtStart", testEncryptionKeyAtStart},
		{"EncryptedSecretIsBoundToItsWebhook", testEncryptedSecretIsBoundToItsWebhook},
	}
}

func newKey() []byte {
	k := make([]byte, db.EncryptionKeySize)
	rand.Read(k)
	return k
}

// signingSecrets ingests an event for the webhook and returns the secrets its claim would
// be signed with.
func signingSecrets(t *testing.T, store Store, webhookID string) []string {
	t.Helper()
	dbtest.Event(t, store, "x", 1)
	c := claim(t, store, held, db.ClaimRequest{WebhookID: webhookID, Limit: 100})
	require.NotEmpty(t, c.Claims)
	return c.Claims[0].Secrets
}

// deletePlaintext looks at the secret columns as an attacker with a copy of the database
// would: it deletes every row whose stored secret is not a ciphertext ("enc:v1:…") or
// contains one of the plaintexts, and returns how many rows that was. The harness has no
// query, so it counts the rows before and after.
func deletePlaintext(t *testing.T, h Harness, store Store, plaintexts ...string) int {
	t.Helper()
	n := 0
	for _, table := range []string{"webhook_old_secrets", "webhooks"} {
		before := h.Count(t, store, table)
		h.Exec(t, store, `DELETE FROM `+table+` WHERE secret NOT LIKE 'enc:v1:%'`)
		for _, p := range plaintexts {
			h.Exec(t, store, `DELETE FROM `+table+` WHERE secret LIKE ?`, "%"+strings.TrimPrefix(p, "whsec_")+"%")
		}
		n += before - h.Count(t, store, table)
	}
	return n
}

func testRotateSecretSignsWithBothDuringTheGracePeriod(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()
	wh := dbtest.Webhook(t, store, "https://a.test/")
	first := wh.Secret
	assert.Equal(t, []string{first}, signingSecrets(t, store, wh.ID))

	second := webhook.NewSecret()
	got, err := store.RotateSecret(ctx, wh.ID, second, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, second, got.Current)
	require.Len(t, got.Old, 1)
	assert.Equal(t, db.OldSecret{Secret: first, RotatedAt: clock.Now(), ExpiresAt: clock.Now().Add(time.Hour)}, got.Old[0])
	found, err := store.FindWebhookSecrets(ctx, wh.ID)
	require.NoError(t, err)
	assert.Equal(t, got, found)
	w, err := store.FindWebhook(ctx, wh.ID)
	require.NoError(t, err)
	assert.Equal(t, second, w.Secret)

	assert.Equal(t, []string{second, first}, signingSecrets(t, store, wh.ID), "new first, old last")
	clock.Add(time.Hour - time.Millisecond)
	assert.Equal(t, []string{second, first}, signingSecrets(t, store, wh.ID))
	clock.Add(time.Millisecond)
	assert.Equal(t, []string{second}, signingSecrets(t, store, wh.ID), "after the grace period only the new one")
	found, err = store.FindWebhookSecrets(ctx, wh.ID)
	require.NoError(t, err)
	assert.Empty(t, found.Old)
}

func testRotateSecretKeepsAtMostThreeOldSecrets(t *testing.T, h Harness) {
	store, clock := open(t, h)
	wh := dbtest.Webhook(t, store, "https://a.test/")
	secrets := []string{wh.Secret}
	for range 5 {
		clock.Add(time.Minute)
		s := webhook.NewSecret()
		_, err := store.RotateSecret(t.Context(), wh.ID, s, db.MaxGracePeriod)
		require.NoError(t, err)
		secrets = append(secrets, s)
	}
	// Newest first: the current one and the three secrets it replaced most recently.
	want := []string{secrets[5], secrets[4], secrets[3], secrets[2]}
	assert.Equal(t, want, signingSecrets(t, store, wh.ID))
	assert.Equal(t, 3, db.MaxOldSecrets)
	assert.Equal(t, 3, h.Count(t, store, "webhook_old_secrets"), "dropped secrets are deleted, not just unused")
}

func testRotateSecretGraceEndsForEveryOldSecret(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()
	wh := dbtest.Webhook(t, store, "https://a.test/")
	a := wh.Secret
	b, c := webhook.NewSecret(), webhook.NewSecret()
	_, err := store.RotateSecret(ctx, wh.ID, b, 7*24*time.Hour)
	require.NoError(t, err)

	// A second rotation with a shorter grace period ends the first one's too.
	got, err := store.RotateSecret(ctx, wh.ID, c, time.Hour)
	require.NoError(t, err)
	require.Len(t, got.Old, 2)
	for _, o := range got.Old {
		assert.Equal(t, clock.Now().Add(time.Hour), o.ExpiresAt)
	}
	assert.Equal(t, []string{c, b, a}, signingSecrets(t, store, wh.ID))

	// Grace 0 (a leaked secret): only the new one signs, at once.
	d := webhook.NewSecret()
	got, err = store.RotateSecret(ctx, wh.ID, d, 0)
	require.NoError(t, err)
	assert.Empty(t, got.Old)
	assert.Equal(t, []string{d}, signingSecrets(t, store, wh.ID))
	assert.Zero(t, h.Count(t, store, "webhook_old_secrets"))
}

func testRotateSecretRefusals(t *testing.T, h Harness) {
	store, _ := open(t, h)
	ctx := t.Context()
	wh := dbtest.Webhook(t, store, "https://a.test/")
	next := webhook.NewSecret()
	_, err := store.RotateSecret(ctx, wh.ID, wh.Secret, time.Hour)
	assert.ErrorIs(t, err, db.ErrSecretInUse, "the current secret")
	_, err = store.RotateSecret(ctx, wh.ID, next, time.Hour)
	require.NoError(t, err)
	_, err = store.RotateSecret(ctx, wh.ID, wh.Secret, time.Hour)
	assert.ErrorIs(t, err, db.ErrSecretInUse, "an old secret still in use")
	assert.ErrorIs(t, err, db.ErrConflict)

	_, err = store.RotateSecret(ctx, "whk_missing", webhook.NewSecret(), time.Hour)
	assert.ErrorIs(t, err, db.ErrNotFound)
	_, err = store.FindWebhookSecrets(ctx, "whk_missing")
	assert.ErrorIs(t, err, db.ErrNotFound)
	for _, g := range []time.Duration{-time.Second, db.MaxGracePeriod + time.Second} {
		_, err = store.RotateSecret(ctx, wh.ID, webhook.NewSecret(), g)
		assert.Error(t, err, "grace %s", g)
	}
	s, err := store.FindWebhookSecrets(ctx, wh.ID)
	require.NoError(t, err)
	assert.Equal(t, next, s.Current, "refused rotations change nothing")
}

func testDeletingAWebhookDeletesItsOldSecrets(t *testing.T, h Harness) {
	store, _ := open(t, h)
	ctx := t.Context()
	wh := dbtest.Webhook(t, store, "https://a.test/")
	_, err := store.RotateSecret(ctx, wh.ID, webhook.NewSecret(), time.Hour)
	require.NoError(t, err)
	require.Equal(t, 1, h.Count(t, store, "webhook_old_secrets"))
	require.NoError(t, store.DeleteWebhook(ctx, wh.ID))
	assert.Zero(t, h.Count(t, store, "webhook_old_secrets"))
}

func testSecretsAreEncryptedAtRest(t *testing.T, h Harness) {
	store := h.Open(t, Options{EncryptionKey: newKey()})
	ctx := t.Context()
	first := webhook.NewSecret()
	wh, err := store.CreateWebhook(ctx, db.NewWebhook{URL: "https://a.test/", EventTypes: []string{"*"}, Secret: first, Enabled: true})
	require.NoError(t, err)
	second := webhook.NewSecret()
	_, err = store.RotateSecret(ctx, wh.ID, second, time.Hour)
	require.NoError(t, err)
	require.Equal(t, 1, h.Count(t, store, "webhook_old_secrets"))

	// Everything that reads a secret gets the plaintext.
	got, err := store.FindWebhook(ctx, wh.ID)
	require.NoError(t, err)
	assert.Equal(t, second, got.Secret)
	list, err := store.ListWebhooks(ctx)
	require.NoError(t, err)
	assert.Equal(t, second, list[0].Secret)
	assert.Equal(t, []string{second, first}, signingSecrets(t, store, wh.ID))

	assert.Zero(t, deletePlaintext(t, h, store, first, second), "every stored secret is encrypted")
}

func testEncryptionKeyAtStart(t *testing.T, h Harness) {
	ctx := t.Context()

	// A database from before encryption: secrets in plaintext.
	plain := h.Open(t, Options{})
	a := dbtest.Webhook(t, plain, "https://a.test/")
	b := dbtest.Webhook(t, plain, "https://b.test/")
	_, err := plain.RotateSecret(ctx, b.ID, webhook.NewSecret(), time.Hour)
	require.NoError(t, err)
	before, err := plain.FindWebhookSecrets(ctx, b.ID)
	require.NoError(t, err)
	h.Exec(t, plain, `UPDATE webhooks SET description = 'stored in plaintext' WHERE secret = ?`, a.Secret)
	w, err := plain.FindWebhook(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, "stored in plaintext", w.Description)

	// The first start with a key encrypts every stored secret.
	key := newKey()
	store := openAgain(t, h, plain, Options{EncryptionKey: key})
	after, err := store.FindWebhookSecrets(ctx, b.ID)
	require.NoError(t, err)
	assert.Equal(t, before, after)
	assert.Zero(t, deletePlaintext(t, h, store, append([]string{a.Secret}, before.All()...)...), "every stored secret is encrypted")

	// Without the key, or with another, the start fails and says why.
	_, err = h.OpenAgain(t, plain, Options{})
	assert.ErrorIs(t, err, db.ErrEncryptionKeyRequired)
	_, err = h.OpenAgain(t, plain, Options{EncryptionKey: newKey()})
	assert.ErrorIs(t, err, db.ErrEncryptionKeyWrong)
	_, err = h.OpenAgain(t, plain, Options{EncryptionKey: []byte("short")})
	assert.ErrorContains(t, err, "32 bytes")

	// With the key again, everything is as it was.
	again := openAgain(t, h, plain, Options{EncryptionKey: key})
	got, err := again.FindWebhook(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, a.Secret, got.Secret)
	after, err = again.FindWebhookSecrets(ctx, b.ID)
	require.NoError(t, err)
	assert.Equal(t, before, after)
}

// A ciphertext is bound to its webhook: copied into another webhook's row, it does not
// decrypt, so an attacker who can write the database cannot make one webhook sign with
// another's secret.
func testEncryptedSecretIsBoundToItsWebhook(t *testing.T, h Harness) {
	key := newKey()
	store := h.Open(t, Options{EncryptionKey: key})
	a := dbtest.Webhook(t, store, "https://a.test/")
	dbtest.Webhook(t, store, "https://b.test/")
	h.Exec(t, store, `UPDATE webhooks SET secret = (SELECT secret FROM webhooks WHERE public_id = ?) WHERE public_id <> ?`, a.ID, a.ID)

	_, err := h.OpenAgain(t, store, Options{EncryptionKey: key})
	assert.ErrorIs(t, err, db.ErrEncryptionKeyWrong)
}
