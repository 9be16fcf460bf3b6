package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/handlers"
)

func TestDeliveryDetailShowsPayloadHeadersAndEveryAttempt(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	wh := dbtest.Webhook(t, e.store, "https://receiver.test/hook")
	res, err := e.store.CreateEvents(t.Context(), []db.NewEvent{{Type: "workflow.completed", WorkflowID: "wf_42", Data: json.RawMessage(`{"status":"done","n":1}`)}})
	require.NoError(t, err)
	first := e.clock.Now()
	attempt(t, e.store, wh.ID, db.AttemptResult{StatusCode: 503, RetryAfter: 120 * time.Second, ResponseBody: []byte("overloaded, try later"), ResponseTruncated: true,
		Duration: 1234 * time.Millisecond, Signature: "v1,Zmlyc3Q=", AttemptedAt: first, Next: db.StatePending, NextAt: first.Add(time.Minute)})
	e.clock.Add(30 * time.Second)
	d := e.deliveriesOf(wh.ID)[0]

	rec := b.get("/deliveries/" + d.ID)
	require.Equal(t, http.StatusOK, rec.Code)
	page := doc(t, rec)
	assert.Equal(t, "{\n  \"id\": \""+res[0].EventID+"\",\n  \"eventType\": \"workflow.completed\",", strings.Join(strings.Split(testid(page, "payload").Text(), "\n")[:3], "\n"), "pretty-printed")
	live := testid(page, "delivery-live")
	assert.Equal(t, "pending", live.AttrOr("data-state", ""))
	assert.Equal(t, "/deliveries/"+d.ID+"/live", live.AttrOr("hx-get", ""), "a pending delivery refreshes itself")
	assert.Equal(t, "every 1s", live.AttrOr("hx-trigger", ""))
	assert.Contains(t, text(testid(live, "status")), "Pending")
	_, disabled := testid(live, "retry").Attr("disabled")
	assert.True(t, disabled, "no retry while pending")
	assert.Contains(t, text(live), "Next attempt 2026-03-01 12:01:00 UTC (in 30 s)")

	a := testid(live, "attempt")
	require.Equal(t, 1, a.Length())
	assert.Equal(t, "503 Service Unavailable", text(testid(a, "attempt-status")))
	assert.Equal(t, "1.23 s", text(testid(a, "attempt-duration")))
	assert.Equal(t, "scheduled", text(testid(a, "attempt-trigger")))
	assert.Equal(t, "2026-03-01 12:00:00 UTC (30 s ago)", text(testid(a, "attempt-time")))
	assert.Equal(t, "overloaded, try later", testid(a, "attempt-body").Text())
	assert.Equal(t, "truncated to 21 bytes", text(testid(a, "attempt-truncated")))
	assert.Equal(t, "the receiver asked to wait 120 s (2m0s)", text(testid(a, "attempt-retry-after")))
	headers := map[string]string{}
	testid(a, "attempt-headers").Find("dt").Each(func(_ int, dt *goquery.Selection) { headers[text(dt)] = text(dt.Next()) })
	assert.Equal(t, map[string]string{
		"webhook-id":        res[0].EventID,
		"webhook-timestamp": strconv.FormatInt(first.Unix(), 10),
		"webhook-signature": "v1,Zmlyc3Q=",
		"content-type":      "application/json",
		"user-agent":        "github.com/hookrelay/hookrelay/test",
	}, headers)

	// The second attempt times out and the schedule is used up.
	e.clock.Add(31 * time.Second)
	attempt(t, e.store, wh.ID, db.AttemptResult{ErrorClass: "timeout", ErrorMessage: "no answer within 15s", Duration: 15 * time.Second,
		Signature: "v1,c2Vjb25k", AttemptedAt: e.clock.Now(), Next: db.StateFailed})
	rec = b.htmx(http.MethodGet, "/deliveries/"+d.ID+"/live", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	live = testid(doc(t, rec), "delivery-live")
	assert.Equal(t, "failed", live.AttrOr("data-state", ""))
	_, polling := live.Attr("hx-trigger")
	assert.False(t, polling, "polling stops once the delivery is final")
	as := testid(live, "attempt")
	require.Equal(t, 2, as.Length())
	latest := as.First()
	assert.Equal(t, "2", latest.AttrOr("data-number", ""), "newest first")
	assert.Equal(t, "timeout", text(testid(latest, "attempt-error")))
	assert.Equal(t, "—", text(testid(latest, "attempt-status")))
	_, disabled = testid(live, "retry").Attr("disabled")
	assert.False(t, disabled)
}

func TestRetryFromTheDeliveryPageSwapsInPlace(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	wh, d := e.failedDelivery("https://receiver.test/hook", 500, "boom")

	btn := testid(doc(t, b.get("/deliveries/"+d.ID)), "retry")
	assert.Equal(t, "Retry", text(btn))
	form := btn.Closest("form")
	assert.Equal(t, "/deliveries/"+d.ID+"/retry?view=live", form.AttrOr("hx-post", ""))
	assert.Equal(t, "#delivery-live", form.AttrOr("hx-target", ""))
	assert.Equal(t, "outerHTML", form.AttrOr("hx-swap", ""))

	rec := b.htmx(http.MethodPost, "/deliveries/"+d.ID+"/retry?view=live", nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	live := testid(doc(t, rec), "delivery-live")
	assert.Equal(t, "pending", live.AttrOr("data-state", ""))
	assert.Equal(t, "every 1s", live.AttrOr("hx-trigger", ""), "it polls until the new attempt is in")
	_, disabled := testid(live, "retry").Attr("disabled")
	assert.True(t, disabled)
	assert.Equal(t, 1, testid(live, "attempt").Length(), "earlier attempts stay listed")
	got := dbtest.Delivery(t, e.store, d.ID)
	assert.Equal(t, db.StatePending, got.State)
	assert.True(t, got.Manual)

	// Asked again while pending: refused, and the message reaches the page.
	rec = b.htmx(http.MethodPost, "/deliveries/"+d.ID+"/retry?view=live", nil)
	assert.Equal(t, http.StatusConflict, rec.Code)
	msg, _ := url.PathUnescape(rec.Header().Get("X-Error-Message"))
	assert.Contains(t, msg, "can be retried once it has succeeded or failed")

	// The manual attempt succeeds; the next poll shows it and stops.
	attempt(t, e.store, wh.ID, db.AttemptResult{StatusCode: 200, AttemptedAt: e.clock.Now(), Next: db.StateSucceeded})
	live = testid(doc(t, b.htmx(http.MethodGet, "/deliveries/"+d.ID+"/live", nil)), "delivery-live")
	assert.Equal(t, "succeeded", live.AttrOr("data-state", ""))
	assert.Equal(t, "manual", text(testid(testid(live, "attempt").First(), "attempt-trigger")))
	assert.Equal(t, "Resend", text(testid(live, "retry")), "a succeeded delivery can be resent")
}

func TestRetryFromAListSwapsTheRow(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	_, d := e.failedDelivery("https://receiver.test/hook", 500, "boom")

	row := testid(doc(t, b.get("/deliveries")), "delivery-row")
	require.Equal(t, 1, row.Length())
	_, polling := row.Attr("hx-trigger")
	assert.False(t, polling, "final rows do not poll")
	assert.Equal(t, "closest tr", testid(row, "retry").Closest("form").AttrOr("hx-target", ""))

	rec := b.htmx(http.MethodPost, "/deliveries/"+d.ID+"/retry?view=row", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	// A lone <tr> is parsed inside a table for goquery.
	frag, err := goquery.NewDocumentFromReader(strings.NewReader("<table><tbody>" + rec.Body.String() + "</tbody></table>"))
	require.NoError(t, err)
	row = testid(frag, "delivery-row")
	require.Equal(t, 1, row.Length())
	assert.Equal(t, "row-"+d.ID, row.AttrOr("id", ""))
	assert.Contains(t, text(testid(row, "status")), "Pending")
	assert.Equal(t, "/deliveries/"+d.ID+"/row", row.AttrOr("hx-get", ""))

	// Without JavaScript: a redirect to the delivery page with a message.
	attempt(t, e.store, d.WebhookID, db.AttemptResult{StatusCode: 500, AttemptedAt: e.clock.Now(), Next: db.StateFailed})
	rec = b.post("/deliveries/"+d.ID+"/retry", nil)
	require.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Equal(t, "/deliveries/"+d.ID, rec.Header().Get("Location"))
	assert.Contains(t, text(testid(doc(t, b.get("/deliveries/"+d.ID)), "flash")), "Retry scheduled")
}

// deliveryIDs returns the delivery ids of a list page, in order.
func deliveryIDs(t *testing.T, rec interface{ Result() *http.Response }, d *goquery.Document) []string {
	t.Helper()
	var ids []string
	testid(d, "delivery-row").Each(func(_ int, s *goquery.Selection) { ids = append(ids, s.AttrOr("data-delivery-id", "")) })
	return ids
}

func TestDeliveryListFiltersNewestFirst(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	a := dbtest.Webhook(t, e.store, "https://receiver.test/a", "order.*")
	c := dbtest.Webhook(t, e.store, "https://receiver.test/c", "invoice.*")

	dbtest.Event(t, e.store, "order.paid", 1) // 12:00, to a
	attempt(t, e.store, a.ID, db.AttemptResult{StatusCode: 500, AttemptedAt: e.clock.Now(), Next: db.StateFailed})
	e.clock.Add(2 * time.Hour)
	dbtest.Event(t, e.store, "order.shipped", 2) // 14:00, to a, pending
	e.clock.Add(2 * time.Hour)
	dbtest.Event(t, e.store, "invoice.paid", 3) // 16:00, to c
	attempt(t, e.store, c.ID, db.AttemptResult{StatusCode: 200, AttemptedAt: e.clock.Now(), Next: db.StateSucceeded})
	all := append(e.deliveriesOf(c.ID), e.deliveriesOf(a.ID)...)

	ids := func(path string) []string {
		t.Helper()
		rec := b.get(path)
		require.Equal(t, http.StatusOK, rec.Code, "%s: %s", path, rec.Body)
		return deliveryIDs(t, rec, doc(t, rec))
	}
	assert.Equal(t, []string{all[0].ID, all[1].ID, all[2].ID}, ids("/deliveries"), "newest first")
	assert.Equal(t, []string{all[2].ID}, ids("/deliveries?status=failed"))
	assert.Equal(t, []string{all[1].ID}, ids("/deliveries?status=pending"))
	assert.Equal(t, []string{all[1].ID}, ids("/deliveries?event_type=order.shipped"))
	assert.Equal(t, []string{all[0].ID, all[1].ID}, ids("/deliveries?range=24h&from=2026-03-01T13:00"), "the later of range and from")
	assert.Equal(t, []string{all[0].ID}, ids("/deliveries?range=1h"))
	assert.Equal(t, []string{all[1].ID, all[2].ID}, ids("/deliveries?to=2026-03-01T15:00"))
	assert.Equal(t, []string{all[1].ID, all[2].ID}, ids("/deliveries?webhook="+a.ID))
	assert.Equal(t, []string{all[2].ID}, ids("/deliveries?webhook="+a.ID+"&status=failed"))

	page := doc(t, b.get("/deliveries?webhook="+a.ID+"&status=failed&event_type=order.paid"))
	assert.Equal(t, "failed", page.Find(`#f-status option[selected]`).AttrOr("value", ""), "the filter shows what was chosen")
	assert.Equal(t, "order.paid", page.Find("#f-type").AttrOr("value", ""))
	assert.Equal(t, a.ID, page.Find(`input[name="webhook"]`).AttrOr("value", ""))
	assert.Contains(t, page.Find("h1").Text(), "https://receiver.test/a")
	row := testid(page, "delivery-row")
	assert.Equal(t, "order.paid", text(testid(row, "delivery-link")))
	assert.Equal(t, "1", text(testid(row, "attempt-count")))
	assert.Equal(t, "500 Internal Server Error", text(testid(row, "last-status")))

	bad := b.get("/deliveries?status=lost&event_type=no+spaces&range=2y&from=yesterday")
	require.Equal(t, http.StatusUnprocessableEntity, bad.Code)
	bd := doc(t, bad)
	for _, f := range []string{"event_type", "range", "from"} {
		assert.Equal(t, 1, testid(bd, "error-"+f).Length(), f)
	}
	assert.Equal(t, "no spaces", bd.Find("#f-type").AttrOr("value", ""), "input is kept")

	empty := doc(t, b.get("/deliveries?event_type=nothing.here"))
	assert.Contains(t, text(testid(empty, "empty-deliveries")), "No deliveries match")
	assert.Equal(t, http.StatusNotFound, b.get("/deliveries?webhook=whk_missing").Code)
	assert.Equal(t, http.StatusBadRequest, b.get("/deliveries?cursor=bogus").Code)
}

func TestDeliveryListPaginatesWithACursor(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	wh := dbtest.Webhook(t, e.store, "https://receiver.test/hook")
	evs := make([]db.NewEvent, 0, 60)
	for i := range 60 {
		evs = append(evs, db.NewEvent{Type: "order.paid", Data: json.RawMessage(`{"n":` + strconv.Itoa(i) + `}`)})
	}
	_, err := e.store.CreateEvents(t.Context(), evs)
	require.NoError(t, err)
	want := e.deliveriesOf(wh.ID) // newest first

	rec := b.get("/deliveries?status=pending")
	d := doc(t, rec)
	first := deliveryIDs(t, rec, d)
	require.Len(t, first, 50)
	next := testid(d, "next-page").AttrOr("href", "")
	require.NotEmpty(t, next)
	u, _ := url.Parse(next)
	assert.Equal(t, "pending", u.Query().Get("status"), "the filter carries over")

	rec = b.get(next)
	d = doc(t, rec)
	second := deliveryIDs(t, rec, d)
	require.Len(t, second, 10)
	assert.Equal(t, 0, testid(d, "next-page").Length(), "the last page has no link")
	var got []string
	for _, x := range want {
		got = append(got, x.ID)
	}
	assert.Equal(t, got, append(first, second...))
}

func TestHostileContentIsShownAsText(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	hostileURL := `https://receiver.test/<script>alert("url")</script>`
	body := `<script>alert("body")</script><img src=x onerror=alert(1)>`
	wh, d := e.failedDelivery(hostileURL, 500, body)
	_, err := e.store.UpdateWebhook(t.Context(), wh.ID, db.WebhookUpdate{Description: ptr(`<b onmouseover="x()">desc</b>`)})
	require.NoError(t, err)

	for _, path := range []string{"/", "/webhooks", "/webhooks/" + wh.ID, "/deliveries", "/deliveries/" + d.ID, "/events/" + d.EventID} {
		rec := b.get(path)
		require.Equal(t, http.StatusOK, rec.Code, path)
		page := doc(t, rec)
		page.Find("script").Each(func(_ int, s *goquery.Selection) {
			assert.True(t, strings.HasPrefix(s.AttrOr("src", ""), "/static/"), "%s: a script that is not ours: %s", path, s.Text())
		})
		assert.Equal(t, 0, page.Find("img, b").Length(), path)
		assert.NotContains(t, rec.Body.String(), "<script>alert", path)
	}
	page := doc(t, b.get("/deliveries/"+d.ID))
	assert.Equal(t, body, testid(page, "attempt-body").Text(), "the body is shown as the text it is")
	assert.Equal(t, hostileURL, text(testid(page, "delivery-url")))
	assert.Contains(t, b.get("/deliveries/"+d.ID).Body.String(), "&lt;script&gt;alert(&#34;body&#34;)&lt;/script&gt;")
}

func ptr[T any](v T) *T { return &v }

func TestDashboardShowsWhatNeedsAttention(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, func(s *handlers.Server) { s.UI.SessionTTL = 48 * time.Hour })
	b := e.signedIn()

	empty := doc(t, b.get("/"))
	assert.Contains(t, text(testid(empty, "empty-webhooks")), "No webhooks yet — create one")
	assert.Equal(t, 0, testid(empty, "attention-banner").Length())

	broken, failed := e.failedDelivery("https://receiver.test/broken", 503, "down")
	healthy := dbtest.Webhook(t, e.store, "https://receiver.test/ok", "order.*")
	dbtest.Event(t, e.store, "order.shipped", 2) // to both; healthy answers, broken is retrying
	attempt(t, e.store, healthy.ID, db.AttemptResult{StatusCode: 200, AttemptedAt: e.clock.Now(), Next: db.StateSucceeded})
	attempt(t, e.store, broken.ID, db.AttemptResult{ErrorClass: "connection", AttemptedAt: e.clock.Now().Add(time.Second),
		Next: db.StatePending, NextAt: e.clock.Now().Add(time.Hour)})

	page := doc(t, b.get("/"))
	assert.Contains(t, text(testid(page, "attention-banner")), "1 delivery failed for good in the last 24 hours, 1 webhook is failing now")
	assert.Equal(t, "1", text(testid(page, "stat-failed").Find(".stat-n")))
	assert.Equal(t, "1", text(testid(page, "stat-pending").Find(".stat-n")))
	assert.Equal(t, "1", text(testid(page, "stat-succeeded").Find(".stat-n")))
	failing := testid(page, "failing-webhook")
	require.Equal(t, 1, failing.Length())
	assert.Contains(t, text(failing), "https://receiver.test/broken")
	assert.Contains(t, text(failing), "connection", "the last error")
	recent := testid(page, "delivery-row")
	require.Equal(t, 1, recent.Length())
	assert.Equal(t, failed.ID, recent.AttrOr("data-delivery-id", ""))

	// A day later the counts are empty, but the webhook still fails until an attempt succeeds.
	e.clock.Add(25 * time.Hour)
	page = doc(t, b.get("/"))
	assert.Equal(t, "0", text(testid(page, "stat-failed").Find(".stat-n")))
	assert.Equal(t, 1, testid(page, "failing-webhook").Length())
}

func TestEventsSearchAndEventPage(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	wh := dbtest.Webhook(t, e.store, "https://receiver.test/hook", "workflow.*")
	res, err := e.store.CreateEvents(t.Context(), []db.NewEvent{
		{Type: "workflow.started", WorkflowID: "wf_1", Data: json.RawMessage(`{}`)},
		{Type: "workflow.completed", WorkflowID: "wf_1", Data: json.RawMessage(`{"ok":true}`)},
		{Type: "invoice.paid", WorkflowID: "wf_2", Data: json.RawMessage(`{}`)},
	})
	require.NoError(t, err)

	ids := func(path string) []string {
		t.Helper()
		rec := b.get(path)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var out []string
		testid(doc(t, rec), "event-row").Each(func(_ int, s *goquery.Selection) { out = append(out, s.AttrOr("data-event-id", "")) })
		return out
	}
	assert.Equal(t, []string{res[2].EventID, res[1].EventID, res[0].EventID}, ids("/events"))
	assert.Equal(t, []string{res[1].EventID, res[0].EventID}, ids("/events?type=workflow."))
	assert.Equal(t, []string{res[1].EventID}, ids("/events?type=workflow.completed"))
	assert.Equal(t, []string{res[2].EventID}, ids("/events?workflow_id=wf_2"))
	assert.Equal(t, []string{res[0].EventID}, ids("/events?workflow_id=wf_1&type=workflow.s"))
	assert.Empty(t, ids("/events?type=nothing"))
	assert.Equal(t, http.StatusUnprocessableEntity, b.get("/events?type=%27%3B+DROP+TABLE+events").Code)

	page := doc(t, b.get("/events/"+res[1].EventID))
	assert.Equal(t, "workflow.completed", text(testid(page, "event-type")))
	assert.Contains(t, testid(page, "payload").Text(), "\"ok\": true")
	rows := testid(page, "delivery-row")
	require.Equal(t, 1, rows.Length())
	assert.Equal(t, e.deliveriesOf(wh.ID)[0].ID, rows.AttrOr("data-delivery-id", ""))

	none := doc(t, b.get("/events/"+res[2].EventID))
	assert.Contains(t, text(testid(none, "empty-deliveries")), "No webhook matched")
	assert.Equal(t, http.StatusNotFound, b.get("/events/evt_missing").Code)
}

func TestErrorPagesUseTheLayout(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()

	rec := b.get("/no/such/page")
	require.Equal(t, http.StatusNotFound, rec.Code)
	page := doc(t, rec)
	assert.Equal(t, "404", testid(page, "error-page").AttrOr("data-status", ""))
	assert.Equal(t, 1, testid(page, "nav").Length(), "in the layout, with navigation")

	for _, path := range []string{"/webhooks/whk_missing", "/deliveries/dlv_missing"} {
		rec := b.get(path)
		assert.Equal(t, http.StatusNotFound, rec.Code, path)
		assert.Equal(t, "404", testid(doc(t, rec), "error-page").AttrOr("data-status", ""), path)
	}
	hx := b.htmx(http.MethodGet, "/deliveries/dlv_missing/live", nil)
	assert.Equal(t, http.StatusNotFound, hx.Code)
	assert.NotEmpty(t, hx.Header().Get("X-Error-Message"), "htmx failures carry a message to show")

	// With the database gone, pages answer 503 (try again) in the layout, naming the request
	// id to look for in the log.
	require.NoError(t, e.store.Close())
	rec = b.get("/webhooks")
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	page = doc(t, rec)
	assert.Equal(t, "503", testid(page, "error-page").AttrOr("data-status", ""))
	assert.Contains(t, text(testid(page, "error-page")), rec.Header().Get("X-Request-Id"))
	assert.Equal(t, 1, page.Find("header.top").Length(), "in the layout")
}

// Issue 12 item 9 in the UI: the deliveries page finds by workflow, event, last status and
// last error.
func TestDeliveryListFindsByWhatHappened(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	wh := dbtest.Webhook(t, e.store, "https://a.test/hook")
	_, err := e.store.CreateEvents(t.Context(), []db.NewEvent{
		{Type: "a.b", WorkflowID: "wf_1", Data: []byte(`{}`)},
		{Type: "a.b", WorkflowID: "wf_2", Data: []byte(`{}`)},
		{Type: "a.b", Data: []byte(`{}`)},
	})
	require.NoError(t, err)
	ok := dbtest.Attempt(t, e.store, wh.ID, db.AttemptResult{StatusCode: 200, Next: db.StateSucceeded})
	down := dbtest.Attempt(t, e.store, wh.ID, db.AttemptResult{StatusCode: 503, Next: db.StateFailed})
	slow := dbtest.Attempt(t, e.store, wh.ID, db.AttemptResult{ErrorClass: "timeout", Next: db.StateFailed})
	rows := func(query string) []string {
		t.Helper()
		var ids []string
		testid(doc(t, b.get("/deliveries"+query)), "delivery-row").Each(func(_ int, s *goquery.Selection) {
			ids = append(ids, s.AttrOr("data-delivery-id", ""))
		})
		return ids
	}
	assert.Equal(t, []string{down.DeliveryID}, rows("?status_code=5xx"))
	assert.Equal(t, []string{ok.DeliveryID}, rows("?status_code=200"))
	assert.Equal(t, []string{slow.DeliveryID}, rows("?error=timeout"))
	assert.Equal(t, []string{ok.DeliveryID}, rows("?workflow=wf_1"))
	assert.Equal(t, []string{down.DeliveryID}, rows("?event="+down.EventID))
	rec := b.get("/deliveries?status_code=9xx")
	assert.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	assert.Contains(t, text(doc(t, rec).Find("#f-code").Parent()), "Enter a status code such as 503")
}

// The id box in the header sends a pasted id straight to its page (issue 12 item 9).
func TestIDSearchGoesStraightToThePage(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	for _, page := range []string{"/deliveries", "/events", "/webhooks", "/alerts"} {
		form := testid(doc(t, b.get(page)), "id-search")
		assert.Equal(t, "/go", form.AttrOr("action", ""), page)
	}
	for id, want := range map[string]string{"evt_01ABC": "/events/evt_01ABC", " dlv_01ABC ": "/deliveries/dlv_01ABC",
		"whk_01ABC": "/webhooks/whk_01ABC"} {
		rec := b.get("/go?id=" + url.QueryEscape(id))
		assert.Equal(t, http.StatusSeeOther, rec.Code, id)
		assert.Equal(t, want, rec.Header().Get("Location"), id)
	}
	for _, bad := range []string{"", "nope", "evt_", "evt_../x", "usr_01ABC"} {
		rec := b.get("/go?id=" + url.QueryEscape(bad))
		assert.Equal(t, http.StatusBadRequest, rec.Code, bad)
		assert.Contains(t, rec.Body.String(), "Paste an event (evt_…), delivery (dlv_…) or webhook (whk_…) id.", bad)
	}
}

// Issue 12 item 10: the dashboard and each webhook page chart the last 24 hours' attempts
// per hour as SVG, succeeded solid and failed hatched, with the numbers as text.
func TestChartsOfAttemptsPerHour(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	a := dbtest.Webhook(t, e.store, "https://a.test/hook")
	other := dbtest.Webhook(t, e.store, "https://other.test/hook")
	for i := range 3 {
		dbtest.Event(t, e.store, "a.b", i)
	}
	dbtest.Succeed(t, e.store, a.ID)
	dbtest.Fail(t, e.store, a.ID, 503)
	dbtest.Succeed(t, e.store, other.ID)
	e.clock.Add(2 * time.Hour)
	dbtest.Fail(t, e.store, a.ID, 500)

	page := doc(t, b.get("/"))
	chart := testid(page, "chart-attempts")
	require.Equal(t, 1, chart.Length())
	assert.Equal(t, 24, chart.Find(`[data-testid="chart-hour"]`).Length(), "one column per hour")
	assert.Equal(t, "2 succeeded, 2 failed", text(testid(page, "chart-attempts-totals")))
	assert.Equal(t, 2, chart.Find("rect.bar-failed").Length(), "two hours with failures, hatched")
	assert.Contains(t, chart.Find("rect.bar-failed").First().AttrOr("fill", ""), "url(#chart-attempts-hatch)")
	assert.Equal(t, "img", chart.Find("svg").AttrOr("role", ""))
	rows := testid(page, "chart-attempts-table").Find("tbody tr")
	assert.Equal(t, 24, rows.Length(), "the numbers, for screen readers")
	assert.Equal(t, "14:0001", strings.ReplaceAll(text(rows.Last()), " ", ""), "the current hour: none succeeded, one failed")
	assert.Contains(t, chart.Find("title").Eq(21).Text(), "12:00–12:59 UTC: 2 succeeded, 1 failed")

	mine := doc(t, b.get("/webhooks/"+a.ID))
	assert.Equal(t, "1 succeeded, 2 failed", text(testid(mine, "chart-attempts-totals")), "the webhook's own")
}
