package sqlite_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/db/sqlite"
	"github.com/hookrelay/hookrelay/webhook"
)

func newKey() []byte {
	k := make([]byte, db.EncryptionKeySize)
	rand.Read(k)
	return k
}

// openWith opens path with o; the store is closed when the test ends.
func openWith(t *testing.T, path string, o sqlite.Options) *sqlite.DB {
	t.Helper()
	store, err := sqlite.Open(context.Background(), path, o)
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	return store
}

// signingSecrets ingests an event for the webhook and returns the secrets its claim would
// be signed with.
func signingSecrets(t *testing.T, store *sqlite.DB, webhookID string) []string {
	t.Helper()
	dbtest.Event(t, store, "x", 1)
	c := claim(t, store, time.Minute, db.ClaimRequest{WebhookID: webhookID, Limit: 100})
	require.NotEmpty(t, c.Claims)
	return c.Claims[0].Secrets
}

func TestRotateSecretSignsWithBothDuringTheGracePeriod(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	clock := dbtest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	store.Clock = clock.Now
	ctx := context.Background()
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

func TestRotateSecretKeepsAtMostThreeOldSecrets(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	clock := dbtest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	store.Clock = clock.Now
	wh := dbtest.Webhook(t, store, "https://a.test/")
	secrets := []string{wh.Secret}
	for range 5 {
		clock.Add(time.Minute)
		s := webhook.NewSecret()
		_, err := store.RotateSecret(context.Background(), wh.ID, s, db.MaxGracePeriod)
		require.NoError(t, err)
		secrets = append(secrets, s)
	}
	// Newest first: the current one and the three secrets it replaced most recently.
	want := []string{secrets[5], secrets[4], secrets[3], secrets[2]}
	assert.Equal(t, want, signingSecrets(t, store, wh.ID))
	assert.Equal(t, 3, db.MaxOldSecrets)
	assert.Equal(t, 3, countRows(t, store, "webhook_old_secrets"), "dropped secrets are deleted, not just unused")
}

func TestRotateSecretGraceEndsForEveryOldSecret(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	clock := dbtest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	store.Clock = clock.Now
	ctx := context.Background()
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
	assert.Zero(t, countRows(t, store, "webhook_old_secrets"))
}

func TestRotateSecretRefusals(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	ctx := context.Background()
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

func TestDeletingAWebhookDeletesItsOldSecrets(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	ctx := context.Background()
	wh := dbtest.Webhook(t, store, "https://a.test/")
	_, err := store.RotateSecret(ctx, wh.ID, webhook.NewSecret(), time.Hour)
	require.NoError(t, err)
	require.Equal(t, 1, countRows(t, store, "webhook_old_secrets"))
	require.NoError(t, store.DeleteWebhook(ctx, wh.ID))
	assert.Zero(t, countRows(t, store, "webhook_old_secrets"))
}

// rawSecrets reads every stored secret column straight from the file, as an attacker with a
// copy of the database would.
func rawSecrets(t *testing.T, path string) []string {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	require.NoError(t, err)
	defer raw.Close()
	rows, err := raw.Query(`SELECT secret FROM webhooks UNION ALL SELECT secret FROM webhook_old_secrets`)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

func countRows(t *testing.T, store *sqlite.DB, table string) int {
	t.Helper()
	n, err := store.CountRowsForTest(context.Background(), table)
	require.NoError(t, err)
	return n
}

// rawFile returns the bytes of the database file and its WAL.
func rawFile(t *testing.T, path string) []byte {
	t.Helper()
	var all []byte
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		all = append(all, b...)
	}
	return all
}

func TestSecretsAreEncryptedAtRest(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "hookrelay.db")
	key := newKey()
	store := openWith(t, path, sqlite.Options{EncryptionKey: key})
	ctx := context.Background()
	first := webhook.NewSecret()
	wh, err := store.CreateWebhook(ctx, db.NewWebhook{URL: "https://a.test/", EventTypes: []string{"*"}, Secret: first, Enabled: true})
	require.NoError(t, err)
	second := webhook.NewSecret()
	_, err = store.RotateSecret(ctx, wh.ID, second, time.Hour)
	require.NoError(t, err)

	stored := rawSecrets(t, path)
	require.Len(t, stored, 2)
	for _, s := range stored {
		assert.True(t, strings.HasPrefix(s, "enc:v1:"), "stored as %q", s)
		assert.NotContains(t, s, strings.TrimPrefix(first, "whsec_"))
		assert.NotContains(t, s, strings.TrimPrefix(second, "whsec_"))
	}
	file := rawFile(t, path)
	for _, s := range []string{first, second} {
		assert.False(t, bytes.Contains(file, []byte(strings.TrimPrefix(s, "whsec_"))), "the secret is nowhere in the file")
	}

	// Everything that reads a secret gets the plaintext.
	got, err := store.FindWebhook(ctx, wh.ID)
	require.NoError(t, err)
	assert.Equal(t, second, got.Secret)
	list, err := store.ListWebhooks(ctx)
	require.NoError(t, err)
	assert.Equal(t, second, list[0].Secret)
	assert.Equal(t, []string{second, first}, signingSecrets(t, store, wh.ID))
}

func TestEncryptionKeyAtStart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "hookrelay.db")
	ctx := context.Background()

	// A database from before encryption: secrets in plaintext.
	plain, err := sqlite.Open(ctx, path, sqlite.Options{})
	require.NoError(t, err)
	a := dbtest.Webhook(t, plain, "https://a.test/")
	b := dbtest.Webhook(t, plain, "https://b.test/")
	_, err = plain.RotateSecret(ctx, b.ID, webhook.NewSecret(), time.Hour)
	require.NoError(t, err)
	before, err := plain.FindWebhookSecrets(ctx, b.ID)
	require.NoError(t, err)
	require.NoError(t, plain.Close())
	assert.Contains(t, rawSecrets(t, path), a.Secret)

	// The first start with a key encrypts every stored secret.
	key := newKey()
	store, err := sqlite.Open(ctx, path, sqlite.Options{EncryptionKey: key})
	require.NoError(t, err)
	for _, s := range rawSecrets(t, path) {
		assert.True(t, strings.HasPrefix(s, "enc:v1:"), "stored as %q", s)
	}
	file := rawFile(t, path)
	for _, s := range append([]string{a.Secret}, before.All()...) {
		assert.False(t, bytes.Contains(file, []byte(strings.TrimPrefix(s, "whsec_"))), "no plaintext copy is left in free pages or the WAL")
	}
	after, err := store.FindWebhookSecrets(ctx, b.ID)
	require.NoError(t, err)
	assert.Equal(t, before, after)
	require.NoError(t, store.Close())

	// Without the key, or with another, the start fails and says why.
	_, err = sqlite.Open(ctx, path, sqlite.Options{})
	assert.ErrorIs(t, err, db.ErrEncryptionKeyRequired)
	_, err = sqlite.Open(ctx, path, sqlite.Options{EncryptionKey: newKey()})
	assert.ErrorIs(t, err, db.ErrEncryptionKeyWrong)
	_, err = sqlite.Open(ctx, path, sqlite.Options{EncryptionKey: []byte("short")})
	assert.ErrorContains(t, err, "32 bytes")

	// With the key again, everything is as it was.
	store = openWith(t, path, sqlite.Options{EncryptionKey: key})
	got, err := store.FindWebhook(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, a.Secret, got.Secret)
}

// A ciphertext is bound to its webhook: copied into another webhook's row, it does not
// decrypt, so an attacker who can write the file cannot make one webhook sign with
// another's secret.
func TestEncryptedSecretIsBoundToItsWebhook(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "hookrelay.db")
	key := newKey()
	store, err := sqlite.Open(context.Background(), path, sqlite.Options{EncryptionKey: key})
	require.NoError(t, err)
	a := dbtest.Webhook(t, store, "https://a.test/")
	dbtest.Webhook(t, store, "https://b.test/")
	require.NoError(t, store.Close())

	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	_, err = raw.Exec(`UPDATE webhooks SET secret = (SELECT secret FROM webhooks WHERE public_id = ?) WHERE public_id != ?`, a.ID, a.ID)
	require.NoError(t, err)
	require.NoError(t, raw.Close())

	_, err = sqlite.Open(context.Background(), path, sqlite.Options{EncryptionKey: key})
	assert.ErrorIs(t, err, db.ErrEncryptionKeyWrong)
}
