package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/alert"
	"github.com/hookrelay/hookrelay/alert/alerttest"
	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/db/sqlite"
	"github.com/hookrelay/hookrelay/handlers"
)

const uiBaseURL = "https://hookrelay.test"

// newUIAlertEnv is a UI server whose AlertEmail is a real alert sender: emailing through a
// real SMTP server when mailer is true, with email off otherwise.
func newUIAlertEnv(t *testing.T, mailer bool, opts ...func(*handlers.Server)) (*uiEnv, *alert.Sender, *alerttest.Server) {
	t.Helper()
	smtpSrv := alerttest.Start(t)
	var sender *alert.Sender
	e := newUIEnv(t, append(opts, func(s *handlers.Server) {
		o := alert.Options{BaseURL: uiBaseURL, Window: time.Hour,
			Recipients: func(context.Context) ([]string, error) { return alertRecipients, nil }}
		if mailer {
			o.Mailer = &alert.SMTP{Addr: smtpSrv.Addr, From: "hookrelay@example.com", TLS: alert.TLSNone, Timeout: 5 * time.Second}
		}
		sender = alert.NewSender(s.DB.(*sqlite.DB), o)
		s.AlertEmail = sender
	})...)
	return e, sender, smtpSrv
}

func tick(t *testing.T, sender *alert.Sender) {
	t.Helper()
	_, err := sender.Tick(t.Context())
	require.NoError(t, err)
}

// alertCards returns the alert cards of a page by alert id.
func alertCards(d *goquery.Document) map[string]*goquery.Selection {
	out := map[string]*goquery.Selection{}
	testid(d, "alert").Each(func(_ int, s *goquery.Selection) { out[s.AttrOr("data-alert-id", "")] = s })
	return out
}

func alertIDs(d *goquery.Document) []string {
	var out []string
	testid(d, "alert").Each(func(_ int, s *goquery.Selection) { out = append(out, s.AttrOr("data-alert-id", "")) })
	return out
}

func TestAlertsPageShowsEachAlertWithItsEmailState(t *testing.T) {
	t.Parallel()
	e, sender, smtpSrv := newUIAlertEnv(t, true)
	b := e.signedIn()

	empty := doc(t, b.get("/alerts"))
	assert.Contains(t, text(testid(empty, "empty-alerts")), "No alerts yet")
	assert.Equal(t, "true", testid(empty, "email-status").AttrOr("data-on", ""))
	assert.Contains(t, text(testid(empty, "email-status")), "Email is on")
	nav := testid(empty, "nav").Find(`a[aria-current="page"]`)
	assert.Equal(t, "Alerts", text(nav), "the nav has an Alerts entry, current here")
	assert.Equal(t, "/alerts", nav.AttrOr("href", ""))

	a := dbtest.Webhook(t, e.store, "https://a.test/hook", "a.*")
	bw := dbtest.Webhook(t, e.store, "https://b.test/hook", "b.*")
	dbtest.Event(t, e.store, "a.created", 1)
	dbtest.Event(t, e.store, "a.created", 2)
	dbtest.Event(t, e.store, "b.created", 1)
	first := dbtest.Fail(t, e.store, a.ID, 503)
	tick(t, sender) // a's immediate alert is sent
	e.clock.Add(time.Minute)
	second := dbtest.Fail(t, e.store, a.ID, 500) // folded into a's digest
	smtpSrv.Refuse()
	third := dbtest.Fail(t, e.store, bw.ID, 502)
	tick(t, sender) // b's alert is refused

	all, _, err := e.store.ListAlerts(t.Context(), db.AlertFilter{})
	require.NoError(t, err)
	require.Len(t, all, 3)
	byKey := map[string]db.Alert{}
	for _, x := range all {
		byKey[x.WebhookID+"/"+string(x.Kind)] = x
	}

	e.clock.Add(time.Minute)
	page := doc(t, b.get("/alerts"))
	assert.Equal(t, []string{all[0].ID, all[1].ID, all[2].ID}, alertIDs(page), "newest first")
	assert.Contains(t, text(testid(page, "email-status")), "2 alerts have not been sent yet")
	cards := alertCards(page)

	sent := cards[byKey[a.ID+"/immediate"].ID]
	require.NotNil(t, sent)
	assert.Equal(t, "✓ Sent", text(testid(sent, "alert-state")), "the state is written out, not only coloured")
	assert.Equal(t, "Immediate", text(testid(sent, "alert-kind")))
	assert.Equal(t, "https://a.test/hook", text(testid(sent, "alert-webhook")))
	assert.Equal(t, "/webhooks/"+a.ID, testid(sent, "alert-webhook").AttrOr("href", ""))
	assert.Equal(t, "1 failed delivery", text(testid(sent, "alert-delivery-count")))
	assert.Equal(t, "/deliveries/"+first.DeliveryID, testid(sent, "alert-delivery").AttrOr("href", ""))
	assert.Equal(t, first.DeliveryID, text(testid(sent, "alert-delivery")))
	assert.Equal(t, "503 Service Unavailable after 1 attempt", text(testid(sent, "alert-last-result")))
	assert.Equal(t, "1", text(testid(sent, "alert-attempts")))
	assert.Equal(t, 0, testid(sent, "alert-smtp-error").Length())
	assert.Equal(t, 0, testid(sent, "alert-next").Length(), "a sent alert is not sent again")
	assert.Contains(t, text(testid(sent, "alert-sent")), "2026-03-01 12:00:00 UTC (2 min ago)")
	assert.Equal(t, "ops@example.com", text(testid(sent, "alert-recipients")))

	digest := cards[byKey[a.ID+"/digest"].ID]
	require.NotNil(t, digest)
	assert.Equal(t, "… Pending", text(testid(digest, "alert-state")))
	assert.Equal(t, "Digest", text(testid(digest, "alert-kind")))
	assert.Equal(t, second.DeliveryID, text(testid(digest, "alert-delivery")))
	assert.Equal(t, "0", text(testid(digest, "alert-attempts")))
	assert.Contains(t, text(testid(digest, "alert-next")), "2026-03-01 13:00:00 UTC (in 58 min) when its window closes")

	refused := cards[byKey[bw.ID+"/immediate"].ID]
	require.NotNil(t, refused)
	assert.Equal(t, "✗ Failed to send", text(testid(refused, "alert-state")))
	assert.Equal(t, third.DeliveryID, text(testid(refused, "alert-delivery")))
	assert.Equal(t, "1", text(testid(refused, "alert-attempts")))
	assert.Contains(t, text(testid(refused, "alert-smtp-error")), "451")
	assert.Contains(t, text(testid(refused, "alert-smtp-error")), "mail system busy, try later")
	assert.Contains(t, text(testid(refused, "alert-next")), "2026-03-01 12:01:30 UTC (30 s ago)")
	assert.Equal(t, 0, testid(refused, "alert-sent").Length())

	// The deliveries link through to their pages.
	assert.Equal(t, http.StatusOK, b.get(testid(refused, "alert-delivery").AttrOr("href", "")).Code)
}

func TestAlertsPageFiltersByStateAndPagesNewestFirst(t *testing.T) {
	t.Parallel()
	e, sender, smtpSrv := newUIAlertEnv(t, true)
	b := e.signedIn()

	// 55 webhooks fail once each: 55 immediate alerts; the last 3 are refused.
	const n = 55
	whs := make([]db.Webhook, n)
	for i := range whs {
		whs[i] = dbtest.Webhook(t, e.store, "https://receiver.test/"+string(rune('a'+i%26))+"/"+strings.Repeat("x", i/26))
	}
	dbtest.Event(t, e.store, "order.paid", 1) // one delivery to each
	for i, wh := range whs {
		if i == n-3 {
			smtpSrv.Refuse()
		}
		dbtest.Fail(t, e.store, wh.ID, 500)
		tick(t, sender)
	}
	all, _, err := e.store.ListAlerts(t.Context(), db.AlertFilter{Limit: 500})
	require.NoError(t, err)
	require.Len(t, all, n)
	var want []string
	for _, a := range all {
		want = append(want, a.ID)
	}

	rec := b.get("/alerts")
	require.Equal(t, http.StatusOK, rec.Code)
	page := doc(t, rec)
	firstPage := alertIDs(page)
	require.Len(t, firstPage, 50)
	next := testid(page, "next-page").AttrOr("href", "")
	require.NotEmpty(t, next)
	page = doc(t, b.get(next))
	secondPage := alertIDs(page)
	assert.Equal(t, want, append(firstPage, secondPage...), "newest first, every alert once")
	assert.Equal(t, 0, testid(page, "next-page").Length(), "the last page has no link")

	refused := doc(t, b.get("/alerts?status=failed_to_send"))
	assert.Equal(t, want[:3], alertIDs(refused))
	assert.Equal(t, "failed_to_send", refused.Find(`#f-status option[selected]`).AttrOr("value", ""), "the filter is kept")
	testid(refused, "alert").Each(func(_ int, s *goquery.Selection) {
		assert.Equal(t, "failed_to_send", s.AttrOr("data-state", ""))
	})
	sentPage := doc(t, b.get("/alerts?status=sent"))
	require.Len(t, alertIDs(sentPage), 50)
	assert.Equal(t, want[3:53], alertIDs(sentPage))
	next = testid(sentPage, "next-page").AttrOr("href", "")
	u, err := url.Parse(next)
	require.NoError(t, err)
	assert.Equal(t, "sent", u.Query().Get("status"), "the filter carries over to the next page")
	assert.Equal(t, want[53:], alertIDs(doc(t, b.get(next))))
	assert.Contains(t, text(testid(doc(t, b.get("/alerts?status=pending")), "empty-alerts")), "No alerts match")

	// htmx filters swap the results only.
	hx := b.htmx(http.MethodGet, "/alerts?status=failed_to_send", nil)
	require.Equal(t, http.StatusOK, hx.Code)
	assert.Equal(t, want[:3], alertIDs(doc(t, hx)))

	bad := b.get("/alerts?status=failed")
	assert.Equal(t, http.StatusUnprocessableEntity, bad.Code)
	assert.Equal(t, "Choose a status from the list.", text(testid(doc(t, bad), "error-status")))
	assert.Equal(t, http.StatusBadRequest, b.get("/alerts?cursor=bogus").Code)
}

func TestAlertsPageSaysWhyEmailIsOff(t *testing.T) {
	t.Parallel()
	e, sender, _ := newUIAlertEnv(t, false)
	b := e.signedIn()
	wh := dbtest.Webhook(t, e.store, "https://a.test/hook")
	dbtest.Event(t, e.store, "a.b", 1)
	dbtest.Fail(t, e.store, wh.ID, 503)
	tick(t, sender)

	page := doc(t, b.get("/alerts"))
	st := testid(page, "email-status")
	assert.Equal(t, "false", st.AttrOr("data-on", ""))
	assert.Equal(t, "no SMTP server is configured (HOOKRELAY_SMTP_ADDR)", text(testid(st, "email-off-reason")))
	assert.Contains(t, text(st), "(1 alert waits)")
	card := testid(page, "alert")
	require.Equal(t, 1, card.Length(), "recorded and listed with email off")
	assert.Equal(t, "… Pending", text(testid(card, "alert-state")))
	assert.Contains(t, text(testid(card, "alert-next")), "when email is set up")

	bare := newUIEnv(t)
	page = doc(t, bare.signedIn().get("/alerts"))
	assert.Equal(t, "alert email is not set up in this server", text(testid(page, "email-off-reason")))
}

func TestSendTestEmailFromTheAlertsPage(t *testing.T) {
	t.Parallel()
	e, _, smtpSrv := newUIAlertEnv(t, true)
	b := e.signedIn()

	// htmx: the form comes back with the outcome in place.
	rec := b.htmx(http.MethodPost, "/alerts/test-email", url.Values{"to": {"someone@example.com"}})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	d := doc(t, rec)
	assert.Equal(t, 0, testid(d, "nav").Length(), "a fragment, not a page")
	res := testid(d, "test-email-result")
	assert.Equal(t, "sent", res.AttrOr("data-outcome", ""))
	assert.Equal(t, "someone@example.com", text(testid(res, "test-email-to")))
	assert.Equal(t, "someone@example.com", d.Find("#to").AttrOr("value", ""), "the address is kept")
	emails := smtpSrv.Emails()
	require.Len(t, emails, 1)
	assert.Equal(t, []string{"someone@example.com"}, emails[0].To)
	assert.Equal(t, "[hookrelay] Test email", emails[0].Subject)

	// Without an address it goes to the alert recipients; without JS the page comes back.
	rec = b.post("/alerts/test-email", url.Values{"to": {""}})
	require.Equal(t, http.StatusOK, rec.Code)
	d = doc(t, rec)
	assert.Equal(t, 1, testid(d, "nav").Length(), "a whole page")
	assert.Equal(t, "Alerts", text(d.Find("h1")))
	assert.Equal(t, "ops@example.com", text(testid(d, "test-email-to")))
	require.Len(t, smtpSrv.Emails(), 2)
	assert.Equal(t, alertRecipients, smtpSrv.Emails()[1].To)

	// The SMTP server's refusal is the outcome, shown as text.
	hostile := `<script>alert(1)</script><img src=x onerror=alert(2)>` // go-mail quotes "`
	smtpSrv.RefuseWith(554, hostile)
	for _, rec := range []*httptest.ResponseRecorder{
		b.htmx(http.MethodPost, "/alerts/test-email", url.Values{"to": {"someone@example.com"}}),
		b.post("/alerts/test-email", url.Values{"to": {"someone@example.com"}}),
	} {
		require.Equal(t, http.StatusOK, rec.Code)
		d = doc(t, rec)
		res = testid(d, "test-email-result")
		assert.Equal(t, "failed", res.AttrOr("data-outcome", ""))
		assert.Contains(t, text(res), "someone@example.com")
		assert.Contains(t, testid(res, "test-email-error").Text(), "554")
		assert.Contains(t, testid(res, "test-email-error").Text(), hostile, "the SMTP answer is shown as the text it is")
		assert.Equal(t, 0, d.Find("img").Length())
		d.Find("script").Each(func(_ int, s *goquery.Selection) {
			assert.True(t, strings.HasPrefix(s.AttrOr("src", ""), "/static/"), "a script that is not ours: %s", s.Text())
		})
		assert.NotContains(t, rec.Body.String(), "<script>alert")
	}
	smtpSrv.Accept()

	// A bad address is a form error: 422, the message, what was typed, nothing sent.
	for _, rec := range []*httptest.ResponseRecorder{
		b.htmx(http.MethodPost, "/alerts/test-email", url.Values{"to": {"not an address"}}),
		b.post("/alerts/test-email", url.Values{"to": {"not an address"}}),
	} {
		require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
		d = doc(t, rec)
		assert.Contains(t, text(testid(d, "error-to")), "Enter an email address")
		assert.Equal(t, "not an address", d.Find("#to").AttrOr("value", ""))
		assert.Equal(t, "true", d.Find("#to").AttrOr("aria-invalid", ""))
		assert.Equal(t, 0, testid(d, "test-email-result").Length())
	}
	assert.Len(t, smtpSrv.Emails(), 2)

	// A post from another site is refused (CSRF), and sends nothing.
	rec = b.post("/alerts/test-email", url.Values{"to": {"someone@example.com"}}, "Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Len(t, smtpSrv.Emails(), 2)
}

func TestSendTestEmailWhenEmailIsOff(t *testing.T) {
	t.Parallel()
	e, _, smtpSrv := newUIAlertEnv(t, false)
	rec := e.signedIn().htmx(http.MethodPost, "/alerts/test-email", url.Values{"to": {"someone@example.com"}})
	require.Equal(t, http.StatusOK, rec.Code)
	res := testid(doc(t, rec), "test-email-result")
	assert.Equal(t, "off", res.AttrOr("data-outcome", ""))
	assert.Equal(t, "email is off: no SMTP server is configured (HOOKRELAY_SMTP_ADDR)", text(testid(res, "test-email-error")))
	assert.Empty(t, smtpSrv.Emails())

	bare := newUIEnv(t)
	rec = bare.signedIn().post("/alerts/test-email", url.Values{})
	require.Equal(t, http.StatusOK, rec.Code)
	res = testid(doc(t, rec), "test-email-result")
	assert.Equal(t, "off", res.AttrOr("data-outcome", ""))
	assert.Contains(t, text(res), "alert email is not set up in this server")
}

func TestAlertsPagesRequireSignIn(t *testing.T) {
	t.Parallel()
	e, _, smtpSrv := newUIAlertEnv(t, true)
	wh := dbtest.Webhook(t, e.store, "https://a.test/hook")
	anon := e.browser()
	for _, path := range []string{"/alerts", "/alerts?status=sent", "/webhooks/" + wh.ID + "/rotate-secret",
		"/webhooks/" + wh.ID + "/deliveries?status=failed"} {
		rec := anon.get(path)
		require.Equal(t, http.StatusSeeOther, rec.Code, path)
		loc, _ := url.Parse(rec.Header().Get("Location"))
		assert.Equal(t, "/login", loc.Path, path)
		assert.Equal(t, path, loc.Query().Get("next"), path)
	}
	for _, path := range []string{"/alerts/test-email", "/webhooks/" + wh.ID + "/rotate-secret"} {
		rec := anon.post(path, url.Values{"to": {"someone@example.com"}, "grace_period": {"0s"}})
		assert.Equal(t, http.StatusSeeOther, rec.Code, path)
		assert.Equal(t, "/login", rec.Header().Get("Location"), path)
		hx := anon.htmx(http.MethodPost, path, url.Values{"to": {"someone@example.com"}})
		assert.Equal(t, http.StatusUnauthorized, hx.Code, path)
	}
	assert.Empty(t, smtpSrv.Emails())
	got, err := e.store.FindWebhook(t.Context(), wh.ID)
	require.NoError(t, err)
	assert.Equal(t, wh.Secret, got.Secret, "nothing rotated")
}

func TestAlertsAreEscaped(t *testing.T) {
	t.Parallel()
	e, sender, smtpSrv := newUIAlertEnv(t, true)
	b := e.signedIn()
	hostileURL := `https://receiver.test/<script>alert("url")</script>`
	hostileSMTP := `<script>alert(1)</script><img src=x onerror=alert(2)>`
	wh := dbtest.Webhook(t, e.store, hostileURL)
	_, err := e.store.UpdateWebhook(t.Context(), wh.ID, db.WebhookUpdate{Description: ptr(`<b onmouseover="x()">desc</b>`)})
	require.NoError(t, err)
	dbtest.Event(t, e.store, "order.paid", 1)
	dbtest.Fail(t, e.store, wh.ID, 500)
	smtpSrv.RefuseWith(554, hostileSMTP)
	tick(t, sender)

	for _, path := range []string{"/alerts", "/"} {
		rec := b.get(path)
		require.Equal(t, http.StatusOK, rec.Code, path)
		page := doc(t, rec)
		page.Find("script").Each(func(_ int, s *goquery.Selection) {
			assert.True(t, strings.HasPrefix(s.AttrOr("src", ""), "/static/"), "%s: a script that is not ours: %s", path, s.Text())
		})
		assert.Equal(t, 0, page.Find("img, b").Length(), path)
		assert.NotContains(t, rec.Body.String(), "<script>alert", path)
	}
	card := testid(doc(t, b.get("/alerts")), "alert")
	assert.Equal(t, hostileURL, text(testid(card, "alert-webhook")))
	assert.Contains(t, testid(card, "alert-smtp-error").Text(), hostileSMTP)
}

func TestDashboardBannerCountsAlerts(t *testing.T) {
	t.Parallel()
	e, sender, smtpSrv := newUIAlertEnv(t, true, func(s *handlers.Server) { s.UI.SessionTTL = 48 * time.Hour })
	b := e.signedIn()
	assert.Equal(t, 0, testid(doc(t, b.get("/")), "alerts-banner").Length())

	a := dbtest.Webhook(t, e.store, "https://a.test/hook", "a.*")
	bw := dbtest.Webhook(t, e.store, "https://b.test/hook", "b.*")
	dbtest.Event(t, e.store, "a.created", 1)
	dbtest.Event(t, e.store, "b.created", 1)
	dbtest.Fail(t, e.store, a.ID, 503)
	tick(t, sender) // sent
	smtpSrv.Refuse()
	dbtest.Fail(t, e.store, bw.ID, 503)
	tick(t, sender) // refused

	page := doc(t, b.get("/"))
	banner := testid(page, "attention-banner")
	assert.Contains(t, text(banner), "Failures need attention", "what it showed before stays")
	alerts := testid(banner, "alerts-banner")
	assert.Equal(t, "2 alerts raised in the last 24 hours", text(testid(alerts, "recent-alerts")))
	assert.Equal(t, "1 not sent yet", text(testid(alerts, "unsent-alerts")))
	assert.NotContains(t, text(alerts), "email is off")
	assert.Equal(t, "/alerts", testid(alerts, "alerts-link").AttrOr("href", ""))

	// A day later nothing is recent, but the unsent alert still shows; so does a quiet day
	// with failures gone, for as long as an alert waits.
	e.clock.Add(25 * time.Hour)
	dbtest.Event(t, e.store, "a.created", 2)
	dbtest.Event(t, e.store, "b.created", 2)
	dbtest.Succeed(t, e.store, a.ID)
	dbtest.Succeed(t, e.store, bw.ID)
	page = doc(t, b.get("/"))
	alerts = testid(page, "alerts-banner")
	assert.Contains(t, text(testid(page, "attention-banner")), "Alerts:")
	assert.NotContains(t, text(testid(page, "attention-banner")), "Failures need attention")
	assert.Equal(t, "0 alerts raised in the last 24 hours", text(testid(alerts, "recent-alerts")),
		"the two recovered alerts need no attention")
	assert.Equal(t, "3 not sent yet", text(testid(alerts, "unsent-alerts")), "with the two recovered emails")

	smtpSrv.Accept()
	tick(t, sender)
	assert.Equal(t, 0, testid(doc(t, b.get("/")), "attention-banner").Length(), "all sent, nothing recent: no banner")

	// With email off, the banner says why unsent alerts wait.
	off, offSender, _ := newUIAlertEnv(t, false)
	wh := dbtest.Webhook(t, off.store, "https://c.test/hook")
	dbtest.Event(t, off.store, "c.created", 1)
	dbtest.Fail(t, off.store, wh.ID, 500)
	tick(t, offSender)
	alerts = testid(doc(t, off.signedIn().get("/")), "alerts-banner")
	assert.Contains(t, text(alerts), "1 alert raised in the last 24 hours, 1 not sent yet (email is off).")
}

// linkRE finds the links to the UI in an alert email's text part.
var linkRE = regexp.MustCompile(regexp.QuoteMeta(uiBaseURL) + `(/[^\s"<>]*)`)

func TestAlertEmailLinksOpenInTheUI(t *testing.T) {
	t.Parallel()
	e, sender, smtpSrv := newUIAlertEnv(t, true)
	wh := dbtest.Webhook(t, e.store, "https://a.test/hook")
	other := dbtest.Webhook(t, e.store, "https://b.test/hook")
	dbtest.Event(t, e.store, "order.paid", 1)
	failed := dbtest.Fail(t, e.store, wh.ID, 503)
	dbtest.Succeed(t, e.store, other.ID)
	tick(t, sender)
	emails := smtpSrv.Emails()
	require.Len(t, emails, 1)

	var paths []string
	for _, m := range linkRE.FindAllStringSubmatch(emails[0].Text, -1) {
		paths = append(paths, m[1])
	}
	deliveryPath := "/deliveries/" + failed.DeliveryID
	failedPath := "/webhooks/" + wh.ID + "/deliveries?status=failed"
	require.Contains(t, paths, deliveryPath)
	require.Contains(t, paths, failedPath)

	b := e.signedIn()
	rec := b.get(deliveryPath)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, failed.DeliveryID, text(testid(doc(t, rec), "delivery-id")))

	rec = b.get(failedPath)
	require.Equal(t, http.StatusSeeOther, rec.Code)
	loc, err := url.Parse(rec.Header().Get("Location"))
	require.NoError(t, err)
	assert.Equal(t, "/deliveries", loc.Path)
	assert.Equal(t, url.Values{"webhook": {wh.ID}, "status": {"failed"}}, loc.Query())
	rec = b.get(loc.String())
	require.Equal(t, http.StatusOK, rec.Code)
	d := doc(t, rec)
	rows := testid(d, "delivery-row")
	require.Equal(t, 1, rows.Length(), "this webhook's failed deliveries only")
	assert.Equal(t, failed.DeliveryID, rows.AttrOr("data-delivery-id", ""))
	assert.Contains(t, text(d.Find("h1")), "https://a.test/hook")
	assert.Equal(t, "failed", d.Find(`#f-status option[selected]`).AttrOr("value", ""))
	assert.Equal(t, 1, testid(rows, "retry").Length(), "where the admin can retry")

	// Signed out, the link leads through the sign-in page and back.
	anon := e.browser()
	rec = anon.get(failedPath)
	require.Equal(t, http.StatusSeeOther, rec.Code)
	loc, _ = url.Parse(rec.Header().Get("Location"))
	assert.Equal(t, failedPath, loc.Query().Get("next"))
	rec = anon.post("/login", url.Values{"email": {adminEmail}, "password": {adminPassword}, "next": {failedPath}})
	require.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Equal(t, failedPath, rec.Header().Get("Location"))

	// Another webhook's link shows its own list, even empty; a missing webhook is a 404.
	rec = b.get("/webhooks/" + other.ID + "/deliveries?status=failed")
	require.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Contains(t, text(testid(doc(t, b.get(rec.Header().Get("Location"))), "empty-deliveries")), "No deliveries match")
	rec = b.get("/webhooks/whk_missing/deliveries?status=failed")
	require.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Equal(t, http.StatusNotFound, b.get(rec.Header().Get("Location")).Code)
}

func TestAlertCardListsTheFirst20DeliveriesAndCountsTheRest(t *testing.T) {
	t.Parallel()
	e, sender, _ := newUIAlertEnv(t, true)
	b := e.signedIn()
	wh := dbtest.Webhook(t, e.store, "https://a.test/hook")
	var failed []string
	for i := range 26 {
		dbtest.Event(t, e.store, "order.paid", i)
		failed = append(failed, dbtest.Fail(t, e.store, wh.ID, 503).DeliveryID)
		if i == 0 {
			tick(t, sender) // the immediate alert; the other 25 fold into one digest
		}
	}
	tick(t, sender)

	var digest *goquery.Selection
	testid(doc(t, b.get("/alerts")), "alert").Each(func(_ int, s *goquery.Selection) {
		if s.AttrOr("data-kind", "") == "digest" {
			digest = s
		}
	})
	require.NotNil(t, digest)
	assert.Equal(t, "25 failed deliveries", text(testid(digest, "alert-delivery-count")))
	var links []string
	testid(digest, "alert-delivery").Each(func(_ int, s *goquery.Selection) {
		links = append(links, strings.TrimPrefix(s.AttrOr("href", ""), "/deliveries/"))
	})
	assert.Equal(t, failed[1:21], links, "the first 20, oldest first")
	more := testid(digest, "alert-more")
	assert.Equal(t, "and 5 more", text(more))
	assert.Equal(t, "/deliveries?status=failed&webhook="+wh.ID, more.AttrOr("href", ""))
}
