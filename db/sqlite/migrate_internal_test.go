package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/db"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMigrationsKeepData applies the migrations up to 0006 to a fresh file, stores a webhook,
// an event, a delivery and two attempts the way that schema held them, then opens the file
// normally (which applies the rest) and reads everything back through the store.
func TestMigrationsKeepData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	require.NoError(t, err)
	_, err = raw.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`)
	require.NoError(t, err)
	names, err := fs.Glob(migrations, "migrations/*.sql")
	require.NoError(t, err)
	sort.Strings(names)
	for _, name := range names {
		v, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(name, "migrations/"), "_", 2)[0])
		require.NoError(t, err)
		if v > 6 {
			break
		}
		body, err := migrations.ReadFile(name)
		require.NoError(t, err)
		_, err = raw.ExecContext(ctx, string(body))
		require.NoError(t, err, name)
		_, err = raw.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (?, 0)`, v)
		require.NoError(t, err)
	}
	for _, q := range []string{
		`INSERT INTO webhooks (id, public_id, url, event_types, secret, enabled, created_at, updated_at)
			VALUES (1, 'whk_old', 'https://old.test/', '["*"]', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 1, 0, 0)`,
		`INSERT INTO events (id, public_id, event_type, occurred_at, body, fanout, created_at)
			VALUES (1, 'evt_old', 'a.b', 0, '{}', 1, 0)`,
		`INSERT INTO deliveries (id, public_id, event_id, webhook_id, state, attempts, created_at, updated_at)
			VALUES (1, 'dlv_old', 1, 1, 'failed', 2, 0, 0)`,
		`INSERT INTO attempts (delivery_id, number, trigger, attempted_at, status_code, duration_ms, response_body, signature)
			VALUES (1, 1, 'scheduled', 1000, 503, 12, x'646f776e', 'v1,a'), (1, 2, 'manual', 2000, NULL, 30, x'', 'v1,b')`,
		// 0012 rebuilds the alert tables: an alert, its failure and the streak pointing at it.
		`INSERT INTO alerts (id, public_id, kind, webhook_public_id, webhook_url, failing_since, window_ends_at, state,
			next_attempt_at, created_at, updated_at) VALUES (7, 'alr_old', 'digest', 'whk_old', 'https://old.test/', 1000, 5000,
			'pending', 5000, 1000, 1000)`,
		`INSERT INTO alert_failures (alert_id, webhook_id, webhook_public_id, webhook_url, delivery_public_id,
			event_public_id, event_type, attempts, status_code, error, first_attempt_at, failed_at)
			VALUES (7, 1, 'whk_old', 'https://old.test/', 'dlv_old', 'evt_old', 'a.b', 2, 503, 'HTTP 503', 1000, 2000)`,
		`INSERT INTO alert_streaks (webhook_id, last_failure_at, failing_since, window_ends_at, digest_id)
			VALUES (1, 2000, 1000, 5000, 7)`,
	} {
		_, err := raw.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	require.NoError(t, raw.Close())

	s, err := Open(ctx, path, Options{})
	require.NoError(t, err)
	defer s.Close()
	as, err := s.ListAttempts(ctx, "dlv_old")
	require.NoError(t, err)
	require.Len(t, as, 2)
	assert.Equal(t, []int{1, 2}, []int{as[0].Number, as[1].Number})
	assert.Equal(t, "down", string(as[0].ResponseBody))
	assert.Equal(t, 503, as[0].StatusCode)
	assert.Equal(t, db.TriggerManual, as[1].Trigger)
	d, err := s.FindDelivery(ctx, "dlv_old")
	require.NoError(t, err)
	assert.Equal(t, db.StateFailed, d.State)
	e, err := s.FindEvent(ctx, "evt_old")
	require.NoError(t, err)
	assert.Equal(t, "a.b", e.Type)
	a, err := s.FindAlert(ctx, "alr_old")
	require.NoError(t, err)
	assert.Equal(t, db.AlertDigest, a.Kind)
	assert.Equal(t, 1, a.DeliveryCount)
	assert.Equal(t, "dlv_old", a.Last.DeliveryID)
	var digest int64
	require.NoError(t, s.reader.QueryRowContext(ctx, `SELECT digest_id FROM alert_streaks WHERE webhook_id = 1`).Scan(&digest))
	assert.Equal(t, int64(7), digest, "the streak still points at its digest")
	var broken int
	require.NoError(t, s.reader.QueryRowContext(ctx, `SELECT count(*) FROM pragma_foreign_key_check`).Scan(&broken))
	assert.Zero(t, broken, "every reference resolves after the rebuild")
	var refs string
	require.NoError(t, s.reader.QueryRowContext(ctx, `SELECT group_concat("table") FROM (SELECT DISTINCT "table" FROM pragma_foreign_key_list('alert_failures') ORDER BY 1)`).Scan(&refs))
	assert.Equal(t, "alerts,webhooks", refs, "alert_failures references the rebuilt alerts table by name")
	var n int
	require.NoError(t, s.reader.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n))
	assert.Equal(t, len(names), n, fmt.Sprint("every migration recorded: ", names))
}
