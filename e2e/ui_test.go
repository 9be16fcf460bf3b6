//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// receiver is a real HTTP receiver whose answer a test can change.
type receiver struct {
	*httptest.Server
	status atomic.Int32
	body   atomic.Pointer[string]
	hold   chan struct{} // when not nil, each request waits for it to close
	calls  atomic.Int32
}

func newReceiver(t *testing.T, status int, body string, hold chan struct{}) *receiver {
	t.Helper()
	r := &receiver{hold: hold}
	r.status.Store(int32(status))
	r.body.Store(&body)
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.calls.Add(1)
		if r.hold != nil {
			<-r.hold
		}
		w.WriteHeader(int(r.status.Load()))
		fmt.Fprint(w, *r.body.Load())
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) answer(status int, body string) {
	r.status.Store(int32(status))
	r.body.Store(&body)
}

// createWebhook subscribes a receiver path named after the test through the API.
func createWebhook(t *testing.T, srv *server, rcv *receiver) (id, secret string) {
	t.Helper()
	var wh struct{ ID, Secret string }
	require.Equal(t, 201, srv.api(t, "POST", "/api/v1/webhooks", adminToken,
		map[string]any{"url": rcv.URL + "/" + safeName(t.Name()), "eventTypes": []string{"*"}, "description": t.Name()}, &wh))
	return wh.ID, wh.Secret
}

// sendEvent ingests one event and returns the id of its only delivery.
func sendEvent(t *testing.T, srv *server, typ string) (eventID, deliveryID string) {
	t.Helper()
	var ev struct{ ID string }
	require.Equal(t, 202, srv.api(t, "POST", "/api/v1/events", ingestToken,
		map[string]any{"eventType": typ, "workflowId": "wf_" + safeName(t.Name()), "data": map[string]any{"test": t.Name()}}, &ev))
	var detail struct{ Deliveries []struct{ ID string } }
	require.Equal(t, 200, srv.api(t, "GET", "/api/v1/events/"+ev.ID, adminToken, nil, &detail))
	require.Len(t, detail.Deliveries, 1)
	return ev.ID, detail.Deliveries[0].ID
}

func deliveryStatus(t *testing.T, srv *server, id string) string {
	t.Helper()
	var d struct{ Status string }
	srv.api(t, "GET", "/api/v1/deliveries/"+id, adminToken, nil, &d)
	return d.Status
}

func TestUISignInWrongThenRight(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	u := newUI(t, srv)

	u.goto_("/webhooks")
	u.must("be sent to sign in", u.expect.Page(u.page).ToHaveURL(regexp.MustCompile(`/login\?next=%2Fwebhooks$`)))
	u.shot("sign-in")
	u.fill("Email", adminEmail)
	u.fill("Password", "not the password")
	u.click(u.button("Sign in"), "Sign in")
	u.must("see the generic message", u.expect.Locator(u.testid("signin-error")).ToHaveText("Wrong email or password."))
	u.must("keep the email", u.expect.Locator(u.page.Locator("#email")).ToHaveValue(adminEmail))

	u.fill("Password", adminPassword)
	u.click(u.button("Sign in"), "Sign in")
	u.must("land where we were going", u.expect.Page(u.page).ToHaveURL(regexp.MustCompile(`/webhooks$`)))
	u.must("see who is signed in", u.expect.Locator(u.testid("user")).ToHaveText(adminEmail))
	u.goto_("/")
	u.must("see the dashboard", u.expect.Locator(u.testid("stats")).ToBeVisible())
	u.shot("dashboard")
}

func TestUICreateWebhookAfterAValidationError(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	rcv := newReceiver(t, 200, "ok", nil)
	u := newUI(t, srv)
	u.signIn()

	u.click(u.page.GetByRole("navigation").GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Webhooks"}), "Webhooks")
	u.click(u.testid("new-webhook"), "New webhook")
	u.must("fill url", u.page.Locator("#url").Fill("receiver without a scheme"))
	u.must("fill types", u.page.Locator("#event_types").Fill("order.*\ninvoice.paid"))
	u.must("fill description", u.page.Locator("#description").Fill(t.Name()))
	u.click(u.button("Create webhook"), "Create webhook")
	u.must("see the URL error", u.expect.Locator(u.testid("error-url")).ToContainText("must use the http or https scheme"))
	u.must("keep what was typed", u.expect.Locator(u.page.Locator("#url")).ToHaveValue("receiver without a scheme"))
	u.must("keep the types", u.expect.Locator(u.page.Locator("#event_types")).ToHaveValue("order.*\ninvoice.paid"))
	u.shot("webhook-form-error")

	target := rcv.URL + "/" + safeName(t.Name())
	u.must("fix url", u.page.Locator("#url").Fill(target))
	u.click(u.button("Create webhook"), "Create webhook")
	u.must("see the new webhook", u.expect.Locator(u.testid("webhook-url")).ToHaveText(target))
	u.must("see the flash", u.expect.Locator(u.testid("flash")).ToContainText("Webhook created"))

	// The secret is hidden until asked for, and is the one the API knows.
	u.must("secret hidden", u.expect.Locator(u.testid("secret-value")).ToHaveCount(0))
	u.click(u.testid("reveal-secret"), "Reveal secret")
	u.must("secret shown", u.expect.Locator(u.testid("secret-value")).ToHaveText(regexp.MustCompile(`^whsec_`)))
	shown, err := u.testid("secret-value").TextContent()
	u.must("read secret", err)
	id := strings.TrimPrefix(u.page.URL(), srv.URL+"/webhooks/")
	var sec struct{ Secret string }
	require.Equal(t, 200, srv.api(t, "GET", "/api/v1/webhooks/"+id+"/secret", adminToken, nil, &sec))
	assert.Equal(t, sec.Secret, shown)

	// Send test event: the receiver gets it, and the result shows in place.
	u.click(u.button("Send test event"), "Send test event")
	u.must("see the test result", u.expect.Locator(u.testid("test-result")).ToHaveAttribute("data-state", "succeeded"))
	u.must("see its status", u.expect.Locator(u.testid("test-status")).ToHaveText("200 OK"))
	assert.Equal(t, int32(1), rcv.calls.Load())
	u.shot("webhook")

	u.goto_("/webhooks")
	u.must("see the row", u.expect.Locator(u.page.Locator(`[data-webhook-id="`+id+`"]`)).ToContainText(target))
	u.shot("webhooks")
}

func TestUIWatchADeliverySucceed(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	release := make(chan struct{})
	rcv := newReceiver(t, 204, "", release)
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	createWebhook(t, srv, rcv)
	u := newUI(t, srv)
	u.signIn()

	eventID, deliveryID := sendEvent(t, srv, "workflow.completed")
	eventually(t, "the attempt to reach the receiver", func() bool { return rcv.calls.Load() == 1 })
	u.goto_("/deliveries/" + deliveryID)
	u.must("see it in flight", u.expect.Locator(u.testid("delivery-live")).ToHaveAttribute("data-state", "delivering"))
	u.markPage()
	close(release)
	u.must("see it succeed by itself", u.expect.Locator(u.testid("delivery-live")).ToHaveAttribute("data-state", "succeeded"))
	u.must("see the attempt", u.expect.Locator(u.testid("attempt-status")).ToHaveText("204 No Content"))
	assert.True(t, u.stillSamePage(), "the page updated itself without a reload")

	u.goto_("/events?workflow_id=wf_" + safeName(t.Name()))
	u.must("find the event", u.expect.Locator(u.testid("event-row")).ToHaveAttribute("data-event-id", eventID))
	u.shot("events")
	u.click(u.page.GetByRole("link", playwright.PageGetByRoleOptions{Name: eventID}), "the event")
	u.must("see its delivery", u.expect.Locator(u.testid("delivery-row").Locator(`[data-state="succeeded"]`)).ToBeVisible())
	u.shot("event")
}

func TestUIFailingDeliveryThenRetry(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "", "HOOKRELAY_RESPONSE_BODY_LIMIT=64")
	long := "Service temporarily unavailable: the receiver is being deployed. " + strings.Repeat("x", 200)
	rcv := newReceiver(t, 503, long, nil)
	webhookID, _ := createWebhook(t, srv, rcv)
	_, deliveryID := sendEvent(t, srv, "order.paid")
	eventually(t, "the delivery to fail for good", func() bool { return deliveryStatus(t, srv, deliveryID) == "failed" })

	u := newUI(t, srv)
	u.signIn()
	u.goto_("/deliveries?webhook=" + webhookID + "&status=failed")
	u.must("see the failed row", u.expect.Locator(u.testid("last-status")).ToHaveText("503 Service Unavailable"))
	u.click(u.testid("delivery-link"), "the delivery")

	attempts := u.testid("attempt")
	u.must("two attempts", u.expect.Locator(attempts).ToHaveCount(2))
	for i := range 2 {
		a := attempts.Nth(i)
		u.must("status code", u.expect.Locator(a.GetByTestId("attempt-status")).ToHaveText("503 Service Unavailable"))
		u.must("response time", u.expect.Locator(a.GetByTestId("attempt-duration")).ToHaveText(regexp.MustCompile(`^\d+ ms$|^\d+\.\d\d s$`)))
		u.must("truncated mark", u.expect.Locator(a.GetByTestId("attempt-truncated")).ToHaveText("truncated to 64 bytes"))
		u.must("truncated body", u.expect.Locator(a.GetByTestId("attempt-body")).ToHaveText(long[:64]))
		u.must("signature", u.expect.Locator(a.GetByTestId("attempt-signature")).ToHaveText(regexp.MustCompile(`^v1,`)))
	}
	u.must("status badge has text", u.expect.Locator(u.testid("delivery-live").GetByTestId("status").First()).ToContainText("Failed"))

	// Fix the receiver and retry: a new attempt appears in place, without a reload.
	rcv.answer(200, `{"received":true}`)
	u.markPage()
	u.click(u.button("Retry"), "Retry")
	u.must("three attempts", u.expect.Locator(attempts).ToHaveCount(3))
	u.must("newest first, manual", u.expect.Locator(attempts.First().GetByTestId("attempt-trigger")).ToHaveText("manual"))
	u.must("newest succeeded", u.expect.Locator(attempts.First().GetByTestId("attempt-status")).ToHaveText("200 OK"))
	u.must("delivery succeeded", u.expect.Locator(u.testid("delivery-live")).ToHaveAttribute("data-state", "succeeded"))
	assert.True(t, u.stillSamePage(), "Retry swapped the section in place")
	u.shot("delivery-detail")

	// A failed htmx action says so: the webhook is deleted behind the page's back.
	require.Equal(t, 204, srv.api(t, "DELETE", "/api/v1/webhooks/"+webhookID, adminToken, nil, nil))
	u.click(u.button("Resend"), "Resend")
	u.must("see the failure", u.expect.Locator(u.testid("htmx-error")).ToContainText("There is nothing here"))
}

func TestUIRetryAllFailed(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	rcv := newReceiver(t, 500, "broken", nil)
	webhookID, _ := createWebhook(t, srv, rcv)
	var ids []string
	for range 3 {
		_, id := sendEvent(t, srv, "invoice.paid")
		ids = append(ids, id)
	}
	eventually(t, "three failed deliveries", func() bool {
		for _, id := range ids {
			if deliveryStatus(t, srv, id) != "failed" {
				return false
			}
		}
		return true
	})
	rcv.answer(200, "ok")

	u := newUI(t, srv)
	u.signIn()
	u.goto_("/")
	u.must("see the banner", u.expect.Locator(u.testid("attention-banner")).ToContainText("Failures need attention"))
	u.goto_("/webhooks/" + webhookID)
	u.click(u.link("Retry all failed (3)"), "Retry all failed")
	u.must("be asked", u.expect.Locator(u.testid("confirm")).ToContainText("3 failed deliveries"))
	u.click(u.button("Retry all failed"), "confirm")
	u.must("see the count", u.expect.Locator(u.testid("flash")).ToHaveText("Retried 3 failed deliveries."))

	u.goto_("/deliveries?webhook=" + webhookID)
	u.must("every row succeeds", u.expect.Locator(u.page.Locator(`[data-testid="delivery-row"] [data-state="succeeded"]`)).ToHaveCount(3))
	u.shot("deliveries")
	for _, id := range ids {
		assert.Equal(t, "succeeded", deliveryStatus(t, srv, id))
	}

	// On a phone the pages stay within the screen: wide tables scroll inside their box.
	u.must("phone viewport", u.page.SetViewportSize(390, 844))
	for _, path := range []string{"/deliveries?webhook=" + webhookID, "/deliveries/" + ids[0], "/webhooks/" + webhookID, "/"} {
		u.goto_(path)
		fits, err := u.page.Evaluate(`() => document.documentElement.scrollWidth <= window.innerWidth`)
		u.must("measure "+path, err)
		assert.Equal(t, true, fits, "%s is wider than a phone screen", path)
	}
	u.shot("deliveries-phone")
}

func TestUISignOutThenRefused(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	u := newUI(t, srv)
	u.signIn()
	u.click(u.testid("sign-out"), "Sign out")
	u.must("be on the sign-in page", u.expect.Page(u.page).ToHaveURL(regexp.MustCompile(`/login$`)))
	for _, path := range []string{"/", "/webhooks", "/deliveries", "/events"} {
		u.goto_(path)
		u.must("refused "+path, u.expect.Locator(u.testid("signin-form")).ToBeVisible())
		u.must("no navigation "+path, u.expect.Locator(u.testid("nav")).ToHaveCount(0))
	}
}

// A receiver that answers 410 Gone gets its webhook disabled; the page says why, and Enable
// brings it back (issue #12 items 2 and 4).
func TestUIEnableADisabledWebhook(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	rcv := newReceiver(t, http.StatusGone, "", nil)
	webhookID, _ := createWebhook(t, srv, rcv)
	_, deliveryID := sendEvent(t, srv, "order.paid")
	eventually(t, "the 410 to fail the delivery", func() bool { return deliveryStatus(t, srv, deliveryID) == "failed" })
	var wh struct {
		Enabled        bool
		DisabledReason *string
	}
	require.Equal(t, 200, srv.api(t, "GET", "/api/v1/webhooks/"+webhookID, adminToken, nil, &wh))
	require.False(t, wh.Enabled, "disabled in the transaction that recorded the 410")

	u := newUI(t, srv)
	u.signIn()
	u.goto_("/webhooks")
	u.must("the list says why", u.expect.Locator(u.testid("disabled-reason")).ToHaveText("the receiver answered 410 Gone"))
	u.click(u.testid("webhook-link"), "the webhook")
	u.must("the banner says why", u.expect.Locator(u.testid("disabled-banner-reason")).ToHaveText("the receiver answered 410 Gone"))
	u.shot("webhook-disabled")
	u.click(u.testid("toggle-enabled"), "Enable")
	u.must("no banner once enabled", u.expect.Locator(u.testid("disabled-banner")).ToHaveCount(0))
	u.must("enabled", u.expect.Locator(u.testid("enabled")).ToContainText("Enabled"))
	u.must("offers Disable", u.expect.Locator(u.testid("toggle-enabled")).ToHaveText("Disable"))

	rcv.answer(http.StatusOK, "ok")
	_, next := sendEvent(t, srv, "order.paid")
	eventually(t, "the enabled webhook to deliver again", func() bool { return deliveryStatus(t, srv, next) == "succeeded" })
}

// Replay… on the event page sends a stored event again (issue #12 item 6).
func TestUIReplayAnEvent(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	rcv := newReceiver(t, http.StatusOK, "ok", nil)
	createWebhook(t, srv, rcv)
	eventID, first := sendEvent(t, srv, "order.paid")
	eventually(t, "the first delivery", func() bool { return deliveryStatus(t, srv, first) == "succeeded" })

	u := newUI(t, srv)
	u.signIn()
	u.goto_("/events/" + eventID)
	u.click(u.testid("replay"), "Replay…")
	u.must("the form lists the webhook", u.expect.Locator(u.testid("replay-webhook")).ToHaveCount(1))
	u.shot("replay-form")
	u.click(u.testid("replay-button"), "Replay")
	u.must("say what it did", u.expect.Locator(u.testid("flash")).ToContainText("Replayed to 1 webhook."))
	u.must("two deliveries of the event", u.expect.Locator(u.testid("delivery-row")).ToHaveCount(2))
	eventually(t, "the receiver to get the event again", func() bool { return rcv.calls.Load() == 2 })
}

// Recover failed deliveries…: a time range, its count, then one attempt each (issue #12
// item 5).
func TestUIRecoverFailedDeliveries(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	rcv := newReceiver(t, http.StatusServiceUnavailable, "down", nil)
	webhookID, _ := createWebhook(t, srv, rcv)
	since := time.Now().Add(-time.Minute).UTC().Format("2006-01-02T15:04")
	_, first := sendEvent(t, srv, "order.paid")
	_, second := sendEvent(t, srv, "order.paid")
	eventually(t, "both deliveries to fail for good", func() bool {
		return deliveryStatus(t, srv, first) == "failed" && deliveryStatus(t, srv, second) == "failed"
	})
	rcv.answer(http.StatusOK, "back")

	u := newUI(t, srv)
	u.signIn()
	u.goto_("/webhooks/" + webhookID)
	u.click(u.testid("recover"), "Recover failed deliveries…")
	u.must("fill since", u.page.Locator("#since").Fill(since))
	u.click(u.testid("recover-count"), "Count them")
	u.must("confirm the count", u.expect.Locator(u.testid("recover-summary")).ToHaveText("2 failed deliveries will each get one attempt."))
	u.shot("recover-confirm")
	u.click(u.testid("recover-button"), "Recover")
	u.must("say what it did", u.expect.Locator(u.testid("flash")).ToContainText("Retried 2 failed deliveries."))
	eventually(t, "both to succeed", func() bool {
		return deliveryStatus(t, srv, first) == "succeeded" && deliveryStatus(t, srv, second) == "succeeded"
	})
}

// The headers editor: an admin adds two custom headers and a rate limit in the form, the
// webhook page masks the values until revealed, and the next delivery carries them (issue
// #12 items 7 and 8).
func TestUIEditCustomHeaders(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	var auth, tenant atomic.Pointer[string]
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, tn := r.Header.Get("Authorization"), r.Header.Get("X-Tenant")
		auth.Store(&a)
		tenant.Store(&tn)
	}))
	t.Cleanup(rcv.Close)
	var wh struct{ ID string }
	require.Equal(t, 201, srv.api(t, "POST", "/api/v1/webhooks", adminToken,
		map[string]any{"url": rcv.URL + "/in", "eventTypes": []string{"*"}}, &wh))

	u := newUI(t, srv)
	u.signIn()
	u.goto_("/webhooks/" + wh.ID + "/edit")
	u.fill("Header 1 name", "Authorization")
	u.fill("Header 1 value", "Bearer e2e-7731")
	u.click(u.testid("add-header"), "Add another header")
	u.must("a second row", u.expect.Locator(u.testid("header-row")).ToHaveCount(2))
	u.must("the first row as typed", u.expect.Locator(u.page.GetByLabel("Header 1 value")).ToHaveValue("Bearer e2e-7731"))
	u.fill("Header 2 name", "X-Tenant")
	u.fill("Header 2 value", "acme")
	u.fill("Rate limit (optional)", "50")
	u.shot("headers-editor")
	u.click(u.testid("save-webhook"), "Save changes")

	u.must("saved", u.expect.Locator(u.testid("flash")).ToContainText("Webhook saved."))
	u.must("the rate limit", u.expect.Locator(u.testid("rate-limit")).ToHaveText("50 attempts per second"))
	u.must("names with masked values", u.expect.Locator(u.testid("headers")).ToContainText("Authorization: ••••••••"))
	u.must("no value on the page", u.expect.Locator(u.page.GetByText("e2e-7731")).ToHaveCount(0))
	u.markPage()
	u.click(u.testid("reveal-headers"), "Reveal values")
	u.must("the values in place", u.expect.Locator(u.testid("header-value")).ToHaveText([]string{"Bearer e2e-7731", "acme"}))
	require.True(t, u.stillSamePage(), "revealed in place, without a reload")

	// The edit form shows the names, never the values; saving it unchanged keeps them.
	u.goto_("/webhooks/" + wh.ID + "/edit")
	u.must("stored rows and a blank one", u.expect.Locator(u.testid("header-row")).ToHaveCount(3))
	u.must("no value in the form", u.expect.Locator(u.page.GetByLabel("Header 1 value")).ToHaveValue(""))
	u.click(u.testid("save-webhook"), "Save changes")
	u.must("saved again", u.expect.Locator(u.testid("flash")).ToContainText("Webhook saved."))

	_, _ = sendEvent(t, srv, "order.paid")
	eventually(t, "the receiver to get the headers", func() bool {
		a, tn := auth.Load(), tenant.Load()
		return a != nil && *a == "Bearer e2e-7731" && tn != nil && *tn == "acme"
	})
}
