package postgres_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/postgres"
	"github.com/hookrelay/hookrelay/internal/pgtest"
)

// The audit log is append-only in the database itself: not even SQL of another program may
// change, delete or truncate a record.
func TestAuditLogIsAppendOnly(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := postgres.Open(ctx, pgtest.URL(t), postgres.Options{})
	require.NoError(t, err)
	defer s.Close()
	_, err = s.AppendAudit(ctx, db.NewAuditRecord{Actor: db.SystemActor, Action: db.AuditWebhookDisable, Summary: "kept"})
	require.NoError(t, err)
	for _, q := range []string{`UPDATE audit_log SET summary = 'changed'`, `DELETE FROM audit_log`, `TRUNCATE audit_log`} {
		assert.ErrorContains(t, s.ExecForTest(ctx, q), "append-only", q)
	}
	recs, _, err := s.ListAudit(ctx, db.AuditFilter{})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "kept", recs[0].Summary)
}
