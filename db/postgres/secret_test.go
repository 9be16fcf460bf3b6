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
