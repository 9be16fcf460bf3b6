package sqlite_test

import (
	"bytes"
	"context"
	"crypto/rand"
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

// The conformance suite (db/storetest) checks that secrets are stored encrypted and how a
// key is handled at start. What is left here is about SQLite's file: no plaintext copy may
// survive in it, in its free pages or in its WAL.

func newKey() []byte {
	k := make([]byte, db.EncryptionKeySize)
	rand.Read(k)
	return k
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
	store, err := sqlite.Open(context.Background(), path, sqlite.Options{EncryptionKey: newKey()})
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	first := webhook.NewSecret()
	wh, err := store.CreateWebhook(ctx, db.NewWebhook{URL: "https://a.test/", EventTypes: []string{"*"}, Secret: first, Enabled: true})
	require.NoError(t, err)
	second := webhook.NewSecret()
	_, err = store.RotateSecret(ctx, wh.ID, second, time.Hour)
	require.NoError(t, err)

	file := rawFile(t, path)
	for _, s := range []string{first, second} {
		assert.False(t, bytes.Contains(file, []byte(strings.TrimPrefix(s, "whsec_"))), "the secret is nowhere in the file")
	}
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
	plaintexts := append([]string{a.Secret}, before.All()...)
	require.True(t, bytes.Contains(rawFile(t, path), []byte(strings.TrimPrefix(a.Secret, "whsec_"))), "the file holds the plaintext")

	// The first start with a key encrypts every stored secret and leaves no copy behind.
	store, err := sqlite.Open(ctx, path, sqlite.Options{EncryptionKey: newKey()})
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	file := rawFile(t, path)
	for _, s := range plaintexts {
		assert.False(t, bytes.Contains(file, []byte(strings.TrimPrefix(s, "whsec_"))), "no plaintext copy is left in free pages or the WAL")
	}
}
