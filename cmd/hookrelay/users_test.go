package main

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
)

func userCLI(t *testing.T, dbPath, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := env(map[string]string{"HOOKRELAY_PASSWORD_COST": "4", "HOOKRELAY_DB": dbPath})
	code = runMain(t.Context(), args, process{getenv: e, stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut})
	return code, out.String(), errOut.String()
}

// hookrelay user create makes users with a role, recorded in the audit log as the command's
// doing; admin create is user create with the role admin; user list shows them.
func TestUserCreateAndList(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "hookrelay.db")
	code, out, errOut := userCLI(t, dbPath, "", "user", "list")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "no users yet")

	code, out, errOut = userCLI(t, dbPath, "a password from stdin\n", "user", "create", "--email", "viewer@example.com", "--role", "viewer")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "created viewer viewer@example.com (usr_")
	code, _, errOut = userCLI(t, dbPath, "another password\n", "user", "create", "--email", "ops@example.com", "--role", "operator", "--must-change-password")
	require.Equal(t, 0, code, errOut)
	code, out, errOut = userCLI(t, dbPath, "admin password\n", "admin", "create", "--email", "boss@example.com")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "created admin boss@example.com")

	code, out, errOut = userCLI(t, dbPath, "", "user", "list")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	assert.Regexp(t, `^EMAIL\s+ROLE\s+STATUS\s+CREATED\s+ID$`, lines[0])
	assert.Regexp(t, `^viewer@example.com\s+viewer\s+enabled\s+\S+Z\s+usr_`, lines[1])
	assert.Regexp(t, `^ops@example.com\s+operator\s+enabled, must change password\s+`, lines[2])
	assert.Regexp(t, `^boss@example.com\s+admin\s+enabled\s+`, lines[3])

	store := dbtest.Open(t, dbPath)
	ops, err := store.FindUserByEmail(t.Context(), "ops@example.com")
	require.NoError(t, err)
	assert.Equal(t, db.RoleOperator, ops.Role)
	assert.True(t, ops.MustChangePassword)
	assert.True(t, strings.HasPrefix(ops.PasswordHash, "$2a$04$"))
	recs, _, err := store.ListAudit(t.Context(), db.AuditFilter{Action: db.AuditUserCreate})
	require.NoError(t, err)
	require.Len(t, recs, 3)
	assert.Equal(t, db.Actor{Kind: db.ActorCommand, Name: "hookrelay admin create"}, recs[0].Actor)
	assert.Equal(t, db.Actor{Kind: db.ActorCommand, Name: "hookrelay user create"}, recs[1].Actor)
	assert.Equal(t, "email ops@example.com; role operator; initial password, to be changed at first sign-in", recs[1].Summary)
	assert.Equal(t, db.AuditTarget{Kind: db.TargetUser, ID: ops.ID}, recs[1].Target)
	for _, r := range recs {
		assert.NotContains(t, r.Summary, "password from stdin")
	}

	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		code  int
		want  string
	}{
		{"no role", []string{"user", "create", "--email", "x@example.com"}, "long enough password\n", 2, "--role is required"},
		{"bad role", []string{"user", "create", "--email", "x@example.com", "--role", "ingest"}, "long enough password\n", 1, "invalid --role: must be viewer, operator or admin"},
		{"taken", []string{"user", "create", "--email", "VIEWER@example.com", "--role", "admin"}, "long enough password\n", 1, "a user with the email VIEWER@example.com already exists"},
		{"no password", []string{"user", "create", "--email", "x@example.com", "--role", "viewer"}, "", 1, "no password given on stdin"},
		{"extra argument", []string{"user", "list", "now"}, "", 2, `unexpected argument "now"`},
		{"unknown command", []string{"user", "delete"}, "", 2, `unknown user command "delete"`},
	} {
		code, _, errOut := userCLI(t, dbPath, tc.stdin, tc.args...)
		assert.Equal(t, tc.code, code, tc.name)
		assert.Contains(t, errOut, tc.want, tc.name)
	}
}

func TestUserCommandsHaveHelp(t *testing.T) {
	t.Parallel()
	_, out, _ := cli(t, "user", "create", "--help")
	for _, want := range []string{"-email", "-role", "-db", "-must-change-password", "viewer|operator|admin"} {
		assert.Contains(t, out, want)
	}
	_, out, _ = cli(t, "--help")
	assert.Contains(t, out, "  user create ")
	assert.Contains(t, out, "  user list ")
	_, out, _ = cli(t, "admin", "create", "--help")
	assert.NotContains(t, out, "  -role", "admin create is always an admin")
	code, _, _ := cli(t, "user", "list", "--help")
	assert.Equal(t, 0, code)
}

func TestFirstAdminIsRecordedInTheAuditLog(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	cfg := Config{AdminEmail: "first@example.com", AdminPassword: "first password!", PasswordCost: 4}
	require.NoError(t, createFirstAdmin(t.Context(), cfg, store, slog.New(slog.DiscardHandler)))
	require.NoError(t, createFirstAdmin(t.Context(), cfg, store, slog.New(slog.DiscardHandler)), "a second start adds nothing")
	recs, _, err := store.ListAudit(t.Context(), db.AuditFilter{})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, db.Actor{Kind: db.ActorCommand, Name: "HOOKRELAY_ADMIN_EMAIL"}, recs[0].Actor)
	assert.Equal(t, db.AuditUserCreate, recs[0].Action)
	u, err := store.FindUserByEmail(t.Context(), "first@example.com")
	require.NoError(t, err)
	assert.Equal(t, db.RoleAdmin, u.Role)
	assert.Equal(t, u.ID, recs[0].Target.ID)
}
