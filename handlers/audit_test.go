package handlers_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/handlers"
)

type auditJSON struct {
	ID    string `json:"id"`
	Time  string `json:"time"`
	Actor struct {
		Type string  `json:"type"`
		ID   *string `json:"id"`
		Name string  `json:"name"`
	} `json:"actor"`
	Action string `json:"action"`
	Target *struct {
		Kind string  `json:"kind"`
		ID   *string `json:"id"`
	} `json:"target"`
	ClientAddress *string `json:"clientAddress"`
	Summary       string  `json:"summary"`
}

type auditPage struct {
	Data       []auditJSON `json:"data"`
	NextCursor *string     `json:"nextCursor"`
}

func (e *env) auditLog(query string) auditPage {
	e.t.Helper()
	rec := e.admin(http.MethodGet, "/api/v1/audit-log"+query, "")
	requireStatus(e.t, rec, http.StatusOK)
	var p auditPage
	decodeInto(e.t, rec, &p)
	return p
}

func actions(p auditPage) []string {
	out := []string{}
	for _, a := range p.Data {
		out = append(out, a.Action)
	}
	return out
}

// Every change made through the API, and every read of a secret, is recorded: who (the
// token or key), what, to what, from where, and a summary that never holds a secret.
func TestAuditRecordsAPIChanges(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	rec := e.admin(http.MethodPost, "/api/v1/webhooks", `{"url":"https://user:pw@receiver.test/hook","eventTypes":["a.*"],"secret":"`+secret+`"}`)
	requireStatus(t, rec, http.StatusCreated)
	whID, _ := object(t, rec)["id"].(string)
	requireStatus(t, e.admin(http.MethodGet, "/api/v1/webhooks/"+whID+"/secret", ""), http.StatusOK)
	rotated := "whsec_" + strings.Repeat("QUJD", 8)
	requireStatus(t, e.admin(http.MethodPost, "/api/v1/webhooks/"+whID+"/secret/rotate", `{"secret":"`+rotated+`","gracePeriod":"1h"}`), http.StatusOK)
	operator := e.apiKey("on call", db.RoleOperator)
	requireStatus(t, e.call(http.MethodPatch, "/api/v1/webhooks/"+whID, operator, `{"enabled":false}`), http.StatusOK)
	requireStatus(t, e.admin(http.MethodPatch, "/api/v1/webhooks/"+whID, `{"url":"https://receiver.test/v2","enabled":true}`), http.StatusOK)
	requireStatus(t, e.admin(http.MethodPatch, "/api/v1/webhooks/"+whID, `{}`), http.StatusOK)
	dbEvent := e.ingest(`{"eventType":"a.b","data":{}}`)
	requireStatus(t, dbEvent, http.StatusAccepted)
	ds := e.deliveriesOf(whID)
	require.Len(t, ds, 1)
	attempt(t, e.store, whID, db.AttemptResult{StatusCode: 500, Next: db.StateFailed})
	requireStatus(t, e.call(http.MethodPost, "/api/v1/deliveries/"+ds[0].ID+"/retry", operator, ""), http.StatusAccepted)
	requireStatus(t, e.call(http.MethodPost, "/api/v1/webhooks/"+whID+"/retry-failed", operator, ""), http.StatusAccepted)
	requireStatus(t, e.admin(http.MethodDelete, "/api/v1/webhooks/"+whID, ""), http.StatusNoContent)

	p := e.auditLog("")
	assert.Nil(t, p.NextCursor)
	assert.Equal(t, []string{"webhook.delete", "webhook.retry_failed", "delivery.retry", "webhook.enable", "webhook.update",
		"webhook.disable", "webhook.secret.rotate", "webhook.secret.reveal", "webhook.create"}, actions(p),
		"newest first; ingest and a PATCH that changes nothing are not changes to record")
	byAction := map[string]auditJSON{}
	for _, a := range p.Data {
		byAction[a.Action] = a
		require.NotNil(t, a.Target, a.Action)
		require.NotNil(t, a.ClientAddress)
		assert.Equal(t, "192.0.2.1", *a.ClientAddress)
		for _, s := range []string{secret, rotated, operator, adminToken, "pw@"} {
			assert.NotContains(t, a.Summary, s, "%s's summary", a.Action)
		}
		assert.Regexp(t, `^aud_`, a.ID)
		assert.Equal(t, db.FormatTime(e.clock.Now()), a.Time)
	}
	create := byAction["webhook.create"]
	assert.Equal(t, "token", create.Actor.Type)
	assert.Nil(t, create.Actor.ID)
	assert.Equal(t, "HOOKRELAY_ADMIN_TOKEN", create.Actor.Name)
	assert.Equal(t, "webhook", create.Target.Kind)
	assert.Equal(t, whID, *create.Target.ID)
	assert.Equal(t, "url https://user:xxxxx@receiver.test/hook; event types a.*; enabled", create.Summary)
	disable := byAction["webhook.disable"]
	assert.Equal(t, "key", disable.Actor.Type)
	assert.Equal(t, "on call", disable.Actor.Name)
	assert.Regexp(t, `^key_`, *disable.Actor.ID)
	assert.Equal(t, "url https://user:xxxxx@receiver.test/hook → https://receiver.test/v2", byAction["webhook.update"].Summary)
	assert.Equal(t, "new secret given; grace period 1h0m0s", byAction["webhook.secret.rotate"].Summary)
	assert.Equal(t, "read through the API", byAction["webhook.secret.reveal"].Summary)
	assert.Equal(t, "delivery", byAction["delivery.retry"].Target.Kind)
	assert.Equal(t, ds[0].ID, *byAction["delivery.retry"].Target.ID)
	assert.Equal(t, "0 failed deliveries retried", byAction["webhook.retry_failed"].Summary, "the one failed delivery was retried just before")
}

func TestAuditLogFilters(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	start := e.clock.Now()
	a := e.createWebhook("https://a.test/hook", true, "*")
	e.clock.Add(time.Minute)
	viewerKey := e.apiKey("reader", db.RoleAdmin)
	b := ""
	{
		rec := e.call(http.MethodPost, "/api/v1/webhooks", viewerKey, `{"url":"https://b.test/hook","eventTypes":["*"]}`)
		requireStatus(t, rec, http.StatusCreated)
		b, _ = object(t, rec)["id"].(string)
	}
	e.clock.Add(time.Minute)
	requireStatus(t, e.admin(http.MethodDelete, "/api/v1/webhooks/"+a, ""), http.StatusNoContent)

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"?actor=reader", []string{"webhook.create"}},
		{"?actor=READER", []string{"webhook.create"}},
		{"?actor=hookrelay_admin_token", []string{"webhook.delete", "webhook.create"}},
		{"?action=webhook.delete", []string{"webhook.delete"}},
		{"?targetId=" + a, []string{"webhook.delete", "webhook.create"}},
		{"?targetId=" + b, []string{"webhook.create"}},
		{"?since=" + url.QueryEscape(db.FormatTime(start.Add(time.Minute))), []string{"webhook.delete", "webhook.create"}},
		{"?until=" + url.QueryEscape(db.FormatTime(start.Add(time.Minute))), []string{"webhook.create"}},
		{"?actor=nobody", []string{}},
	} {
		assert.Equal(t, tc.want, actions(e.auditLog(tc.query)), tc.query)
	}
	first := e.auditLog("?limit=2")
	require.Len(t, first.Data, 2)
	require.NotNil(t, first.NextCursor)
	rest := e.auditLog("?limit=2&cursor=" + url.QueryEscape(*first.NextCursor))
	assert.Equal(t, []string{"webhook.create"}, actions(rest))
	assert.Nil(t, rest.NextCursor)

	for _, tc := range []struct{ query, field string }{
		{"?action=webhook.explode", "action"},
		{"?since=yesterday", "since"},
		{"?until=" + url.QueryEscape(db.FormatTime(start)) + "&since=" + url.QueryEscape(db.FormatTime(start)), "until"},
		{"?limit=0", "limit"},
		{"?limit=501", "limit"},
		{"?cursor=nope", "cursor"},
		{"?actor=" + strings.Repeat("x", 255), "actor"},
	} {
		assertError(t, e.admin(http.MethodGet, "/api/v1/audit-log"+tc.query, ""), http.StatusBadRequest, "invalid_value", tc.field)
	}
}

// failingAudit is a store whose audit log cannot be written.
type failingAudit struct{ handlers.Store }

func (failingAudit) AppendAudit(context.Context, db.NewAuditRecord) (db.AuditRecord, error) {
	return db.AuditRecord{}, errors.Join(db.ErrUnavailable, errors.New("disk full"))
}

// A secret is never shown without its record: when the record cannot be written, the
// reveal fails instead.
func TestSecretIsNotRevealedWithoutItsRecord(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, func(s *handlers.Server) { s.DB = failingAudit{s.DB} })
	wh, _ := e.failedDelivery("https://receiver.test/hook", 500, "")
	rec := e.admin(http.MethodGet, "/api/v1/webhooks/"+wh.ID+"/secret", "")
	assertError(t, rec, http.StatusServiceUnavailable, "unavailable", "")
	assert.NotContains(t, rec.Body.String(), wh.Secret)

	b := e.signedIn()
	rec = b.htmx(http.MethodGet, "/webhooks/"+wh.ID+"/secret", nil)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.NotContains(t, rec.Body.String(), wh.Secret)
	rec = b.get("/webhooks/" + wh.ID + "?reveal=1")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.NotContains(t, rec.Body.String(), wh.Secret)

	// A change is still made when its record is lost: it is logged for the operator instead.
	requireStatus(t, e.admin(http.MethodPatch, "/api/v1/webhooks/"+wh.ID, `{"enabled":false}`), http.StatusOK)
}

// The UI's changes, its reveals and every sign-in, failed sign-in, lock-out and sign-out are
// recorded with the user as the actor.
func TestAuditRecordsUIActionsAndSignIns(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, func(s *handlers.Server) { s.UI.SignInLimitPerAccount = 2 })
	wh, d := e.failedDelivery("https://receiver.test/hook", 500, "")
	locked, err := e.store.AddUser(t.Context(), db.NewUser{Email: "locked@example.com", PasswordHash: "x", Role: db.RoleViewer})
	require.NoError(t, err)
	// Two failures for one email lock it out; an unknown email is recorded as typed.
	other := e.browser()
	other.remote = "198.51.100.7:999"
	other.signIn("nobody@example.com", "whatever")
	other.signIn(locked.Email, "wrong password")
	other.signIn(locked.Email, "wrong again")

	b := e.signedIn()
	require.Equal(t, http.StatusOK, b.htmx(http.MethodGet, "/webhooks/"+wh.ID+"/secret", nil).Code)
	require.Equal(t, http.StatusSeeOther, b.post("/webhooks/"+wh.ID+"/enabled", url.Values{"enabled": {"false"}}).Code)
	require.Equal(t, http.StatusSeeOther, b.post("/webhooks/"+wh.ID+"/enabled", url.Values{"enabled": {"true"}}).Code)
	require.Equal(t, http.StatusSeeOther, b.post("/deliveries/"+d.ID+"/retry", nil).Code)
	require.Equal(t, http.StatusSeeOther, b.post("/webhooks/"+wh.ID+"/test", nil).Code)
	require.Equal(t, http.StatusSeeOther, b.post("/webhooks/"+wh.ID+"/rotate-secret", url.Values{"grace_period": {"0s"}}).Code)
	require.Equal(t, http.StatusSeeOther, b.post("/webhooks/"+wh.ID+"/delete", nil).Code)
	require.Equal(t, http.StatusSeeOther, b.post("/logout", nil).Code)

	recs, _, err := e.store.ListAudit(t.Context(), db.AuditFilter{})
	require.NoError(t, err)
	require.Len(t, recs, 13)
	var got []string
	for _, r := range recs {
		got = append(got, string(r.Action))
	}
	assert.Equal(t, []string{"auth.sign_out", "webhook.delete", "webhook.secret.rotate", "webhook.test", "delivery.retry",
		"webhook.enable", "webhook.disable", "webhook.secret.reveal", "auth.sign_in",
		"auth.lockout", "auth.sign_in_failed", "auth.sign_in_failed", "auth.sign_in_failed"}, got)
	admin, err := e.store.FindUserByEmail(t.Context(), adminEmail)
	require.NoError(t, err)
	for _, r := range recs[:9] {
		assert.Equal(t, db.Actor{Kind: db.ActorUser, ID: admin.ID, Name: adminEmail}, r.Actor, r.Action)
		assert.Equal(t, "192.0.2.1", r.ClientAddress)
		assert.NotContains(t, r.Summary, wh.Secret)
		assert.NotContains(t, r.Summary, adminPassword)
	}
	lockout := recs[9]
	assert.Equal(t, "2 failed sign-ins for this email within 15m0s", lockout.Summary)
	assert.Equal(t, "198.51.100.7", lockout.ClientAddress)
	assert.Equal(t, db.Actor{Kind: db.ActorUser, ID: locked.ID, Name: locked.Email}, lockout.Actor)
	assert.Equal(t, db.AuditTarget{Kind: db.TargetUser, ID: locked.ID}, lockout.Target)
	unknown := recs[12]
	assert.Equal(t, db.Actor{Kind: db.ActorUser, Name: "nobody@example.com"}, unknown.Actor)
	assert.Equal(t, db.AuditTarget{}, unknown.Target)
	assert.Equal(t, "wrong email or password", unknown.Summary)
	for _, r := range recs {
		assert.NotContains(t, r.Summary, "wrong again", "a typed password is never recorded")
	}
}

func TestAuditPage(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	wh, d := e.failedDelivery("https://receiver.test/hook", 500, "")
	b := e.signedIn()
	require.Equal(t, http.StatusSeeOther, b.post("/deliveries/"+d.ID+"/retry", nil).Code)
	e.clock.Add(time.Hour)
	requireStatus(t, e.admin(http.MethodPatch, "/api/v1/webhooks/"+wh.ID, `{"enabled":false}`), http.StatusOK)

	dd := doc(t, b.get("/audit-log"))
	rows := testid(dd, "audit-row")
	require.Equal(t, 3, rows.Length())
	assert.Equal(t, "webhook.disable", rows.Eq(0).AttrOr("data-action", ""))
	assert.Equal(t, "HOOKRELAY_ADMIN_TOKEN", rows.Eq(0).AttrOr("data-actor", ""))
	assert.Equal(t, "/webhooks/"+wh.ID, testid(rows.Eq(0), "audit-target-link").AttrOr("href", ""), "each record links to its target")
	assert.Equal(t, "delivery.retry", rows.Eq(1).AttrOr("data-action", ""))
	assert.Equal(t, "/deliveries/"+d.ID, testid(rows.Eq(1), "audit-target-link").AttrOr("href", ""))
	assert.Equal(t, "auth.sign_in", rows.Eq(2).AttrOr("data-action", ""))
	assert.Contains(t, testid(rows.Eq(2), "audit-target-link").AttrOr("href", ""), "/users/usr_")

	for _, tc := range []struct {
		query string
		want  int
	}{
		{"?action=delivery.retry", 1},
		{"?actor=" + url.QueryEscape(adminEmail), 2},
		{"?target_id=" + wh.ID, 1},
		{"?since=" + url.QueryEscape(e.clock.Now().Format("2006-01-02T15:04")), 1},
		{"?until=" + url.QueryEscape(e.clock.Now().Format("2006-01-02T15:04")), 2},
	} {
		assert.Equal(t, tc.want, testid(doc(t, b.get("/audit-log"+tc.query)), "audit-row").Length(), tc.query)
	}
	rec := b.get("/audit-log?action=nope&since=soon")
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	dd = doc(t, rec)
	assert.NotEmpty(t, text(testid(dd, "error-action")))
	assert.NotEmpty(t, text(testid(dd, "error-since")))

	// Pages of 50, newest first, with a link to the older ones.
	for range 50 {
		requireStatus(t, e.admin(http.MethodPatch, "/api/v1/webhooks/"+wh.ID, `{"enabled":true}`), http.StatusOK)
		requireStatus(t, e.admin(http.MethodPatch, "/api/v1/webhooks/"+wh.ID, `{"enabled":false}`), http.StatusOK)
	}
	dd = doc(t, b.get("/audit-log"))
	assert.Equal(t, 50, testid(dd, "audit-row").Length())
	next := testid(dd, "next-page").AttrOr("href", "")
	require.NotEmpty(t, next)
	assert.Equal(t, 50, testid(doc(t, b.get(next)), "audit-row").Length())
}

func TestAuditRecordsTestEmails(t *testing.T) {
	t.Parallel()
	e, _, smtpSrv, _ := alertEnv(t, true)
	requireStatus(t, e.admin(http.MethodPost, "/api/v1/alerts/test-email", `{"to":"someone@example.com"}`), http.StatusOK)
	smtpSrv.Refuse()
	requireStatus(t, e.admin(http.MethodPost, "/api/v1/alerts/test-email", ""), http.StatusBadGateway)
	p := e.auditLog("?action=alert.test_email")
	require.Len(t, p.Data, 2)
	assert.Equal(t, "email", p.Data[0].Target.Kind)
	assert.Nil(t, p.Data[0].Target.ID)
	assert.True(t, strings.HasPrefix(p.Data[0].Summary, "to ops@example.com: not sent: "), p.Data[0].Summary)
	assert.Equal(t, "to someone@example.com: sent", p.Data[1].Summary)
}
