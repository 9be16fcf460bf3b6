package main

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/db/sqlite"
)

func TestUIConfigDefaultsAndErrors(t *testing.T) {
	t.Parallel()
	cfg, err := parseConfig(nil, env(validEnv), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 12*time.Hour, cfg.SessionTTL)
	assert.Empty(t, cfg.SessionKey)
	assert.Empty(t, cfg.BaseURL)
	assert.Equal(t, 20, cfg.SignInLimitPerIP)
	assert.Equal(t, 5, cfg.SignInLimitPerAccount)
	assert.Equal(t, 15*time.Minute, cfg.SignInLimitWindow)
	assert.Equal(t, 10, cfg.PasswordCost)

	cfg, err = parseConfig(nil, env(with(validEnv, "HOOKRELAY_BASE_URL", "https://hooks.example.com/", "HOOKRELAY_SESSION_TTL", "30m",
		"HOOKRELAY_ADMIN_EMAIL", "ops@example.com", "HOOKRELAY_ADMIN_PASSWORD", "a long password")), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "https://hooks.example.com", cfg.BaseURL)
	assert.Equal(t, 30*time.Minute, cfg.SessionTTL)

	for _, tc := range []struct{ name, key, value, want string }{
		{"bad email", "HOOKRELAY_ADMIN_EMAIL", "not an email", "HOOKRELAY_ADMIN_EMAIL (--admin-email)"},
		{"short password", "HOOKRELAY_ADMIN_PASSWORD", "short", "HOOKRELAY_ADMIN_PASSWORD (--admin-password): must be at least 10"},
		{"email without password", "HOOKRELAY_ADMIN_EMAIL", "ops@example.com", "set both or neither"},
		{"short session key", "HOOKRELAY_SESSION_KEY", "too short", "HOOKRELAY_SESSION_KEY (--session-key)"},
		{"ttl", "HOOKRELAY_SESSION_TTL", "forever", "HOOKRELAY_SESSION_TTL"},
		{"base url path", "HOOKRELAY_BASE_URL", "https://example.com/admin", "HOOKRELAY_BASE_URL (--base-url)"},
		{"base url scheme", "HOOKRELAY_BASE_URL", "ftp://example.com", "HOOKRELAY_BASE_URL"},
		{"limit", "HOOKRELAY_SIGNIN_LIMIT_PER_IP", "0", "HOOKRELAY_SIGNIN_LIMIT_PER_IP"},
		{"password cost", "HOOKRELAY_PASSWORD_COST", "3", "HOOKRELAY_PASSWORD_COST (--password-cost): want a whole number from 4 to 31"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig(nil, env(with(validEnv, tc.key, tc.value)), io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestUIConfigFromBaseURL(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	cfg, err := parseConfig(nil, env(with(validEnv, "HOOKRELAY_BASE_URL", "https://hooks.example.com")), io.Discard)
	require.NoError(t, err)
	ui, err := uiConfig(t.Context(), cfg, store, cfg.BaseURL)
	require.NoError(t, err)
	assert.True(t, ui.SecureCookies, "https base URL")
	assert.Equal(t, []string{"https://hooks.example.com"}, ui.TrustedOrigins)
	assert.Len(t, ui.SessionKey, 32, "generated")
	again, err := uiConfig(t.Context(), cfg, store, cfg.BaseURL)
	require.NoError(t, err)
	assert.Equal(t, ui.SessionKey, again.SessionKey, "kept in the database")

	cfg, err = parseConfig(nil, env(with(validEnv, "HOOKRELAY_SESSION_KEY", strings.Repeat("k", 40))), io.Discard)
	require.NoError(t, err)
	ui, err = uiConfig(t.Context(), cfg, store, "http://127.0.0.1:8080")
	require.NoError(t, err)
	assert.False(t, ui.SecureCookies)
	assert.Empty(t, ui.TrustedOrigins)
	assert.Equal(t, []byte(strings.Repeat("k", 40)), ui.SessionKey, "the setting wins")
}

// signIn signs in through the real server and reports the status of the dashboard after.
func signIn(t *testing.T, client *http.Client, base, email, password string) int {
	t.Helper()
	resp, err := client.PostForm(base+"/login", url.Values{"email": {email}, "password": {password}})
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func TestFirstAdminFromEnvironmentAndSessionsSurviveRestart(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "hookrelay.db")
	e := with(validEnv, "HOOKRELAY_ADMIN_EMAIL", "ops@example.com", "HOOKRELAY_ADMIN_PASSWORD", "first password!",
		"HOOKRELAY_PASSWORD_COST", "4") // bcrypt is slow under -race
	base, cancel, done := startRun(t, []string{"--addr", "127.0.0.1:0", "--db", dbPath}, e)

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	assert.Equal(t, http.StatusOK, signIn(t, client, base, "ops@example.com", "first password!"), "signed in, on the dashboard")
	cancel()
	require.NoError(t, <-done)

	// Restart with another password in the environment: an admin exists, so it is ignored,
	// and the generated session key was kept in the database, so the session still holds.
	e = with(e, "HOOKRELAY_ADMIN_PASSWORD", "second password")
	base2, cancel2, done2 := startRun(t, []string{"--addr", "127.0.0.1:0", "--db", dbPath}, e)
	u1, _ := url.Parse(base)
	u2, _ := url.Parse(base2)
	jar.SetCookies(u2, jar.Cookies(u1))
	noRedirect := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(base2 + "/webhooks")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the session survived the restart")

	fresh, _ := cookiejar.New(nil)
	other := &http.Client{Jar: fresh, CheckRedirect: noRedirect.CheckRedirect}
	assert.Equal(t, http.StatusUnauthorized, signIn(t, other, base2, "ops@example.com", "second password"))
	assert.Equal(t, http.StatusSeeOther, signIn(t, other, base2, "ops@example.com", "first password!"))
	cancel2()
	require.NoError(t, <-done2)
}

func TestAdminCreateReadsThePasswordFromStdin(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "hookrelay.db")
	var out, errOut bytes.Buffer
	cheap := env(map[string]string{"HOOKRELAY_PASSWORD_COST": "4"})
	err := runAdmin(t.Context(), []string{"create", "--email", "new@example.com", "--db", dbPath}, cheap,
		strings.NewReader("a password from stdin\n"), &out, &errOut)
	require.NoError(t, err, errOut.String())
	assert.Contains(t, out.String(), "created admin new@example.com (usr_")

	store := dbtest.Open(t, dbPath)
	u, err := store.FindUserByEmail(t.Context(), "new@example.com")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(u.PasswordHash, "$2a$04$"), "only a bcrypt hash is kept, at the cost asked")
	assert.NotContains(t, u.PasswordHash, "a password from stdin")

	err = runAdmin(t.Context(), []string{"create", "--email", "new@example.com", "--db", dbPath, "--password-cost", "4"}, env(nil),
		strings.NewReader("another password\n"), io.Discard, io.Discard)
	assert.ErrorContains(t, err, "an admin with the email new@example.com already exists")

	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"no password", []string{"create", "--email", "x@example.com", "--db", dbPath}, "", "no password given on stdin"},
		{"short password", []string{"create", "--email", "x@example.com", "--db", dbPath}, "short\n", "must be at least 10"},
		{"bad email", []string{"create", "--email", "x", "--db", dbPath}, "long enough password\n", "invalid --email"},
		{"unknown command", []string{"delete"}, "", "unknown admin command"},
	} {
		err := runAdmin(t.Context(), tc.args, cheap, strings.NewReader(tc.stdin), io.Discard, io.Discard)
		assert.ErrorContains(t, err, tc.want, tc.name)
	}
}

// A database whose webhook secrets are encrypted opens only with its key: admin create
// takes it from the environment, as the server does.
func TestAdminCreateOnAnEncryptedDatabase(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "hookrelay.db")
	key := make([]byte, db.EncryptionKeySize)
	for i := range key {
		key[i] = byte(i)
	}
	s, err := sqlite.Open(t.Context(), dbPath, sqlite.Options{EncryptionKey: key})
	require.NoError(t, err)
	dbtest.Webhook(t, s, "https://a.test/hook")
	require.NoError(t, s.Close())

	args := []string{"create", "--email", "ops@example.com", "--db", dbPath}
	err = runAdmin(t.Context(), args, env(map[string]string{"HOOKRELAY_PASSWORD_COST": "4"}),
		strings.NewReader("a password from stdin\n"), io.Discard, io.Discard)
	assert.ErrorContains(t, err, "set HOOKRELAY_ENCRYPTION_KEY", "without the key")

	withKey := env(map[string]string{"HOOKRELAY_PASSWORD_COST": "4", "HOOKRELAY_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(key)})
	var out bytes.Buffer
	require.NoError(t, runAdmin(t.Context(), args, withKey, strings.NewReader("a password from stdin\n"), &out, io.Discard))
	assert.Contains(t, out.String(), "created admin ops@example.com")
}
