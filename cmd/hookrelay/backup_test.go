package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db/dbtest"
)

func TestBackupCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	live := filepath.Join(dir, "live.db")
	store := dbtest.Open(t, live) // open, as a running server holds it
	dbtest.Webhook(t, store, "https://wh.test/hook")
	to := filepath.Join(dir, "backup.db")

	code, out, errOut := cli(t, "backup", "--db", live, "--to", to)
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, regexp.MustCompile(`^backed up .*live\.db to .*backup\.db \(\d+ bytes\)\n$`), out)
	hooks, err := dbtest.Open(t, to).ListWebhooks(t.Context())
	require.NoError(t, err)
	assert.Len(t, hooks, 1)

	// Never over an existing file, not even an earlier backup.
	code, _, errOut = cli(t, "backup", "--db", live, "--to", to)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "backup.db exists already: a backup never overwrites a file")
}

func TestBackupCommandErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	to := filepath.Join(dir, "backup.db")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no target", []string{"backup", "--db", filepath.Join(dir, "x.db")}, 2, "missing --to FILE"},
		{"no database", []string{"backup", "--db", filepath.Join(dir, "missing.db"), "--to", to}, 1, "no database at " + filepath.Join(dir, "missing.db")},
		{"postgres", []string{"backup", "--db", "postgres://hookrelay:s3cret@db.internal/hookrelay", "--to", to}, 1, "for PostgreSQL use pg_dump"},
		{"postgresql", []string{"backup", "--db", "postgresql://db.internal/hookrelay", "--to", to}, 1, "pg_dump --format=custom"},
		{"stray argument", []string{"backup", "--to", to, "now"}, 2, `unexpected argument "now"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, _, errOut := cli(t, tc.args...)
			assert.Equal(t, tc.code, code)
			assert.Contains(t, errOut, tc.want)
			assert.NotContains(t, errOut, "s3cret", "a URL's password is never printed")
		})
	}
	_, err := os.Stat(to)
	assert.ErrorIs(t, err, os.ErrNotExist, "no failed backup leaves a file")
	_, err = os.Stat(filepath.Join(dir, "missing.db"))
	assert.ErrorIs(t, err, os.ErrNotExist, "no database is created by a backup")
}

func TestBackupTakesTheDatabaseFromTheEnvironment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	live := filepath.Join(dir, "env.db")
	dbtest.Open(t, live)
	to := filepath.Join(dir, "backup.db")
	var out, errOut strings.Builder
	code := runMain(t.Context(), []string{"backup", "--to", to}, process{getenv: env(with(validEnv, "HOOKRELAY_DB", live)), stdout: &out, stderr: &errOut})
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, out.String(), "backed up "+live)
}
