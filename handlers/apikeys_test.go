package handlers_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/handlers"
)

// apiKey is an API key as the API shows it; Key only in the answer to a create.
type apiKeyJSON struct {
	ID         string  `json:"id"`
	Key        string  `json:"key"`
	Name       string  `json:"name"`
	Role       string  `json:"role"`
	CreatedAt  string  `json:"createdAt"`
	ExpiresAt  *string `json:"expiresAt"`
	LastUsedAt *string `json:"lastUsedAt"`
}

func (e *env) createKey(token, body string) apiKeyJSON {
	e.t.Helper()
	rec := e.call(http.MethodPost, "/api/v1/api-keys", token, body)
	requireStatus(e.t, rec, http.StatusCreated)
	var k apiKeyJSON
	decodeInto(e.t, rec, &k)
	return k
}

func (e *env) listKeys() []map[string]any {
	e.t.Helper()
	rec := e.admin(http.MethodGet, "/api/v1/api-keys", "")
	requireStatus(e.t, rec, http.StatusOK)
	var out struct {
		Data []map[string]any `json:"data"`
	}
	require.NoError(e.t, json.Unmarshal(rec.Body.Bytes(), &out))
	return out.Data
}

func TestAPIKeysCreateUseListRevoke(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	now := e.clock.Now()
	keys := map[db.Role]apiKeyJSON{}
	for _, role := range db.KeyRoles {
		k := e.createKey(adminToken, `{"name":" ci `+string(role)+` ","role":"`+string(role)+`"}`)
		assert.Regexp(t, `^key_[0-9A-Z]{26}$`, k.ID)
		assert.Regexp(t, `^hrk_[A-Za-z0-9_-]{43}$`, k.Key)
		assert.Equal(t, "ci "+string(role), k.Name, "trimmed")
		assert.Equal(t, string(role), k.Role)
		assert.Equal(t, db.FormatTime(now), k.CreatedAt)
		assert.Nil(t, k.ExpiresAt)
		assert.Nil(t, k.LastUsedAt)
		keys[role] = k
	}
	expiring := e.createKey(adminToken, `{"name":"short","role":"viewer","expiresAt":"`+db.FormatTime(now.Add(time.Hour))+`"}`)
	require.NotNil(t, expiring.ExpiresAt)
	assert.Equal(t, db.FormatTime(now.Add(time.Hour)), *expiring.ExpiresAt)

	// Each key opens what its role allows, and nothing else.
	whID := e.createWebhook("https://receiver.test/hook", true, "*")
	event := `{"eventType":"a.b","data":{}}`
	for _, tc := range []struct {
		role         db.Role
		method, path string
		body         string
		want         int
	}{
		{db.RoleViewer, http.MethodGet, "/api/v1/webhooks", "", http.StatusOK},
		{db.RoleViewer, http.MethodPost, "/api/v1/deliveries/dlv_x/retry", "", http.StatusForbidden},
		{db.RoleViewer, http.MethodPost, "/api/v1/events", event, http.StatusForbidden},
		{db.RoleViewer, http.MethodGet, "/api/v1/webhooks/" + whID + "/secret", "", http.StatusForbidden},
		{db.RoleOperator, http.MethodPost, "/api/v1/webhooks/" + whID + "/retry-failed", "", http.StatusAccepted},
		{db.RoleOperator, http.MethodPatch, "/api/v1/webhooks/" + whID, `{"enabled":false}`, http.StatusOK},
		{db.RoleOperator, http.MethodPatch, "/api/v1/webhooks/" + whID, `{"enabled":true,"description":"x"}`, http.StatusForbidden},
		{db.RoleOperator, http.MethodGet, "/api/v1/api-keys", "", http.StatusForbidden},
		{db.RoleIngest, http.MethodPost, "/api/v1/events", event, http.StatusAccepted},
		{db.RoleIngest, http.MethodPost, "/api/v1/events/batch", `{"events":[` + event + `]}`, http.StatusAccepted},
		{db.RoleIngest, http.MethodGet, "/api/v1/webhooks", "", http.StatusForbidden},
		{db.RoleAdmin, http.MethodGet, "/api/v1/audit-log", "", http.StatusOK},
		{db.RoleAdmin, http.MethodPost, "/api/v1/events", event, http.StatusAccepted},
	} {
		rec := e.call(tc.method, tc.path, keys[tc.role].Key, tc.body)
		require.Equal(t, tc.want, rec.Code, "%s key: %s %s: %s", tc.role, tc.method, tc.path, rec.Body)
		if tc.want == http.StatusForbidden {
			assertError(t, rec, http.StatusForbidden, "forbidden", "")
		}
	}
	wh, err := e.store.FindWebhook(t.Context(), whID)
	require.NoError(t, err)
	assert.False(t, wh.Enabled, "the operator disabled it")
	assert.Empty(t, wh.Description, "the operator's description was refused")

	// The list never carries a key, and shows when each was last used.
	e.clock.Add(time.Minute)
	list := e.listKeys()
	require.Len(t, list, 5)
	assert.Equal(t, expiring.ID, list[0]["id"], "newest first")
	for _, k := range list {
		assert.NotContains(t, k, "key")
		assert.ElementsMatch(t, []string{"id", "name", "role", "createdAt", "expiresAt", "lastUsedAt"}, keysOf(k))
		if k["id"] == keys[db.RoleIngest].ID {
			assert.Equal(t, db.FormatTime(now), k["lastUsedAt"])
		}
		if k["id"] == expiring.ID {
			assert.Nil(t, k["lastUsedAt"])
		}
	}

	// Revoked: refused at once here, and gone from the list.
	rec := e.call(http.MethodDelete, "/api/v1/api-keys/"+keys[db.RoleIngest].ID, adminToken, "")
	requireStatus(t, rec, http.StatusNoContent)
	rec = e.call(http.MethodPost, "/api/v1/events", keys[db.RoleIngest].Key, event)
	assertError(t, rec, http.StatusUnauthorized, "unauthorized", "")
	assertError(t, e.call(http.MethodDelete, "/api/v1/api-keys/"+keys[db.RoleIngest].ID, adminToken, ""), http.StatusNotFound, "not_found", "")
	assert.Len(t, e.listKeys(), 4)

	// A key revokes itself as well as any other; the records name who did what, never a key.
	rec = e.call(http.MethodDelete, "/api/v1/api-keys/"+keys[db.RoleAdmin].ID, keys[db.RoleAdmin].Key, "")
	requireStatus(t, rec, http.StatusNoContent)
	recs, _, err := e.store.ListAudit(t.Context(), db.AuditFilter{TargetID: keys[db.RoleAdmin].ID})
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Equal(t, db.AuditAPIKeyRevoke, recs[0].Action)
	assert.Equal(t, db.Actor{Kind: db.ActorKey, ID: keys[db.RoleAdmin].ID, Name: "ci admin"}, recs[0].Actor)
	assert.Equal(t, db.AuditAPIKeyCreate, recs[1].Action)
	assert.Equal(t, db.Actor{Kind: db.ActorToken, Name: "HOOKRELAY_ADMIN_TOKEN"}, recs[1].Actor)
	assert.Equal(t, `name "ci admin"; role admin`, recs[1].Summary)
	all, _, err := e.store.ListAudit(t.Context(), db.AuditFilter{Limit: 500})
	require.NoError(t, err)
	for _, r := range all {
		for _, k := range keys {
			assert.NotContains(t, r.Summary, k.Key)
		}
	}

	// Stored as SHA-256 only.
	stored, err := e.store.FindAPIKey(t.Context(), keys[db.RoleViewer].ID)
	require.NoError(t, err)
	assert.Equal(t, db.HashToken(keys[db.RoleViewer].Key), stored.Hash)
}

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestAPIKeyCreateRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	past := db.FormatTime(time.Now().Add(-time.Minute))
	for _, tc := range []struct{ body, code, field string }{
		{`{"role":"viewer"}`, "invalid_value", "name"},
		{`{"name":"  ","role":"viewer"}`, "invalid_value", "name"},
		{`{"name":"` + strings.Repeat("n", 101) + `","role":"viewer"}`, "invalid_value", "name"},
		{`{"name":"a\u0007b","role":"viewer"}`, "invalid_value", "name"},
		{`{"name":"x"}`, "invalid_value", "role"},
		{`{"name":"x","role":"root"}`, "invalid_value", "role"},
		{`{"name":"x","role":"viewer","expiresAt":"tomorrow"}`, "invalid_value", "expiresAt"},
		{`{"name":"x","role":"viewer","expiresAt":"` + past + `"}`, "invalid_value", "expiresAt"},
		{`{"name":"x","role":"viewer","key":"hrk_mine"}`, "unknown_field", "key"},
	} {
		assertError(t, e.admin(http.MethodPost, "/api/v1/api-keys", tc.body), http.StatusBadRequest, tc.code, tc.field)
	}
	assert.Empty(t, e.listKeys())
	k := e.createKey(adminToken, `{"name":"x","role":"viewer","expiresAt":null}`)
	assert.Nil(t, k.ExpiresAt)
}

func TestExpiredAPIKeyIsRefused(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	k := e.createKey(adminToken, `{"name":"temp","role":"viewer","expiresAt":"`+db.FormatTime(e.clock.Now().Add(time.Hour))+`"}`)
	requireStatus(t, e.call(http.MethodGet, "/api/v1/webhooks", k.Key, ""), http.StatusOK)
	e.clock.Add(time.Hour)
	er := assertError(t, e.call(http.MethodGet, "/api/v1/webhooks", k.Key, ""), http.StatusUnauthorized, "unauthorized", "")
	assert.Contains(t, er.Error.Message, "expired")
}

// Two instances on one database: a key revoked on one is refused by the other within 1 s,
// however recently that one has seen the key (its cache of keys lives shorter than that).
func TestRevokedKeyIsRefusedByEveryInstanceWithinASecond(t *testing.T) {
	t.Parallel()
	a := newUIEnv(t)
	other := dbtest.Open(t, a.dbPath)
	other.Clock = a.clock.Now
	b := &handlers.Server{DB: other, Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), AdminToken: adminToken, IngestToken: ingestToken,
		UI: handlers.UIConfig{Now: a.clock.Now}}
	bh := b.Routes()
	k := a.createKey(adminToken, `{"name":"ci","role":"ingest"}`)
	event := `{"eventType":"a.b","data":{}}`
	onB := func() int {
		e := &env{t: t, store: other, srv: b, h: bh}
		return e.call(http.MethodPost, "/api/v1/events", k.Key, event).Code
	}
	require.Equal(t, http.StatusAccepted, onB(), "b has read and cached the key")

	requireStatus(t, a.call(http.MethodDelete, "/api/v1/api-keys/"+k.ID, adminToken, ""), http.StatusNoContent)
	assert.Equal(t, http.StatusUnauthorized, a.call(http.MethodPost, "/api/v1/events", k.Key, event).Code, "refused at once where it was revoked")
	a.clock.Add(time.Second)
	assert.Equal(t, http.StatusUnauthorized, onB(), "refused by the other instance within 1 s")
}

func TestAPIKeysPage(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	d := doc(t, b.get("/api-keys"))
	assert.Equal(t, 1, testid(d, "empty-keys").Length())

	rec := b.post("/api-keys", url.Values{"name": {""}, "role": {"root"}, "expires": {"7d"}})
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	d = doc(t, rec)
	assert.Contains(t, text(testid(d, "error-name")), "must not be empty")
	assert.Contains(t, text(testid(d, "error-role")), "must be viewer, operator, admin or ingest")
	assert.Contains(t, text(testid(d, "error-expires")), "from the list")

	rec = b.post("/api-keys", url.Values{"name": {"deploys"}, "role": {"ingest"}, "expires": {"30d"}})
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	d = doc(t, rec)
	key := text(testid(d, "new-api-key"))
	assert.Regexp(t, `^hrk_[A-Za-z0-9_-]{43}$`, key)
	assert.Equal(t, "ingest", text(testid(d, "new-key-role")))
	requireStatus(t, e.call(http.MethodPost, "/api/v1/events", key, `{"eventType":"a.b","data":{}}`), http.StatusAccepted)

	// The list shows the key's name and role, never the key.
	rec = b.get("/api-keys")
	assert.NotContains(t, rec.Body.String(), key)
	d = doc(t, rec)
	require.Equal(t, 1, testid(d, "key-row").Length())
	assert.Contains(t, text(testid(d, "key-name")), "deploys")
	assert.Equal(t, "ingest", text(testid(d, "key-role")))
	stored, err := e.store.ListAPIKeys(t.Context())
	require.NoError(t, err)
	require.Len(t, stored, 1)
	assert.Equal(t, e.clock.Now().Add(30*24*time.Hour), stored[0].ExpiresAt)

	d = doc(t, b.get("/api-keys/"+stored[0].ID+"/revoke"))
	assert.Contains(t, text(testid(d, "confirm")), `"deploys"`)
	rec = b.post("/api-keys/"+stored[0].ID+"/revoke", nil)
	require.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Equal(t, "/api-keys", rec.Header().Get("Location"))
	assert.Contains(t, text(testid(doc(t, b.get("/api-keys")), "flash")), "revoked")
	assert.Equal(t, http.StatusUnauthorized, e.call(http.MethodPost, "/api/v1/events", key, `{"eventType":"a.b","data":{}}`).Code)
	recs, _, err := e.store.ListAudit(t.Context(), db.AuditFilter{TargetID: stored[0].ID})
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Equal(t, adminEmail, recs[0].Actor.Name)
	assert.Equal(t, "192.0.2.1", recs[0].ClientAddress)
}
