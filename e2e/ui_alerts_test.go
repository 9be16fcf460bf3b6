//go:build e2e

package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/alert/alerttest"
	"github.com/hookrelay/hookrelay/webhook"
)

// smtpEnv points a server's alert email at an SMTP server in this process.
func smtpEnv(smtpSrv *alerttest.Server, recipients string) []string {
	return []string{
		"HOOKRELAY_SMTP_ADDR=" + smtpSrv.Addr,
		"HOOKRELAY_SMTP_TLS=none",
		"HOOKRELAY_SMTP_FROM=hookrelay@example.com",
		"HOOKRELAY_ALERT_EMAILS=" + recipients,
	}
}

// TestUIAlertForAFailedDelivery lets a delivery fail for good (retry schedule 200ms, a
// receiver that answers 503), then follows the alert from the dashboard to the Alerts page,
// and the email's links into the UI.
func TestUIAlertForAFailedDelivery(t *testing.T) {
	t.Parallel()
	smtpSrv := alerttest.Start(t)
	srv := startServer(t, "", smtpEnv(smtpSrv, "ops@example.com")...)
	rcv := newReceiver(t, 503, "down for maintenance", nil)
	webhookID, _ := createWebhook(t, srv, rcv)
	_, deliveryID := sendEvent(t, srv, "order.paid")
	emails := smtpSrv.Wait(t, 1, 20*time.Second)
	var list struct{ Data []struct{ Status string } }
	eventually(t, "the alert to be recorded as sent", func() bool {
		require.Equal(t, 200, srv.api(t, "GET", "/api/v1/alerts", adminToken, nil, &list))
		return len(list.Data) == 1 && list.Data[0].Status == "sent"
	})

	u := newUI(t, srv)
	u.signIn()
	banner := u.testid("alerts-banner")
	u.must("see the alert count", u.expect.Locator(banner.GetByTestId("recent-alerts")).ToHaveText("1 alert raised in the last 24 hours"))
	u.must("see none unsent", u.expect.Locator(banner.GetByTestId("unsent-alerts")).ToHaveText("0 not sent yet"))
	u.shot("dashboard-alerts")
	u.click(banner.GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "See the alerts"}), "See the alerts")
	u.must("be on the Alerts page", u.expect.Page(u.page).ToHaveURL(regexp.MustCompile(`/alerts$`)))
	u.must("Alerts is current in the nav", u.expect.Locator(u.testid("nav").Locator(`[aria-current="page"]`)).ToHaveText("Alerts"))
	u.must("email is on", u.expect.Locator(u.testid("email-status")).ToContainText("Email is on"))

	card := u.testid("alert")
	u.must("one alert", u.expect.Locator(card).ToHaveCount(1))
	u.must("its state in words", u.expect.Locator(card.GetByTestId("alert-state")).ToHaveText("✓ Sent"))
	u.must("its kind", u.expect.Locator(card.GetByTestId("alert-kind")).ToHaveText("Immediate"))
	u.must("its webhook", u.expect.Locator(card.GetByTestId("alert-webhook")).ToHaveText(rcv.URL+"/"+safeName(t.Name())))
	u.must("its recipients", u.expect.Locator(card.GetByTestId("alert-recipients")).ToHaveText("ops@example.com"))
	u.must("one send attempt", u.expect.Locator(card.GetByTestId("alert-attempts")).ToHaveText("1"))
	u.must("the last result", u.expect.Locator(card.GetByTestId("alert-last-result")).ToHaveText("503 Service Unavailable after 2 attempts"))
	u.must("its delivery", u.expect.Locator(card.GetByTestId("alert-delivery")).ToHaveText(deliveryID))
	u.shot("alerts")

	// Filter by state: with htmx the list is swapped and the URL kept.
	u.must("choose Pending", selectOption(u.page.Locator("#f-status"), "pending"))
	u.click(u.button("Filter"), "Filter")
	u.must("nothing pending", u.expect.Locator(u.testid("empty-alerts")).ToHaveText("No alerts match."))
	u.must("the URL says so", u.expect.Page(u.page).ToHaveURL(regexp.MustCompile(`/alerts\?status=pending$`)))
	u.must("choose Sent", selectOption(u.page.Locator("#f-status"), "sent"))
	u.click(u.button("Filter"), "Filter")
	u.must("the sent alert", u.expect.Locator(card).ToHaveCount(1))

	u.click(card.GetByTestId("alert-delivery"), "the delivery")
	u.must("see the delivery", u.expect.Locator(u.testid("delivery-id")).ToHaveText(deliveryID))
	u.must("failed", u.expect.Locator(u.testid("delivery-live")).ToHaveAttribute("data-state", "failed"))

	// The email's links open in the UI: the delivery, and the webhook's failed deliveries.
	links := regexp.MustCompile(regexp.QuoteMeta(srv.URL)+`(/[^\s"<>]*)`).FindAllStringSubmatch(emails[0].Text, -1)
	var paths []string
	for _, l := range links {
		paths = append(paths, l[1])
	}
	require.Contains(t, paths, "/deliveries/"+deliveryID)
	failedPath := "/webhooks/" + webhookID + "/deliveries?status=failed"
	require.Contains(t, paths, failedPath)
	u.goto_("/deliveries/" + deliveryID)
	u.must("the delivery link works", u.expect.Locator(u.testid("delivery-id")).ToHaveText(deliveryID))
	u.goto_(failedPath)
	u.must("the failed list link works", u.expect.Locator(u.testid("delivery-row")).ToHaveAttribute("data-delivery-id", deliveryID))
	u.must("filtered to failed", u.expect.Locator(u.page.Locator("#f-status")).ToHaveValue("failed"))
	u.must("with a Retry button", u.expect.Locator(u.testid("delivery-row").GetByTestId("retry")).ToBeEnabled())

	u.must("phone viewport", u.page.SetViewportSize(390, 844))
	u.goto_("/alerts")
	fits, err := u.page.Evaluate(`() => document.documentElement.scrollWidth <= window.innerWidth`)
	u.must("measure /alerts", err)
	assert.Equal(t, true, fits, "/alerts is wider than a phone screen")
}

func selectOption(l playwright.Locator, value string) error {
	_, err := l.SelectOption(playwright.SelectOptionValues{Values: &[]string{value}})
	return err
}

// TestUISendTestEmail sends test emails from the Alerts page: the outcome appears in place.
func TestUISendTestEmail(t *testing.T) {
	t.Parallel()
	smtpSrv := alerttest.Start(t)
	srv := startServer(t, "", smtpEnv(smtpSrv, "ops@example.com")...)
	u := newUI(t, srv)
	u.signIn()
	u.click(u.page.GetByRole("navigation").GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Alerts"}), "Alerts")
	u.must("no alerts yet", u.expect.Locator(u.testid("empty-alerts")).ToContainText("No alerts yet"))
	u.markPage()

	to := safeName(t.Name()) + "@example.com"
	u.must("fill the address", u.page.Locator("#to").Fill(to))
	u.click(u.button("Send test email"), "Send test email")
	result := u.testid("test-email-result")
	u.must("see it sent", u.expect.Locator(result).ToHaveAttribute("data-outcome", "sent"))
	u.must("to whom", u.expect.Locator(result.GetByTestId("test-email-to")).ToHaveText(to))
	emails := smtpSrv.Wait(t, 1, 20*time.Second)
	assert.Equal(t, []string{to}, emails[0].To)
	assert.Equal(t, "[hookrelay] Test email", emails[0].Subject)

	smtpSrv.Refuse()
	u.click(u.button("Send test email"), "Send test email again")
	u.must("see the refusal", u.expect.Locator(result).ToHaveAttribute("data-outcome", "failed"))
	u.must("with the SMTP error", u.expect.Locator(result.GetByTestId("test-email-error")).ToContainText("451"))
	u.shot("test-email-refused")

	smtpSrv.Accept()
	u.must("clear the address", u.page.Locator("#to").Fill(""))
	u.click(u.button("Send test email"), "Send test email to the recipients")
	u.must("sent to the alert recipients", u.expect.Locator(result.GetByTestId("test-email-to")).ToHaveText("ops@example.com"))
	emails = smtpSrv.Wait(t, 2, 20*time.Second)
	assert.Equal(t, []string{"ops@example.com"}, emails[1].To)

	u.must("type a bad address", u.page.Locator("#to").Fill("not an address"))
	u.click(u.button("Send test email"), "Send test email to a bad address")
	u.must("see the field error", u.expect.Locator(u.testid("error-to")).ToContainText("Enter an email address"))
	assert.True(t, u.stillSamePage(), "every outcome was shown in place")
	assert.Len(t, smtpSrv.Emails(), 2)
}

// TestUIRotateSecret rotates a webhook's secret from its page; the next delivery carries
// signatures with the new and the old secret.
func TestUIRotateSecret(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	type delivery struct {
		header http.Header
		body   []byte
	}
	got := make(chan delivery, 10)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header.Clone(), b}
	}))
	defer rcv.Close()
	var wh struct{ ID, Secret string }
	require.Equal(t, 201, srv.api(t, "POST", "/api/v1/webhooks", adminToken,
		map[string]any{"url": rcv.URL + "/" + safeName(t.Name()), "eventTypes": []string{"*"}, "description": t.Name()}, &wh))
	old := wh.Secret

	u := newUI(t, srv)
	u.signIn()
	u.goto_("/webhooks/" + wh.ID)
	u.click(u.testid("rotate-secret"), "Rotate secret…")
	u.must("be asked", u.expect.Locator(u.page.GetByRole("heading", playwright.PageGetByRoleOptions{Name: "Rotate the signing secret?"})).ToBeVisible())
	u.must("24h by default", u.expect.Locator(u.page.Locator("#grace_period")).ToHaveValue("24h"))

	u.must("type too long a grace period", u.page.Locator("#grace_period").Fill("30d"))
	u.click(u.button("Rotate secret"), "Rotate secret")
	u.must("see the message", u.expect.Locator(u.testid("error-grace_period")).ToContainText("The grace period must be a duration"))
	u.must("keep what was typed", u.expect.Locator(u.page.Locator("#grace_period")).ToHaveValue("30d"))

	u.must("fix it", u.page.Locator("#grace_period").Fill("1h"))
	u.click(u.button("Rotate secret"), "Rotate secret")
	u.must("see it done", u.expect.Locator(u.testid("flash")).ToContainText("Secret rotated"))
	u.must("back on the webhook page", u.expect.Page(u.page).ToHaveURL(regexp.MustCompile(`/webhooks/`+wh.ID+`$`)))
	u.must("hidden until revealed", u.expect.Locator(u.testid("secret-value")).ToHaveCount(0))
	u.must("one old secret", u.expect.Locator(u.testid("old-secret")).ToHaveCount(1))
	u.must("with its end", u.expect.Locator(u.testid("old-secret-expires")).ToContainText(regexp.MustCompile(`\(in (59 min|1 h)\)`)))
	content, err := u.page.Content()
	u.must("read the page", err)
	assert.NotContains(t, content, old, "old secrets' values are never shown")
	u.click(u.testid("reveal-secret"), "Reveal secret")
	u.must("revealed", u.expect.Locator(u.testid("secret-value")).ToHaveText(regexp.MustCompile(`^whsec_`)))
	shown, err := u.testid("secret-value").TextContent()
	u.must("read the secret", err)
	u.shot("secret-rotated")
	var sec struct{ Secret string }
	require.Equal(t, 200, srv.api(t, "GET", "/api/v1/webhooks/"+wh.ID+"/secret", adminToken, nil, &sec))
	assert.Equal(t, sec.Secret, shown, "the one shown is the one now signing")
	assert.NotEqual(t, old, shown)

	sendEvent(t, srv, "order.paid")
	var d delivery
	select {
	case d = <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("no delivery arrived")
	}
	sigs := d.header.Get("webhook-signature")
	assert.Len(t, strings.Fields(sigs), 2, "signed with both: %q", sigs)
	for name, secret := range map[string]string{"new": shown, "old": old} {
		v, err := webhook.NewVerifier(secret)
		require.NoError(t, err)
		assert.NoError(t, v.Verify(d.header, d.body), "the %s secret verifies", name)
	}
}
