package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
)

func TestCreateWebhookShowsErrorsAndKeepsInput(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()

	form := b.get("/webhooks/new")
	require.Equal(t, http.StatusOK, form.Code)
	require.Equal(t, 1, testid(doc(t, form), "webhook-form").Length())

	bad := url.Values{"url": {"ftp://receiver.test/hook"}, "event_types": {"order.paid\nbad pattern!"},
		"description": {"my receiver"}, "enabled": {"true"}}
	rec := b.post("/webhooks", bad)
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	d := doc(t, rec)
	assert.Equal(t, "The endpoint URL must use the http or https scheme.", text(testid(d, "error-url")))
	assert.Contains(t, text(testid(d, "error-event_types")), `pattern 1 ("bad pattern!")`)
	assert.Equal(t, 0, testid(d, "error-description").Length())
	assert.Equal(t, "ftp://receiver.test/hook", d.Find("#url").AttrOr("value", ""))
	assert.Equal(t, "order.paid\nbad pattern!", d.Find("#event_types").Text())
	assert.Equal(t, "my receiver", d.Find("#description").AttrOr("value", ""))
	assert.Equal(t, "true", d.Find("#url").AttrOr("aria-invalid", ""))
	_, checked := d.Find("#enabled").Attr("checked")
	assert.True(t, checked)

	empty := b.post("/webhooks", url.Values{"url": {""}, "event_types": {" \n "}})
	require.Equal(t, http.StatusUnprocessableEntity, empty.Code)
	assert.Equal(t, "The endpoint URL is required.", text(testid(doc(t, empty), "error-url")))
	assert.Equal(t, "Event types must list at least one event type pattern.", text(testid(doc(t, empty), "error-event_types")))

	whs, err := e.store.ListWebhooks(t.Context())
	require.NoError(t, err)
	require.Empty(t, whs)

	good := url.Values{"url": {"https://receiver.test/hook"}, "event_types": {"order.*, invoice.paid\n"}, "description": {"my receiver"}}
	rec = b.post("/webhooks", good)
	require.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
	whs, err = e.store.ListWebhooks(t.Context())
	require.NoError(t, err)
	require.Len(t, whs, 1)
	wh := whs[0]
	assert.Equal(t, "/webhooks/"+wh.ID, rec.Header().Get("Location"))
	assert.Equal(t, []string{"order.*", "invoice.paid"}, wh.EventTypes)
	assert.False(t, wh.Enabled, "the box was not ticked")
	assert.True(t, strings.HasPrefix(wh.Secret, "whsec_"))

	page := doc(t, b.get("/webhooks/"+wh.ID))
	assert.Contains(t, text(testid(page, "flash")), "Webhook created")
	assert.Equal(t, "https://receiver.test/hook", text(testid(page, "webhook-url")))
	assert.Equal(t, 0, testid(doc(t, b.get("/webhooks/"+wh.ID)), "flash").Length(), "a flash shows once")
}

func TestEditWebhook(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	wh := dbtest.Webhook(t, e.store, "https://receiver.test/old", "order.*")

	d := doc(t, b.get("/webhooks/"+wh.ID+"/edit"))
	assert.Equal(t, "https://receiver.test/old", d.Find("#url").AttrOr("value", ""))
	assert.Equal(t, "order.*", d.Find("#event_types").Text())

	rec := b.post("/webhooks/"+wh.ID, url.Values{"url": {"not a url"}, "event_types": {"order.*"}, "enabled": {"true"}})
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	assert.Equal(t, "not a url", doc(t, rec).Find("#url").AttrOr("value", ""))

	rec = b.post("/webhooks/"+wh.ID, url.Values{"url": {"https://receiver.test/new"}, "event_types": {"*"}, "description": {"d"}, "enabled": {"true"}})
	require.Equal(t, http.StatusSeeOther, rec.Code)
	got, err := e.store.FindWebhook(t.Context(), wh.ID)
	require.NoError(t, err)
	assert.Equal(t, "https://receiver.test/new", got.URL)
	assert.Equal(t, []string{"*"}, got.EventTypes)
	assert.Equal(t, "d", got.Description)
	assert.Equal(t, wh.Secret, got.Secret, "editing keeps the secret")

	assert.Equal(t, http.StatusNotFound, b.post("/webhooks/whk_missing", url.Values{"url": {"https://x.test"}, "event_types": {"*"}}).Code)
}

func TestEnableDisableWebhook(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	wh := dbtest.Webhook(t, e.store, "https://receiver.test/hook")

	d := doc(t, b.get("/webhooks/"+wh.ID))
	assert.Equal(t, "Disable", text(testid(d, "toggle-enabled")))
	assert.Contains(t, text(testid(d, "enabled")), "Enabled")

	require.Equal(t, http.StatusSeeOther, b.post("/webhooks/"+wh.ID+"/enabled", url.Values{"enabled": {"false"}}).Code)
	got, _ := e.store.FindWebhook(t.Context(), wh.ID)
	assert.False(t, got.Enabled)
	d = doc(t, b.get("/webhooks/"+wh.ID))
	assert.Equal(t, "Enable", text(testid(d, "toggle-enabled")))
	assert.Contains(t, text(testid(d, "enabled")), "Disabled")
	assert.Contains(t, text(testid(d, "flash")), "Webhook disabled")
	_, disabled := testid(d, "send-test").Attr("disabled")
	assert.True(t, disabled, "a disabled webhook cannot be sent a test event")

	require.Equal(t, http.StatusSeeOther, b.post("/webhooks/"+wh.ID+"/enabled", url.Values{"enabled": {"true"}}).Code)
	got, _ = e.store.FindWebhook(t.Context(), wh.ID)
	assert.True(t, got.Enabled)

	assert.Equal(t, http.StatusBadRequest, b.post("/webhooks/"+wh.ID+"/enabled", url.Values{"enabled": {"maybe"}}).Code)
}

func TestDeleteWebhookAsksFirst(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	wh, d := e.failedDelivery("https://receiver.test/hook", 500, "boom")

	confirm := b.get("/webhooks/" + wh.ID + "/delete")
	require.Equal(t, http.StatusOK, confirm.Code)
	cd := doc(t, confirm)
	assert.Contains(t, text(testid(cd, "confirm")), "https://receiver.test/hook")
	assert.Equal(t, "/webhooks/"+wh.ID+"/delete", cd.Find(`[data-testid="confirm"] form`).AttrOr("action", ""))
	_, err := e.store.FindWebhook(t.Context(), wh.ID)
	require.NoError(t, err, "asking deletes nothing")

	rec := b.post("/webhooks/"+wh.ID+"/delete", nil)
	require.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Equal(t, "/webhooks", rec.Header().Get("Location"))
	_, err = e.store.FindWebhook(t.Context(), wh.ID)
	assert.ErrorIs(t, err, db.ErrNotFound)
	_, err = e.store.FindDelivery(t.Context(), d.ID)
	assert.ErrorIs(t, err, db.ErrNotFound)
	list := doc(t, b.get("/webhooks"))
	assert.Contains(t, text(testid(list, "flash")), "Webhook deleted")
	assert.Contains(t, text(testid(list, "empty-webhooks")), "No webhooks yet")

	assert.Equal(t, http.StatusNotFound, b.post("/webhooks/"+wh.ID+"/delete", nil).Code)
}

func TestSecretIsHiddenUntilRevealed(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	wh := dbtest.Webhook(t, e.store, "https://receiver.test/hook")

	page := b.get("/webhooks/" + wh.ID)
	assert.NotContains(t, page.Body.String(), wh.Secret)
	d := doc(t, page)
	assert.Equal(t, "/webhooks/"+wh.ID+"/secret", testid(d, "reveal-secret").AttrOr("hx-get", ""))

	rec := b.htmx(http.MethodGet, "/webhooks/"+wh.ID+"/secret", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, wh.Secret, text(testid(doc(t, rec), "secret-value")))
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))

	// Without JavaScript the link reloads the page with the secret shown.
	assert.Equal(t, wh.Secret, text(testid(doc(t, b.get("/webhooks/"+wh.ID+"?reveal=1")), "secret-value")))
}

func TestWebhookListShowsSuccessRateAndLastDelivery(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()

	empty := doc(t, b.get("/webhooks"))
	assert.Contains(t, text(testid(empty, "empty-webhooks")), "No webhooks yet — create one")

	wh := dbtest.Webhook(t, e.store, "https://receiver.test/hook", "order.*")
	for i, ok := range []bool{true, true, true, false} {
		dbtest.Event(t, e.store, "order.paid", i)
		next, code := db.StateSucceeded, 200
		if !ok {
			next, code = db.StateFailed, 500
		}
		attempt(t, e.store, wh.ID, db.AttemptResult{StatusCode: code, AttemptedAt: e.clock.Now(), Next: next})
	}
	e.clock.Add(5 * time.Minute)
	rows := testid(doc(t, b.get("/webhooks")), "webhook-row")
	require.Equal(t, 1, rows.Length())
	assert.Equal(t, "https://receiver.test/hook", text(testid(rows, "webhook-link")))
	assert.Contains(t, text(rows), "order.*")
	assert.Contains(t, text(testid(rows, "enabled")), "Enabled")
	assert.Equal(t, "75% (3 of 4)", text(testid(rows, "success-rate")))
	assert.Contains(t, text(rows), "2026-03-01 12:00:00 UTC (5 min ago)")
}

func TestSendTestEventGoesToThatWebhookOnly(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	target := dbtest.Webhook(t, e.store, "https://receiver.test/a", "order.*")
	other := dbtest.Webhook(t, e.store, "https://receiver.test/b", "*")

	rec := b.htmx(http.MethodPost, "/webhooks/"+target.ID+"/test", nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	box := testid(doc(t, rec), "test-result")
	assert.Equal(t, "pending", box.AttrOr("data-state", ""))
	deliveryID := strings.TrimPrefix(testid(box, "test-delivery-link").AttrOr("href", ""), "/deliveries/")
	assert.Equal(t, "/deliveries/"+deliveryID+"/test-result", box.AttrOr("hx-get", ""), "it follows the delivery")
	assert.Equal(t, "every 1s", box.AttrOr("hx-trigger", ""))

	require.Len(t, e.deliveriesOf(target.ID), 1)
	assert.Empty(t, e.deliveriesOf(other.ID), "a test event is not fanned out")
	d := e.deliveriesOf(target.ID)[0]
	assert.Equal(t, db.TestEventType, d.EventType)
	assert.Equal(t, deliveryID, d.ID)

	attempt(t, e.store, target.ID, db.AttemptResult{StatusCode: 204, Duration: 12 * time.Millisecond, AttemptedAt: e.clock.Now(), Next: db.StateSucceeded})
	rec = b.htmx(http.MethodGet, "/deliveries/"+d.ID+"/test-result", nil)
	box = testid(doc(t, rec), "test-result")
	assert.Equal(t, "succeeded", box.AttrOr("data-state", ""))
	assert.Equal(t, "204 No Content", text(testid(box, "test-status")))
	assert.Contains(t, text(box), "12 ms")
	_, polling := box.Attr("hx-trigger")
	assert.False(t, polling, "polling stops when the delivery is final")

	// Without JavaScript the form goes to the delivery page.
	rec = b.post("/webhooks/"+target.ID+"/test", nil)
	require.Equal(t, http.StatusSeeOther, rec.Code)
	assert.True(t, strings.HasPrefix(rec.Header().Get("Location"), "/deliveries/dlv_"))

	// A disabled webhook would never send it: the failure is shown, not swallowed.
	off := false
	_, err := e.store.UpdateWebhook(t.Context(), target.ID, db.WebhookUpdate{Enabled: &off})
	require.NoError(t, err)
	rec = b.htmx(http.MethodPost, "/webhooks/"+target.ID+"/test", nil)
	assert.Equal(t, http.StatusConflict, rec.Code)
	msg, _ := url.PathUnescape(rec.Header().Get("X-Error-Message"))
	assert.Equal(t, "The webhook is disabled. Enable it first, then try again.", msg)
}

func TestRetryAllFailedAsksAndReportsTheCount(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	wh := dbtest.Webhook(t, e.store, "https://receiver.test/hook")
	for i := range 3 {
		dbtest.Event(t, e.store, "order.paid", i)
		next := db.StateFailed
		if i == 2 {
			next = db.StateSucceeded
		}
		attempt(t, e.store, wh.ID, db.AttemptResult{StatusCode: 500, AttemptedAt: e.clock.Now(), Next: next})
	}

	page := doc(t, b.get("/webhooks/"+wh.ID))
	assert.Equal(t, "Retry all failed (2)", text(testid(page, "retry-all")))
	confirm := doc(t, b.get("/webhooks/"+wh.ID+"/retry-failed"))
	assert.Contains(t, text(testid(confirm, "confirm")), "2 failed deliveries of https://receiver.test/hook will each get one immediate attempt")

	rec := b.post("/webhooks/"+wh.ID+"/retry-failed", nil)
	require.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Equal(t, "/webhooks/"+wh.ID, rec.Header().Get("Location"))
	page = doc(t, b.get("/webhooks/"+wh.ID))
	assert.Equal(t, "Retried 2 failed deliveries.", text(testid(page, "flash")))
	assert.Equal(t, 0, testid(page, "retry-all").Length(), "nothing failed is left")
	states := map[db.State]int{}
	for _, d := range e.deliveriesOf(wh.ID) {
		states[d.State]++
		if d.State == db.StatePending {
			assert.True(t, d.Manual)
		}
	}
	assert.Equal(t, map[db.State]int{db.StatePending: 2, db.StateSucceeded: 1}, states)
}

// A webhook hookrelay disabled shows why, on its page and in the list, until it is enabled
// again (issue #12 item 4).
func TestDisabledWebhookShowsItsReason(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	wh := dbtest.Webhook(t, e.store, "https://receiver.test/hook")
	dbtest.Event(t, e.store, "a.b", 1)
	dbtest.Attempt(t, e.store, wh.ID, db.AttemptResult{StatusCode: 410, Next: db.StateFailed,
		DisableReason: "the receiver answered 410 Gone"})

	d := doc(t, b.get("/webhooks/"+wh.ID))
	banner := testid(d, "disabled-banner")
	require.Equal(t, 1, banner.Length())
	assert.Equal(t, "the receiver answered 410 Gone", text(testid(banner, "disabled-banner-reason")))
	assert.Contains(t, text(banner), "hookrelay disabled this webhook")
	assert.Contains(t, text(banner), "Its deliveries wait until it is enabled again")
	assert.Equal(t, "Enable", text(testid(d, "toggle-enabled")))
	list := doc(t, b.get("/webhooks"))
	assert.Equal(t, "the receiver answered 410 Gone", text(testid(list, "disabled-reason")))
	alerts := doc(t, b.get("/alerts"))
	assert.Equal(t, "Webhook disabled", text(testid(alerts, "alert-kind")))
	assert.Equal(t, "the receiver answered 410 Gone", text(testid(alerts, "alert-reason")))

	require.Equal(t, http.StatusSeeOther, b.post("/webhooks/"+wh.ID+"/enabled", url.Values{"enabled": {"true"}}).Code)
	d = doc(t, b.get("/webhooks/"+wh.ID))
	assert.Zero(t, testid(d, "disabled-banner").Length(), "enabled again: the reason is gone")
	assert.Zero(t, testid(doc(t, b.get("/webhooks")), "disabled-reason").Length())

	require.Equal(t, http.StatusSeeOther, b.post("/webhooks/"+wh.ID+"/enabled", url.Values{"enabled": {"false"}}).Code)
	assert.Zero(t, testid(doc(t, b.get("/webhooks/"+wh.ID)), "disabled-banner").Length(), "disabled by hand: no banner")
}

// Issue 12 item 6 in the UI: Replay… on the event page, to every matching webhook or to the
// ones ticked.
func TestReplayFromTheEventPage(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	a := dbtest.Webhook(t, e.store, "https://a.test/hook", "order.*")
	ev := dbtest.Event(t, e.store, "order.paid", 1)
	other := dbtest.Webhook(t, e.store, "https://other.test/hook", "invoice.*")

	page := doc(t, b.get("/events/"+ev.EventID))
	assert.Equal(t, "/events/"+ev.EventID+"/replay", testid(page, "replay").AttrOr("href", ""))
	form := doc(t, b.get("/events/"+ev.EventID+"/replay"))
	assert.Equal(t, 2, testid(form, "replay-webhook").Length(), "every webhook to choose from")

	rec := b.post("/events/"+ev.EventID+"/replay", url.Values{"to": {"some"}})
	require.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, "Tick at least one webhook, or choose every matching webhook.", text(testid(doc(t, rec), "replay-error")))

	require.Equal(t, http.StatusSeeOther, b.post("/events/"+ev.EventID+"/replay", url.Values{"to": {"all"}}).Code)
	assert.Contains(t, text(testid(doc(t, b.get("/events/"+ev.EventID)), "flash")), "Replayed to 1 webhook.")
	assert.Len(t, dbtest.Deliveries(t, e.store, a.ID), 2, "the matching webhook got the event again")
	assert.Empty(t, dbtest.Deliveries(t, e.store, other.ID))

	require.Equal(t, http.StatusSeeOther, b.post("/events/"+ev.EventID+"/replay",
		url.Values{"to": {"some"}, "webhook": {other.ID}}).Code)
	assert.Len(t, dbtest.Deliveries(t, e.store, other.ID), 1, "a ticked webhook, whatever its filter")
	assert.Len(t, dbtest.Deliveries(t, e.store, a.ID), 2)

	rec = b.post("/events/"+ev.EventID+"/replay", url.Values{"to": {"some"}, "webhook": {"whk_missing"}})
	require.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, text(testid(doc(t, rec), "replay-error")), "does not exist")

	viewer := e.userBrowser(db.RoleViewer)
	locked := testid(doc(t, viewer.get("/events/"+ev.EventID)), "replay")
	assert.Empty(t, locked.AttrOr("href", ""), "a viewer cannot replay: no link")
}

// Issue 12 item 5 in the UI: a time range, its count to confirm, then the retry.
func TestRecoverFromTheUI(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	a := dbtest.Webhook(t, e.store, "https://a.test/hook", "order.*")
	other := dbtest.Webhook(t, e.store, "https://other.test/hook", "invoice.*")
	for i := range 3 {
		dbtest.Event(t, e.store, "order.paid", i)
		dbtest.Fail(t, e.store, a.ID, 503)
	}
	dbtest.Event(t, e.store, "invoice.paid", 1)
	dbtest.Fail(t, e.store, other.ID, 503)
	since := e.clock.Now().Add(-time.Minute).UTC().Format("2006-01-02T15:04")

	assert.Equal(t, "/deliveries/recover?webhook="+a.ID, testid(doc(t, b.get("/webhooks/"+a.ID)), "recover").AttrOr("href", ""))
	assert.Equal(t, "/deliveries/recover", testid(doc(t, b.get("/deliveries")), "recover").AttrOr("href", ""))
	form := doc(t, b.get("/deliveries/recover?webhook="+a.ID))
	assert.Zero(t, testid(form, "recover-confirm").Length(), "no count before a range")

	bad := doc(t, b.get("/deliveries/recover?webhook="+a.ID+"&since=yesterday"))
	assert.Contains(t, text(testid(bad, "recover-error")), "Give the start of the range")

	confirm := doc(t, b.get("/deliveries/recover?webhook="+a.ID+"&since="+url.QueryEscape(since)))
	assert.Equal(t, "3 failed deliveries will each get one attempt.", text(testid(confirm, "recover-summary")))
	assert.Equal(t, "4 failed deliveries will each get one attempt.",
		text(testid(doc(t, b.get("/deliveries/recover?since="+url.QueryEscape(since))), "recover-summary")), "every webhook")

	rec := b.post("/deliveries/recover", url.Values{"webhook": {a.ID}, "since": {since}, "until": {""}})
	require.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Equal(t, "/webhooks/"+a.ID, rec.Header().Get("Location"))
	assert.Contains(t, text(testid(doc(t, b.get("/webhooks/"+a.ID)), "flash")), "Retried 3 failed deliveries.")
	for _, d := range dbtest.Deliveries(t, e.store, a.ID) {
		assert.Equal(t, db.StatePending, d.State)
	}
	assert.Equal(t, db.StateFailed, dbtest.Deliveries(t, e.store, other.ID)[0].State, "the other webhook is not in it")

	rec = b.post("/deliveries/recover", url.Values{"since": {since}, "until": {"2000-01-01T00:00"}})
	require.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, text(testid(doc(t, rec), "recover-error")), "must come after its start")

	viewer := e.userBrowser(db.RoleViewer)
	assert.Empty(t, testid(doc(t, viewer.get("/deliveries")), "recover").AttrOr("href", ""), "a viewer cannot recover")
}
