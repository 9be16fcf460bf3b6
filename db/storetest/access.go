package storetest

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
)

func roleTests() []test {
	return []test{
		{"UsersHaveRoles", testUsersHaveRoles},
		{"UpdateUser", testUpdateUser},
		{"LastEnabledAdminStays", testLastEnabledAdminStays},
		{"LastAdminRaceLeavesOne", testLastAdminRaceLeavesOne},
		{"DisablingEndsSessionsOnEveryInstance", testDisablingEndsSessionsOnEveryInstance},
		{"DeletingEndsSessions", testDeletingEndsSessions},
	}
}

func apiKeyTests() []test {
	return []test{
		{"APIKeys", testAPIKeys},
		{"RevokedOnEveryInstance", testAPIKeyRevokedOnEveryInstance},
	}
}

func auditTests() []test {
	return []test{
		{"AppendAndFilter", testAuditAppendAndFilter},
		{"Pages", testAuditPages},
		{"CleansText", testAuditCleansText},
	}
}

func addUser(t *testing.T, store Store, email string, role db.Role) db.User {
	t.Helper()
	u, err := store.AddUser(t.Context(), db.NewUser{Email: email, PasswordHash: "h", Role: role})
	require.NoError(t, err)
	return u
}

func testUsersHaveRoles(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()
	admin, err := store.CreateUser(ctx, "admin@example.com", "h")
	require.NoError(t, err)
	assert.Equal(t, db.RoleAdmin, admin.Role, "CreateUser makes admins, as before roles")
	clock.Add(time.Second)
	v, err := store.AddUser(ctx, db.NewUser{Email: "Viewer@Example.com", PasswordHash: "$2a$04$v", Role: db.RoleViewer, MustChangePassword: true})
	require.NoError(t, err)
	assert.Regexp(t, `^usr_[0-9A-Z]{26}$`, v.ID)
	assert.Equal(t, t0.Add(time.Second), v.CreatedAt)
	clock.Add(time.Second)
	op := addUser(t, store, "op@example.com", db.RoleOperator)

	got, err := store.FindUser(ctx, v.ID)
	require.NoError(t, err)
	assert.Equal(t, v, got)
	got, err = store.FindUserByEmail(ctx, "viewer@example.COM")
	require.NoError(t, err)
	assert.Equal(t, db.RoleViewer, got.Role)
	assert.True(t, got.MustChangePassword)
	assert.False(t, got.Disabled)

	all, err := store.ListUsers(ctx)
	require.NoError(t, err)
	require.Len(t, all, 3)
	assert.Equal(t, []string{admin.ID, v.ID, op.ID}, []string{all[0].ID, all[1].ID, all[2].ID}, "oldest first")

	_, err = store.AddUser(ctx, db.NewUser{Email: "VIEWER@example.com", PasswordHash: "h", Role: db.RoleOperator})
	assert.ErrorIs(t, err, db.ErrUserExists)
	_, err = store.AddUser(ctx, db.NewUser{Email: "k@example.com", PasswordHash: "h", Role: db.RoleIngest})
	assert.Error(t, err, "ingest is a role of keys only")
	_, err = store.FindUser(ctx, "usr_missing")
	assert.ErrorIs(t, err, db.ErrNotFound)

	// The session carries the user as the user is now.
	sess, err := store.CreateSession(ctx, v.ID, "", t0.Add(-time.Hour))
	require.NoError(t, err)
	assert.Equal(t, db.RoleViewer, sess.User.Role)
	operator := db.RoleOperator
	_, err = store.UpdateUser(ctx, v.ID, db.UserUpdate{Role: &operator})
	require.NoError(t, err)
	found, err := store.FindSession(ctx, sess.ID)
	require.NoError(t, err)
	assert.Equal(t, db.RoleOperator, found.User.Role, "a new role applies to open sessions at once")
	assert.True(t, found.User.MustChangePassword)
}

func testUpdateUser(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()
	addUser(t, store, "admin@example.com", db.RoleAdmin)
	u := addUser(t, store, "ops@example.com", db.RoleViewer)
	mine, err := store.CreateSession(ctx, u.ID, "", t0.Add(-time.Hour))
	require.NoError(t, err)
	other, err := store.CreateSession(ctx, u.ID, "", t0.Add(-time.Hour))
	require.NoError(t, err)

	clock.Add(time.Minute)
	hash, no := "$2a$04$new", false
	got, err := store.UpdateUser(ctx, u.ID, db.UserUpdate{PasswordHash: &hash, MustChangePassword: &no, KeepSession: mine.ID})
	require.NoError(t, err)
	assert.Equal(t, hash, got.PasswordHash)
	assert.Equal(t, db.RoleViewer, got.Role, "fields left nil stay")
	assert.Equal(t, t0.Add(time.Minute), got.UpdatedAt)
	_, err = store.FindSession(ctx, mine.ID)
	assert.NoError(t, err, "the session that changed the password stays")
	_, err = store.FindSession(ctx, other.ID)
	assert.ErrorIs(t, err, db.ErrNotFound, "every other session ends with the old password")
	found, err := store.FindUser(ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, got, found)

	// A reset by someone else keeps none of the user's sessions.
	reset, yes := "$2a$04$reset", true
	_, err = store.UpdateUser(ctx, u.ID, db.UserUpdate{PasswordHash: &reset, MustChangePassword: &yes})
	require.NoError(t, err)
	_, err = store.FindSession(ctx, mine.ID)
	assert.ErrorIs(t, err, db.ErrNotFound)

	// Disabled users have no sessions and get none; enabled again, they sign in again.
	s1, err := store.CreateSession(ctx, u.ID, "", t0.Add(-time.Hour))
	require.NoError(t, err)
	off := true
	got, err = store.UpdateUser(ctx, u.ID, db.UserUpdate{Disabled: &off})
	require.NoError(t, err)
	assert.True(t, got.Disabled)
	_, err = store.FindSession(ctx, s1.ID)
	assert.ErrorIs(t, err, db.ErrNotFound)
	_, err = store.CreateSession(ctx, u.ID, "", t0.Add(-time.Hour))
	assert.ErrorIs(t, err, db.ErrUserDisabled)
	assert.ErrorIs(t, err, db.ErrConflict)
	on := false
	_, err = store.UpdateUser(ctx, u.ID, db.UserUpdate{Disabled: &on})
	require.NoError(t, err)
	s2, err := store.CreateSession(ctx, u.ID, "", t0.Add(-time.Hour))
	require.NoError(t, err)
	_, err = store.FindSession(ctx, s2.ID)
	assert.NoError(t, err)

	_, err = store.UpdateUser(ctx, "usr_missing", db.UserUpdate{Disabled: &off})
	assert.ErrorIs(t, err, db.ErrNotFound)
	ingest := db.RoleIngest
	_, err = store.UpdateUser(ctx, u.ID, db.UserUpdate{Role: &ingest})
	assert.Error(t, err)
}

func testLastEnabledAdminStays(t *testing.T, h Harness) {
	store, _ := open(t, h)
	ctx := t.Context()
	a := addUser(t, store, "a@example.com", db.RoleAdmin)
	b := addUser(t, store, "b@example.com", db.RoleAdmin)
	viewer, off, on := db.RoleViewer, true, false

	_, err := store.UpdateUser(ctx, b.ID, db.UserUpdate{Disabled: &off})
	require.NoError(t, err, "a is still an enabled admin")
	for name, change := range map[string]func() error{
		"demote":  func() error { _, err := store.UpdateUser(ctx, a.ID, db.UserUpdate{Role: &viewer}); return err },
		"disable": func() error { _, err := store.UpdateUser(ctx, a.ID, db.UserUpdate{Disabled: &off}); return err },
		"delete":  func() error { return store.DeleteUser(ctx, a.ID) },
	} {
		err := change()
		assert.ErrorIs(t, err, db.ErrLastAdmin, name+": a disabled admin does not count")
		assert.ErrorIs(t, err, db.ErrConflict, name)
	}
	got, err := store.FindUser(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, db.RoleAdmin, got.Role)
	assert.False(t, got.Disabled)

	// Other changes of the last admin are fine.
	hash := "$2a$04$x"
	_, err = store.UpdateUser(ctx, a.ID, db.UserUpdate{PasswordHash: &hash})
	require.NoError(t, err)
	admin := db.RoleAdmin
	_, err = store.UpdateUser(ctx, a.ID, db.UserUpdate{Role: &admin})
	require.NoError(t, err)

	// With b enabled again, either may go.
	_, err = store.UpdateUser(ctx, b.ID, db.UserUpdate{Disabled: &on})
	require.NoError(t, err)
	_, err = store.UpdateUser(ctx, a.ID, db.UserUpdate{Role: &viewer})
	require.NoError(t, err)
	assert.ErrorIs(t, store.DeleteUser(ctx, b.ID), db.ErrLastAdmin)
	require.NoError(t, store.DeleteUser(ctx, a.ID), "a viewer may be deleted")
	_, err = store.FindUser(ctx, a.ID)
	assert.ErrorIs(t, err, db.ErrNotFound)
	assert.ErrorIs(t, store.DeleteUser(ctx, a.ID), db.ErrNotFound)
}

// Two admins demoting each other at once, on two instances: one wins, one admin stays.
func testLastAdminRaceLeavesOne(t *testing.T, h Harness) {
	store, _ := open(t, h)
	other, err := h.OpenAgain(t, store, Options{})
	require.NoError(t, err)
	ctx := t.Context()
	for round := range 4 {
		a := addUser(t, store, "a"+string(rune('0'+round))+"@example.com", db.RoleAdmin)
		b := addUser(t, store, "b"+string(rune('0'+round))+"@example.com", db.RoleAdmin)
		if round > 0 {
			// Only a and b of this round are enabled admins.
			users, err := store.ListUsers(ctx)
			require.NoError(t, err)
			off := true
			for _, u := range users {
				if u.ID != a.ID && u.ID != b.ID && !u.Disabled {
					_, err := store.UpdateUser(ctx, u.ID, db.UserUpdate{Disabled: &off})
					require.NoError(t, err)
				}
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		viewer := db.RoleViewer
		wg.Go(func() { _, errs[0] = store.UpdateUser(ctx, a.ID, db.UserUpdate{Role: &viewer}) })
		wg.Go(func() { _, errs[1] = other.UpdateUser(ctx, b.ID, db.UserUpdate{Role: &viewer}) })
		wg.Wait()
		failed := 0
		for _, err := range errs {
			if err != nil {
				assert.ErrorIs(t, err, db.ErrLastAdmin)
				failed++
			}
		}
		assert.Equal(t, 1, failed, "round %d: exactly one demotion is refused", round)
		users, err := store.ListUsers(ctx)
		require.NoError(t, err)
		admins := 0
		for _, u := range users {
			if u.Role == db.RoleAdmin && !u.Disabled {
				admins++
			}
		}
		assert.Equal(t, 1, admins, "round %d", round)
	}
}

func testDisablingEndsSessionsOnEveryInstance(t *testing.T, h Harness) {
	store, _ := open(t, h)
	other, err := h.OpenAgain(t, store, Options{})
	require.NoError(t, err)
	ctx := t.Context()
	addUser(t, store, "admin@example.com", db.RoleAdmin)
	u := addUser(t, store, "ops@example.com", db.RoleOperator)
	sess, err := store.CreateSession(ctx, u.ID, "", t0.Add(-time.Hour))
	require.NoError(t, err)
	_, err = other.FindSession(ctx, sess.ID)
	require.NoError(t, err)

	off := true
	_, err = other.UpdateUser(ctx, u.ID, db.UserUpdate{Disabled: &off})
	require.NoError(t, err)
	for _, s := range []Store{store, other} {
		_, err = s.FindSession(ctx, sess.ID)
		assert.ErrorIs(t, err, db.ErrNotFound, "no instance finds the session of a disabled user")
	}
}

func testDeletingEndsSessions(t *testing.T, h Harness) {
	store, _ := open(t, h)
	ctx := t.Context()
	addUser(t, store, "admin@example.com", db.RoleAdmin)
	u := addUser(t, store, "ops@example.com", db.RoleOperator)
	sess, err := store.CreateSession(ctx, u.ID, "", t0.Add(-time.Hour))
	require.NoError(t, err)
	require.NoError(t, store.DeleteUser(ctx, u.ID))
	_, err = store.FindSession(ctx, sess.ID)
	assert.ErrorIs(t, err, db.ErrNotFound)
	assert.Equal(t, 0, h.Count(t, store, "sessions"))
	_, err = store.FindUserByEmail(ctx, "ops@example.com")
	assert.ErrorIs(t, err, db.ErrNotFound)
}

func testAPIKeys(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()
	var keys []db.APIKey
	for i, role := range db.KeyRoles {
		n := db.NewAPIKey{Name: "key " + string(role), Role: role, Hash: db.HashToken(db.NewAPIKeySecret())}
		if role == db.RoleIngest {
			n.ExpiresAt = t0.Add(48*time.Hour + 1500*time.Microsecond)
		}
		k, err := store.CreateAPIKey(ctx, n)
		require.NoError(t, err, "role %s", role)
		assert.Regexp(t, `^key_[0-9A-Z]{26}$`, k.ID)
		assert.Equal(t, t0.Add(time.Duration(i)*time.Second), k.CreatedAt)
		assert.True(t, k.LastUsedAt.IsZero())
		keys = append(keys, k)
		clock.Add(time.Second)
	}
	ingest := keys[3]
	assert.Equal(t, t0.Add(48*time.Hour+time.Millisecond), ingest.ExpiresAt, "to the millisecond")
	assert.True(t, keys[0].ExpiresAt.IsZero())

	list, err := store.ListAPIKeys(ctx)
	require.NoError(t, err)
	require.Len(t, list, 4)
	assert.Equal(t, keys[3], list[0], "newest first, as created")
	assert.Equal(t, keys[0], list[3])

	got, err := store.FindAPIKeyByHash(ctx, ingest.Hash)
	require.NoError(t, err)
	assert.Equal(t, ingest, got)
	got, err = store.FindAPIKey(ctx, ingest.ID)
	require.NoError(t, err)
	assert.Equal(t, ingest, got)
	_, err = store.FindAPIKeyByHash(ctx, db.HashToken("hrk_unknown"))
	assert.ErrorIs(t, err, db.ErrNotFound)

	used := t0.Add(time.Hour)
	require.NoError(t, store.TouchAPIKey(ctx, ingest.ID, used))
	got, err = store.FindAPIKeyByHash(ctx, ingest.Hash)
	require.NoError(t, err)
	assert.Equal(t, used, got.LastUsedAt)

	require.NoError(t, store.DeleteAPIKey(ctx, ingest.ID))
	_, err = store.FindAPIKeyByHash(ctx, ingest.Hash)
	assert.ErrorIs(t, err, db.ErrNotFound, "a revoked key opens nothing")
	assert.ErrorIs(t, store.DeleteAPIKey(ctx, ingest.ID), db.ErrNotFound)
	require.NoError(t, store.TouchAPIKey(ctx, ingest.ID, used), "touching a revoked key does nothing")
	list, err = store.ListAPIKeys(ctx)
	require.NoError(t, err)
	assert.Len(t, list, 3)

	_, err = store.CreateAPIKey(ctx, db.NewAPIKey{Name: "same hash", Role: db.RoleViewer, Hash: keys[0].Hash})
	assert.ErrorIs(t, err, db.ErrConflict)
	_, err = store.CreateAPIKey(ctx, db.NewAPIKey{Name: "bad", Role: "root", Hash: "x"})
	assert.Error(t, err)
}

func testAPIKeyRevokedOnEveryInstance(t *testing.T, h Harness) {
	store, _ := open(t, h)
	other, err := h.OpenAgain(t, store, Options{})
	require.NoError(t, err)
	ctx := t.Context()
	k, err := store.CreateAPIKey(ctx, db.NewAPIKey{Name: "ci", Role: db.RoleOperator, Hash: db.HashToken(db.NewAPIKeySecret())})
	require.NoError(t, err)
	_, err = other.FindAPIKeyByHash(ctx, k.Hash)
	require.NoError(t, err)
	require.NoError(t, store.DeleteAPIKey(ctx, k.ID))
	_, err = other.FindAPIKeyByHash(ctx, k.Hash)
	assert.ErrorIs(t, err, db.ErrNotFound)
}

func appendAudit(t *testing.T, store Store, n db.NewAuditRecord) db.AuditRecord {
	t.Helper()
	a, err := store.AppendAudit(t.Context(), n)
	require.NoError(t, err)
	return a
}

func auditIDs(t *testing.T, store Store, f db.AuditFilter) []string {
	t.Helper()
	recs, next, err := store.ListAudit(t.Context(), f)
	require.NoError(t, err)
	assert.Empty(t, next)
	ids := []string{}
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	return ids
}

func testAuditAppendAndFilter(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()
	alice := db.Actor{Kind: db.ActorUser, ID: "usr_alice", Name: "Alice@Example.com"}
	ci := db.Actor{Kind: db.ActorKey, ID: "key_ci", Name: "ci deploys"}
	create := appendAudit(t, store, db.NewAuditRecord{Actor: alice, Action: db.AuditWebhookCreate,
		Target: db.AuditTarget{Kind: db.TargetWebhook, ID: "whk_1"}, ClientAddress: "192.0.2.1", Summary: "url https://a.test/hook"})
	assert.Regexp(t, `^aud_[0-9A-Z]{26}$`, create.ID)
	assert.Equal(t, t0, create.At)
	clock.Add(time.Minute)
	reveal := appendAudit(t, store, db.NewAuditRecord{Actor: ci, Action: db.AuditSecretReveal,
		Target: db.AuditTarget{Kind: db.TargetWebhook, ID: "whk_1"}, ClientAddress: "2001:db8::1"})
	clock.Add(time.Minute)
	disable := appendAudit(t, store, db.NewAuditRecord{Actor: db.SystemActor, Action: db.AuditWebhookDisable,
		Target: db.AuditTarget{Kind: db.TargetWebhook, ID: "whk_2"}, Summary: "failing for 3 days"})
	clock.Add(time.Minute)
	signin := appendAudit(t, store, db.NewAuditRecord{Actor: alice, Action: db.AuditSignIn,
		Target: db.AuditTarget{Kind: db.TargetUser, ID: "usr_alice"}, ClientAddress: "192.0.2.1"})

	recs, next, err := store.ListAudit(ctx, db.AuditFilter{})
	require.NoError(t, err)
	assert.Empty(t, next)
	require.Len(t, recs, 4)
	assert.Equal(t, []db.AuditRecord{signin, disable, reveal, create}, recs, "newest first, every field as appended")
	assert.Equal(t, "192.0.2.1", recs[3].ClientAddress)
	assert.Equal(t, db.ActorSystem, recs[1].Actor.Kind)

	for _, tc := range []struct {
		name string
		f    db.AuditFilter
		want []string
	}{
		{"actor by email, any case", db.AuditFilter{Actor: "alice@example.COM"}, []string{signin.ID, create.ID}},
		{"actor by id", db.AuditFilter{Actor: "usr_alice"}, []string{signin.ID, create.ID}},
		{"actor by key name", db.AuditFilter{Actor: "ci deploys"}, []string{reveal.ID}},
		{"actor by key id", db.AuditFilter{Actor: "key_ci"}, []string{reveal.ID}},
		{"the system", db.AuditFilter{Actor: "system"}, []string{disable.ID}},
		{"action", db.AuditFilter{Action: db.AuditSecretReveal}, []string{reveal.ID}},
		{"target", db.AuditFilter{TargetID: "whk_1"}, []string{reveal.ID, create.ID}},
		{"since, inclusive", db.AuditFilter{Since: t0.Add(time.Minute)}, []string{signin.ID, disable.ID, reveal.ID}},
		{"until, exclusive", db.AuditFilter{Until: t0.Add(time.Minute)}, []string{create.ID}},
		{"since and until", db.AuditFilter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, []string{disable.ID, reveal.ID}},
		{"all at once", db.AuditFilter{Actor: "Alice@example.com", Action: db.AuditWebhookCreate, TargetID: "whk_1", Until: t0.Add(time.Hour)}, []string{create.ID}},
		{"nothing", db.AuditFilter{Actor: "nobody"}, []string{}},
	} {
		assert.Equal(t, tc.want, auditIDs(t, store, tc.f), tc.name)
	}
}

func testAuditPages(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()
	var want []string
	for i := range 7 {
		a := appendAudit(t, store, db.NewAuditRecord{Actor: db.SystemActor, Action: db.AuditWebhookDisable,
			Target: db.AuditTarget{Kind: db.TargetWebhook, ID: "whk_" + string(rune('a'+i%2))}})
		want = append([]string{a.ID}, want...)
		clock.Add(time.Second)
	}
	var got []string
	f := db.AuditFilter{Limit: 3}
	pages := 0
	for {
		recs, next, err := store.ListAudit(ctx, f)
		require.NoError(t, err)
		pages++
		for _, r := range recs {
			got = append(got, r.ID)
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	assert.Equal(t, want, got)
	assert.Equal(t, 3, pages)

	// A filtered list pages through its own rows.
	f = db.AuditFilter{TargetID: "whk_a", Limit: 2}
	recs, next, err := store.ListAudit(ctx, f)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	require.NotEmpty(t, next)
	f.Cursor = next
	recs, next, err = store.ListAudit(ctx, f)
	require.NoError(t, err)
	assert.Len(t, recs, 2)
	assert.Empty(t, next)

	_, _, err = store.ListAudit(ctx, db.AuditFilter{Cursor: "bm90LWEtY3Vyc29y"})
	assert.ErrorIs(t, err, db.ErrBadCursor)
	_, deliveryCursor, err := store.ListDeliveries(ctx, db.DeliveryFilter{})
	require.NoError(t, err)
	assert.Empty(t, deliveryCursor)
}

func testAuditCleansText(t *testing.T, h Harness) {
	store, _ := open(t, h)
	a := appendAudit(t, store, db.NewAuditRecord{
		Actor:   db.Actor{Kind: db.ActorUser, Name: "eve@example.com\r\nX-Injected: 1\x00"},
		Action:  db.AuditSignInFailed,
		Summary: strings.Repeat("é", 2000),
	})
	recs, _, err := store.ListAudit(t.Context(), db.AuditFilter{})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, a, recs[0])
	assert.Equal(t, "eve@example.com  X-Injected: 1 ", recs[0].Actor.Name, "control characters (NUL too) become spaces")
	assert.Equal(t, 1000, len([]rune(recs[0].Summary)))
	assert.True(t, strings.HasSuffix(recs[0].Summary, "…"))
}
