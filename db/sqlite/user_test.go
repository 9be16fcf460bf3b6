package sqlite_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
)

func TestUsers(t *testing.T) {
	t.Parallel()
	store, _ := newStore(t)
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

func TestCreateFirstUserCreatesOneAdminOnly(t *testing.T) {
	t.Parallel()
	store, _ := newStore(t)
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

func TestSessions(t *testing.T) {
	t.Parallel()
	store, clock := newStore(t)
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

func TestSettingIsCreatedOnce(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/hookrelay.db"
	store := dbtest.Open(t, path)
	v, err := store.Setting(t.Context(), "session_key", []byte("first"))
	require.NoError(t, err)
	assert.Equal(t, []byte("first"), v)
	v, err = store.Setting(t.Context(), "session_key", []byte("second"))
	require.NoError(t, err)
	assert.Equal(t, []byte("first"), v, "the stored value wins")
}

func TestCreateTestEventTargetsOneWebhook(t *testing.T) {
	t.Parallel()
	store, _ := newStore(t)
	ctx := t.Context()
	a := dbtest.Webhook(t, store, "https://a.test/", "order.*")
	b := dbtest.Webhook(t, store, "https://b.test/")

	d, err := store.CreateTestEvent(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, db.TestEventType, d.EventType)
	assert.Equal(t, a.ID, d.WebhookID)
	assert.Equal(t, db.StatePending, d.State)
	assert.Empty(t, dbtest.Deliveries(t, store, b.ID))
	ev, err := store.FindEvent(ctx, d.EventID)
	require.NoError(t, err)
	assert.Equal(t, 1, ev.Fanout)
	assert.JSONEq(t, `{"message":"This is a test event sent from the hookrelay admin UI.","webhookId":"`+a.ID+`"}`, string(ev.Data()))

	off := false
	_, err = store.UpdateWebhook(ctx, a.ID, db.WebhookUpdate{Enabled: &off})
	require.NoError(t, err)
	_, err = store.CreateTestEvent(ctx, a.ID)
	assert.ErrorIs(t, err, db.ErrWebhookDisabled)
	_, err = store.CreateTestEvent(ctx, "whk_missing")
	assert.ErrorIs(t, err, db.ErrNotFound)
}

func TestListEventsSearchAndPages(t *testing.T) {
	t.Parallel()
	store, _ := newStore(t)
	ctx := t.Context()
	var all []db.NewEvent
	for i := range 7 {
		typ := "workflow.step"
		if i%2 == 1 {
			typ = "invoice.paid"
		}
		all = append(all, db.NewEvent{Type: typ, WorkflowID: "wf_" + string(rune('0'+i%3)), Data: []byte(`{}`)})
	}
	res, err := store.CreateEvents(ctx, all)
	require.NoError(t, err)

	ids := func(f db.EventFilter) []string {
		var out []string
		for {
			evs, next, err := store.ListEvents(ctx, f)
			require.NoError(t, err)
			for _, e := range evs {
				out = append(out, e.ID)
			}
			if next == "" {
				return out
			}
			f.Cursor = next
		}
	}
	assert.Equal(t, []string{res[6].EventID, res[5].EventID, res[4].EventID, res[3].EventID, res[2].EventID, res[1].EventID, res[0].EventID},
		ids(db.EventFilter{Limit: 2}), "newest first across pages")
	assert.Equal(t, []string{res[6].EventID, res[4].EventID, res[2].EventID, res[0].EventID}, ids(db.EventFilter{TypePrefix: "work"}))
	assert.Equal(t, []string{res[6].EventID, res[3].EventID, res[0].EventID}, ids(db.EventFilter{WorkflowID: "wf_0"}))
	assert.Empty(t, ids(db.EventFilter{TypePrefix: "%"}), "no LIKE wildcards")
	_, _, err = store.ListEvents(ctx, db.EventFilter{Cursor: "nope"})
	assert.ErrorIs(t, err, db.ErrBadCursor)
}
