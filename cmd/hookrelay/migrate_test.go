package main

import (
	"bytes"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/db/postgres"
	"github.com/hookrelay/hookrelay/db/sqlite"
	"github.com/hookrelay/hookrelay/internal/pgtest"
)

// TestMigrateStore moves a SQLite database with history and pending work into PostgreSQL:
// everything reads back the same, secrets included, the pending delivery is claimed from
// the new store, and a second copy into the now non-empty target is refused.
func TestMigrateStore(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	key := make([]byte, db.EncryptionKeySize)
	for i := range key {
		key[i] = byte(i * 7)
	}
	path := filepath.Join(t.TempDir(), "hookrelay.db")
	src, err := sqlite.Open(ctx, path, sqlite.Options{EncryptionKey: key})
	require.NoError(t, err)
	ok := dbtest.Webhook(t, src, "https://ok.test/hook", "ok.*")
	bad := dbtest.Webhook(t, src, "https://bad.test/hook", "bad.*")
	_, err = src.RotateSecret(ctx, ok.ID, "whsec_"+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 24)), time.Hour)
	require.NoError(t, err)
	for i := range 3 {
		dbtest.Event(t, src, "ok.x", i)
	}
	dbtest.Event(t, src, "bad.x", 1)
	dbtest.Succeed(t, src, ok.ID)
	dbtest.Fail(t, src, bad.ID, 503)
	_, err = src.FoldAlertFailures(ctx, time.Hour)
	require.NoError(t, err)
	u, err := src.CreateUser(ctx, "ops@example.com", "$2a$04$hash")
	require.NoError(t, err)
	sess, err := src.CreateSession(ctx, u.ID, "", time.Now().Add(-time.Hour))
	require.NoError(t, err)
	setting, err := src.Setting(ctx, "session_key", []byte("k"))
	require.NoError(t, err)
	viewer, err := src.AddUser(ctx, db.NewUser{Email: "viewer@example.com", PasswordHash: "$2a$04$v", Role: db.RoleViewer, MustChangePassword: true})
	require.NoError(t, err)
	off := true
	viewer, err = src.UpdateUser(ctx, viewer.ID, db.UserUpdate{Disabled: &off})
	require.NoError(t, err)
	keySecret := db.NewAPIKeySecret()
	apiKey, err := src.CreateAPIKey(ctx, db.NewAPIKey{Name: "ci", Role: db.RoleIngest, Hash: db.HashToken(keySecret), ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	audit, err := src.AppendAudit(ctx, db.NewAuditRecord{Actor: db.SystemActor, Action: db.AuditWebhookDisable,
		Target: db.AuditTarget{Kind: db.TargetWebhook, ID: bad.ID}, Summary: "failing"})
	require.NoError(t, err)
	require.NoError(t, src.Close())

	target := pgtest.EmptyURL(t)
	e := map[string]string{"HOOKRELAY_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(key)}
	var out, errOut bytes.Buffer
	code := runMain(ctx, []string{"migrate-store", "--from", path, "--to", target}, process{getenv: env(e), stdout: &out, stderr: &errOut})
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, out.String(), "events  4")
	assert.Contains(t, out.String(), "deliveries  4")

	from, err := sqlite.Open(ctx, path, sqlite.Options{EncryptionKey: key})
	require.NoError(t, err)
	defer from.Close()
	to, err := postgres.Open(ctx, target, postgres.Options{EncryptionKey: key})
	require.NoError(t, err)
	defer to.Close()
	ws1, err := from.ListWebhooks(ctx)
	require.NoError(t, err)
	ws2, err := to.ListWebhooks(ctx)
	require.NoError(t, err)
	assert.Equal(t, ws1, ws2, "webhooks, with their secrets")
	for _, w := range []string{ok.ID, bad.ID} {
		s1, err := from.FindWebhookSecrets(ctx, w)
		require.NoError(t, err)
		s2, err := to.FindWebhookSecrets(ctx, w)
		require.NoError(t, err)
		assert.Equal(t, s1, s2, "secrets of %s, old ones included", w)
	}
	ev1, _, err := from.ListEvents(ctx, db.EventFilter{Limit: 500})
	require.NoError(t, err)
	ev2, _, err := to.ListEvents(ctx, db.EventFilter{Limit: 500})
	require.NoError(t, err)
	assert.Equal(t, ev1, ev2, "events")
	d1, _, err := from.ListDeliveries(ctx, db.DeliveryFilter{Limit: 500})
	require.NoError(t, err)
	d2, _, err := to.ListDeliveries(ctx, db.DeliveryFilter{Limit: 500})
	require.NoError(t, err)
	assert.Equal(t, d1, d2, "deliveries")
	for _, d := range d1 {
		a1, err := from.ListAttempts(ctx, d.ID)
		require.NoError(t, err)
		a2, err := to.ListAttempts(ctx, d.ID)
		require.NoError(t, err)
		assert.Equal(t, a1, a2, "attempts of %s", d.ID)
	}
	al1, _, err := from.ListAlerts(ctx, db.AlertFilter{})
	require.NoError(t, err)
	al2, _, err := to.ListAlerts(ctx, db.AlertFilter{})
	require.NoError(t, err)
	require.Len(t, al2, 1)
	assert.Equal(t, al1, al2, "alerts")
	gotUser, err := to.FindUserByEmail(ctx, "OPS@example.com")
	require.NoError(t, err)
	assert.Equal(t, u.ID, gotUser.ID)
	gotSess, err := to.FindSession(ctx, sess.ID)
	require.NoError(t, err, "a browser signed in before the move stays signed in")
	assert.Equal(t, u.ID, gotSess.User.ID)
	gotSetting, err := to.Setting(ctx, "session_key", []byte("other"))
	require.NoError(t, err)
	assert.Equal(t, setting, gotSetting)
	gotViewer, err := to.FindUser(ctx, viewer.ID)
	require.NoError(t, err)
	assert.Equal(t, viewer, gotViewer, "roles, disabled and must-change-password move too")
	gotKey, err := to.FindAPIKeyByHash(ctx, db.HashToken(keySecret))
	require.NoError(t, err, "an API key keeps working after the move")
	assert.Equal(t, apiKey, gotKey)
	gotAudit, _, err := to.ListAudit(ctx, db.AuditFilter{})
	require.NoError(t, err)
	assert.Equal(t, []db.AuditRecord{audit}, gotAudit, "the audit log moves with the rest")

	// Pending work goes on from the new store, and new rows do not collide with copied ids.
	claimed, err := to.ClaimDue(ctx, []db.ClaimRequest{{WebhookID: ok.ID, Limit: 10}}, time.Minute)
	require.NoError(t, err)
	assert.Len(t, claimed.Claims, 2, "the two pending deliveries")
	dbtest.Event(t, to, "ok.x", 9)

	code = runMain(ctx, []string{"migrate-store", "--from", path, "--to", target}, process{getenv: env(e), stdout: &out, stderr: &errOut})
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut.String(), "the target database is not empty")
	assert.False(t, strings.Contains(errOut.String(), "password"))
}
