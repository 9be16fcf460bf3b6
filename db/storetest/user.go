package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
)

func userTests() []test {
	return []test{
		{"Users", testUsers},
		{"CreateFirstUserCreatesOneAdminOnly", testCreateFirstUserCreatesOneAdminOnly},
		{"ListUserEmails", testListUserEmails},
	}
}

func sessionTests() []test {
	return []test{
		{"Sessions", testSessions},
	}
}

func settingTests() []test {
	return []test{
		{"SettingIsCreatedOnce", testSettingIsCreatedOnce},
	}
}

func testUsers(t *testing.T, h Harness) {
	store, _ := open(t, h)
	ctx := t.Context()

	u, err := store.CreateUser(ctx, "Admin@Example.com", "$2a$04$hash")
	require.NoError(t, err)
	assert.Regexp(t, `^usr_[0-9A-Z]{26}$`, u.ID)

	_, err = store.CreateUser(ctx, "admin@example.com", "$2a$04$other")
	assert.ErrorIs(t, err, db.ErrUserExists, "emails compare without case")
	assert.ErrorIs(t, err, db.ErrConflict)

	got, err := store.FindUserByEmail(ctx, "ADMIN@example.COM")
	require.NoError(t, err)
	assert.Equal(t, u.ID, got.ID)
	assert.Equal(t, "$2a$04$hash", got.PasswordHash)
	_, err = store.FindUserByEmail(ctx, "nobody@example.com")
	assert.ErrorIs(t, err, db.ErrNotFound)

	n, err := store.CountUsers(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

func testCreateFirstUserCreatesOneAdminOnly(t *testing.T, h Harness) {
	store, _ := open(t, h)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
	)
	for i := range 8 {
		wg.Go(func() {
			ok, err := store.CreateFirstUser(t.Context(), "admin"+string(rune('a'+i))+"@example.com", "h")
			assert.NoError(t, err)
			if ok {
				mu.Lock()
				created++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, created)
	n, err := store.CountUsers(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

func testSessions(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()
	u, err := store.CreateUser(ctx, "admin@example.com", "h")
	require.NoError(t, err)

	s1, err := store.CreateSession(ctx, u.ID, "", t0.Add(-time.Hour))
	require.NoError(t, err)
	assert.Len(t, s1.ID, 43, "32 random bytes")
	got, err := store.FindSession(ctx, s1.ID)
	require.NoError(t, err)
	assert.Equal(t, u.ID, got.User.ID)
	assert.Equal(t, t0, got.LastSeenAt)

	clock.Add(10 * time.Minute)
	require.NoError(t, store.TouchSession(ctx, s1.ID))
	got, _ = store.FindSession(ctx, s1.ID)
	assert.Equal(t, t0.Add(10*time.Minute), got.LastSeenAt)

	// Replacing deletes the old one.
	s2, err := store.CreateSession(ctx, u.ID, s1.ID, t0.Add(-time.Hour))
	require.NoError(t, err)
	_, err = store.FindSession(ctx, s1.ID)
	assert.ErrorIs(t, err, db.ErrNotFound)

	// Sessions idle since before the cut-off are swept when a new one starts.
	clock.Add(5 * time.Hour)
	_, err = store.CreateSession(ctx, u.ID, "", clock.Now().Add(-time.Hour))
	require.NoError(t, err)
	_, err = store.FindSession(ctx, s2.ID)
	assert.ErrorIs(t, err, db.ErrNotFound)

	require.NoError(t, store.DeleteSession(ctx, "not-a-session"))
	_, err = store.CreateSession(ctx, "usr_missing", "", t0)
	assert.ErrorIs(t, err, db.ErrNotFound)
}

func testSettingIsCreatedOnce(t *testing.T, h Harness) {
	store, _ := open(t, h)
	v, err := store.Setting(t.Context(), "session_key", []byte("first"))
	require.NoError(t, err)
	assert.Equal(t, []byte("first"), v)
	v, err = store.Setting(t.Context(), "session_key", []byte("second"))
	require.NoError(t, err)
	assert.Equal(t, []byte("first"), v, "the stored value wins")
}

func testListUserEmails(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()
	emails, err := store.ListUserEmails(ctx)
	require.NoError(t, err)
	assert.Empty(t, emails)
	for _, e := range []string{"zoe@example.com", "adam@example.com", "mia@example.com"} {
		_, err := store.CreateUser(ctx, e, "h")
		require.NoError(t, err)
		clock.Add(time.Second)
	}
	emails, err = store.ListUserEmails(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"zoe@example.com", "adam@example.com", "mia@example.com"}, emails, "oldest account first")

	// Alerts go to the people who can act on them: enabled operators and admins.
	addUser(t, store, "viewer@example.com", db.RoleViewer)
	op := addUser(t, store, "op@example.com", db.RoleOperator)
	off := addUser(t, store, "off@example.com", db.RoleOperator)
	disabled := true
	_, err = store.UpdateUser(ctx, off.ID, db.UserUpdate{Disabled: &disabled})
	require.NoError(t, err)
	emails, err = store.ListUserEmails(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"zoe@example.com", "adam@example.com", "mia@example.com", op.Email}, emails)
}
