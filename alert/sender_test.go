package alert_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/alert"
	"github.com/hookrelay/hookrelay/alert/alerttest"
	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/db/sqlite"
	"github.com/hookrelay/hookrelay/delivery"
)

const (
	base = "https://hookrelay.example.com"
	from = "hookrelay@example.com"
)

var recipients = []string{"ops@example.com", "oncall@example.com"}

// smtpMailer is the real mailer pointed at a test server.
func smtpMailer(srv *alerttest.Server) *alert.SMTP {
	return &alert.SMTP{Addr: srv.Addr, From: from, TLS: alert.TLSNone, Timeout: 5 * time.Second}
}

func newSender(t *testing.T, store *sqlite.DB, m alert.Mailer) *alert.Sender {
	t.Helper()
	return alert.NewSender(store, alert.Options{
		Mailer:     m,
		Recipients: func(context.Context) ([]string, error) { return recipients, nil },
		Window:     time.Hour,
		BaseURL:    base,
		Logger:     slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
}

func tick(t *testing.T, s *alert.Sender) {
	t.Helper()
	_, err := s.Tick(t.Context())
	require.NoError(t, err)
}

// alerts returns every alert in the store, newest first.
func alerts(t *testing.T, store *sqlite.DB) []db.Alert {
	t.Helper()
	as, _, err := store.ListAlerts(t.Context(), db.AlertFilter{Limit: 500})
	require.NoError(t, err)
	return as
}

// assertBoth checks that the text and the HTML part both contain every string.
func assertBoth(t *testing.T, e alerttest.Email, want ...string) {
	t.Helper()
	for _, w := range want {
		assert.Contains(t, e.Text, w, "text part")
		assert.Contains(t, e.HTML, w, "HTML part")
	}
}

// TestExhaustedDeliveryEmailsOnce runs the real engine against a real receiver that always
// answers 503 until the schedule is used up, then the sender against a real SMTP server.
func TestExhaustedDeliveryEmailsOnce(t *testing.T) {
	t.Parallel()
	var requests atomic.Int32
	arrived := make(chan struct{}, 8)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		arrived <- struct{}{}
	}))
	defer rcv.Close()
	smtpSrv := alerttest.Start(t)
	store := dbtest.New(t)
	wh, err := store.CreateWebhook(t.Context(), db.NewWebhook{URL: rcv.URL + "/hook", Description: "Orders service",
		EventTypes: []string{"order.*"}, Secret: dbtest.Secret, Enabled: true})
	require.NoError(t, err)
	ev := dbtest.Event(t, store, "order.paid", 1)

	engine := delivery.NewEngine(store, delivery.Options{
		Policy: delivery.Policy{Schedule: []time.Duration{10 * time.Millisecond, 10 * time.Millisecond}},
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, engine.Run(ctx)) })
	for range 3 {
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the receiver did not get three attempts")
		}
	}
	cancel()
	wg.Wait() // Run returns once every attempt in flight is recorded
	d := dbtest.Deliveries(t, store, wh.ID)[0]
	require.Equal(t, db.StateFailed, d.State)
	attempts := dbtest.Attempts(t, store, d.ID)
	require.Len(t, attempts, 3)

	// From here on the database's clock is the test's.
	clock := dbtest.NewClock(time.Now())
	store.Clock = clock.Now
	sender := newSender(t, store, smtpMailer(smtpSrv))
	tick(t, sender)
	emails := smtpSrv.Emails()
	require.Len(t, emails, 1)
	e := emails[0]

	assert.Equal(t, from, e.From)
	assert.ElementsMatch(t, recipients, e.To)
	assert.Contains(t, e.Header.Get("To"), "ops@example.com")
	assert.Equal(t, "auto-generated", e.Header.Get("Auto-Submitted"))
	assert.NotEmpty(t, e.Header.Get("Message-Id"))
	assert.NotEmpty(t, e.Header.Get("Date"))
	assert.Contains(t, e.Header.Get("Content-Type"), "multipart/alternative")
	assert.Contains(t, e.Subject, `"Orders service"`, "the subject names the webhook")
	assert.Contains(t, e.Subject, rcv.URL+"/hook")
	assert.Contains(t, e.Subject, d.ID)
	assertBoth(t, e,
		rcv.URL+"/hook", wh.ID, "Orders service", // the webhook
		"order.paid",     // event type
		d.ID, ev.EventID, // delivery and event ids
		"3 attempts", "HTTP 503", // attempts made, last result
		attempts[0].AttemptedAt.UTC().Format("2006-01-02 15:04:05 UTC"), // failing since
		base+"/deliveries/"+d.ID,                                        // links
		"Further failures of this webhook until",
	)
	assert.Contains(t, e.Text, "Failing since:  "+attempts[0].AttemptedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	assert.Contains(t, e.Text, base+"/webhooks/"+wh.ID+"/deliveries?status=failed")
	assert.Contains(t, e.HTML, `href="`+base+"/webhooks/"+wh.ID+"/deliveries?status=failed"+`"`)
	assert.Contains(t, e.HTML, `href="`+base+"/deliveries/"+d.ID+`"`)
	assert.Contains(t, e.Text, "A delivery to "+rcv.URL+"/hook failed for good after 3 attempts; last error: HTTP 503.")

	a := alerts(t, store)
	require.Len(t, a, 1)
	assert.Equal(t, db.AlertSent, a[0].State)
	assert.Equal(t, 1, a[0].Attempts)
	assert.Equal(t, recipients, a[0].Recipients)
	assert.Equal(t, a[0].ID, e.Header.Get("X-Hookrelay-Alert"))

	// Exactly one: nothing more now, nor when the window closes.
	tick(t, sender)
	clock.Add(2 * time.Hour)
	tick(t, sender)
	assert.Len(t, smtpSrv.Emails(), 1)
	assert.Equal(t, int32(3), requests.Load())
}

// TestFloodIsFoldedIntoOneDigest fails 20 deliveries of one webhook within the window and one
// of another.
func TestFloodIsFoldedIntoOneDigest(t *testing.T) {
	t.Parallel()
	smtpSrv := alerttest.Start(t)
	store := dbtest.New(t)
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := dbtest.NewClock(start)
	store.Clock = clock.Now
	a := dbtest.Webhook(t, store, "https://a.test/hook", "a.*")
	b := dbtest.Webhook(t, store, "https://b.test/hook", "b.*")
	for i := range 20 {
		typ := "a.created"
		if i%2 == 1 {
			typ = "a.updated"
		}
		dbtest.Event(t, store, typ, i)
	}
	dbtest.Event(t, store, "b.created", 0)
	sender := newSender(t, store, smtpMailer(smtpSrv))

	first := dbtest.Fail(t, store, a.ID, 503)
	tick(t, sender)
	require.Len(t, smtpSrv.Emails(), 1, "the first failure emails at once")
	var rest []string
	for i := range 19 {
		clock.Add(time.Minute)
		code := 503
		if i == 18 {
			code = 502
		}
		rest = append(rest, dbtest.Fail(t, store, a.ID, code).DeliveryID)
		tick(t, sender)
	}
	dbtest.Fail(t, store, b.ID, 500)
	tick(t, sender)
	emails := smtpSrv.Emails()
	require.Len(t, emails, 2, "one more email: b's, not a's 19")
	assert.Contains(t, emails[0].Subject, "https://a.test/hook")
	assert.Contains(t, emails[0].Text, first.DeliveryID)
	assert.Contains(t, emails[1].Subject, "https://b.test/hook", "another webhook gets its own alert")
	assert.NotContains(t, emails[1].Text, "https://a.test/hook")

	clock.Add(start.Add(time.Hour).Sub(clock.Now()) - time.Second)
	tick(t, sender)
	require.Len(t, smtpSrv.Emails(), 2, "the digest waits for the window to close")
	clock.Add(time.Second)
	tick(t, sender)
	emails = smtpSrv.Emails()
	require.Len(t, emails, 3)
	digest := emails[2]
	assert.Contains(t, digest.Subject, "https://a.test/hook")
	assert.Contains(t, digest.Subject, "19 more deliveries failed")
	assertBoth(t, digest, "19 more deliveries to https://a.test/hook failed; last error: HTTP 502.",
		"a.created, a.updated", base+"/webhooks/"+a.ID+"/deliveries?status=failed",
		start.Format("2006-01-02 15:04:05 UTC"))
	for _, id := range rest {
		assert.Contains(t, digest.Text, id)
		assert.Contains(t, digest.HTML, base+"/deliveries/"+id)
	}
	assert.NotContains(t, digest.Text, first.DeliveryID, "the digest counts the rest")

	clock.Add(3 * time.Hour)
	tick(t, sender)
	assert.Len(t, smtpSrv.Emails(), 3, "three emails in all")
}

func TestSMTPRefusingThenAccepting(t *testing.T) {
	t.Parallel()
	smtpSrv := alerttest.Start(t)
	store := dbtest.New(t)
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := dbtest.NewClock(start)
	store.Clock = clock.Now
	wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
	dbtest.Event(t, store, "a.b", 1)
	dbtest.Fail(t, store, wh.ID, 503)
	sender := newSender(t, store, smtpMailer(smtpSrv))

	smtpSrv.Refuse()
	next, err := sender.Tick(t.Context())
	require.NoError(t, err)
	a := alerts(t, store)[0]
	assert.Equal(t, db.AlertFailedToSend, a.State)
	assert.Equal(t, 1, a.Attempts)
	assert.Contains(t, a.LastError, "451")
	assert.Contains(t, a.LastError, "mail system busy")
	assert.Equal(t, start.Add(30*time.Second), a.NextAttemptAt, "first retry after 30s")
	assert.Equal(t, a.NextAttemptAt, next, "Tick says when to come back")

	clock.Add(29 * time.Second)
	tick(t, sender)
	assert.Equal(t, 1, alerts(t, store)[0].Attempts, "not retried before the backoff")

	clock.Add(time.Second)
	tick(t, sender)
	a = alerts(t, store)[0]
	assert.Equal(t, 2, a.Attempts)
	assert.Equal(t, clock.Now().Add(time.Minute), a.NextAttemptAt, "the backoff doubles")

	smtpSrv.Accept()
	clock.Add(time.Minute)
	tick(t, sender)
	a = alerts(t, store)[0]
	assert.Equal(t, db.AlertSent, a.State)
	assert.Equal(t, 3, a.Attempts, "every try is recorded")
	assert.Equal(t, clock.Now(), a.SentAt)
	assert.Contains(t, a.LastError, "451", "the last SMTP error stays visible")
	require.Len(t, smtpSrv.Emails(), 1, "delivered once SMTP is back")
	assert.Contains(t, smtpSrv.Emails()[0].Subject, "https://receiver.test/hook")
}

func TestBackoffIsCapped(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	clock := dbtest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	store.Clock = clock.Now
	wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
	dbtest.Event(t, store, "a.b", 1)
	dbtest.Fail(t, store, wh.ID, 503)
	down := mailerFunc(func(context.Context, alert.Message) error { return errors.New("connection refused") })
	sender := alert.NewSender(store, alert.Options{Mailer: down, BaseURL: base,
		Recipients: func(context.Context) ([]string, error) { return recipients, nil },
		RetryMin:   time.Minute, RetryMax: 10 * time.Minute})
	var waits []time.Duration
	for range 6 {
		tick(t, sender)
		a := alerts(t, store)[0]
		wait := a.NextAttemptAt.Sub(clock.Now())
		waits = append(waits, wait)
		clock.Add(wait)
	}
	assert.Equal(t, []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute}, waits)
	assert.Equal(t, 6, alerts(t, store)[0].Attempts)
	assert.Equal(t, "connection refused", alerts(t, store)[0].LastError)
}

// TestUnsentAlertIsSentAfterRestart stops the process with one alert that SMTP refused and
// one failure not yet folded; a new process on the same file sends both.
func TestUnsentAlertIsSentAfterRestart(t *testing.T) {
	t.Parallel()
	smtpSrv := alerttest.Start(t)
	path := filepath.Join(t.TempDir(), "hookrelay.db")
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := dbtest.NewClock(start)

	store, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	require.NoError(t, err)
	store.Clock = clock.Now
	a := dbtest.Webhook(t, store, "https://a.test/hook", "a.*")
	b := dbtest.Webhook(t, store, "https://b.test/hook", "b.*")
	dbtest.Event(t, store, "a.x", 1)
	dbtest.Event(t, store, "b.x", 1)
	dbtest.Fail(t, store, a.ID, 503)
	smtpSrv.Refuse()
	tick(t, newSender(t, store, smtpMailer(smtpSrv)))
	dbtest.Fail(t, store, b.ID, 503) // the process stops before the sender sees it
	require.NoError(t, store.Close())
	require.Empty(t, smtpSrv.Emails())

	smtpSrv.Accept()
	clock.Add(time.Minute)
	store = dbtest.Open(t, path)
	store.Clock = clock.Now
	tick(t, newSender(t, store, smtpMailer(smtpSrv)))
	emails := smtpSrv.Emails()
	require.Len(t, emails, 2, "both alerts went out after the restart")
	subjects := emails[0].Subject + "\n" + emails[1].Subject
	assert.Contains(t, subjects, "https://a.test/hook")
	assert.Contains(t, subjects, "https://b.test/hook")
	for _, x := range alerts(t, store) {
		assert.Equal(t, db.AlertSent, x.State, x.WebhookURL)
	}
}

func TestSMTPAuthenticationAndTLSPolicy(t *testing.T) {
	t.Parallel()
	smtpSrv := alerttest.Start(t, alerttest.WithAuth("relay", "s3cret-pass"))
	msg := alert.Message{To: []string{"ops@example.com"}, Subject: "hello", Text: "body", HTML: "<p>body</p>"}

	good := &alert.SMTP{Addr: smtpSrv.Addr, From: from, TLS: alert.TLSNone, Username: "relay", Password: "s3cret-pass", Timeout: 5 * time.Second}
	require.NoError(t, good.Send(t.Context(), msg))
	require.Len(t, smtpSrv.Emails(), 1)
	assert.Equal(t, "hello", smtpSrv.Emails()[0].Subject)
	assert.Equal(t, "body", smtpSrv.Emails()[0].Text)

	bad := *good
	bad.Password = "wrong"
	err := bad.Send(t.Context(), msg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "535")
	assert.NotContains(t, err.Error(), "wrong", "the password is not in the error")

	// mandatory refuses a server without STARTTLS; opportunistic will not send a password in
	// clear to a remote server.
	mandatory := *good
	mandatory.TLS = alert.TLSMandatory
	err = mandatory.Send(t.Context(), msg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "STARTTLS")

	noAuth := alerttest.Start(t)
	open := &alert.SMTP{Addr: noAuth.Addr, From: "Hookrelay <" + from + ">", TLS: alert.TLSOpportunistic, Timeout: 5 * time.Second}
	require.NoError(t, open.Send(t.Context(), msg), "opportunistic falls back to plain SMTP without a password")
	require.Len(t, noAuth.Emails(), 1)
	assert.Equal(t, from, noAuth.Emails()[0].From)
	assert.Len(t, smtpSrv.Emails(), 1)
}

func TestSendTestEmail(t *testing.T) {
	t.Parallel()
	smtpSrv := alerttest.Start(t)
	store := dbtest.New(t)
	sender := newSender(t, store, smtpMailer(smtpSrv))

	to, err := sender.SendTestEmail(t.Context(), "")
	require.NoError(t, err)
	assert.Equal(t, recipients, to)
	to, err = sender.SendTestEmail(t.Context(), "Someone <someone@example.com>")
	require.NoError(t, err)
	assert.Equal(t, []string{"someone@example.com"}, to)
	emails := smtpSrv.Emails()
	require.Len(t, emails, 2)
	assert.ElementsMatch(t, recipients, emails[0].To)
	assert.Equal(t, []string{"someone@example.com"}, emails[1].To)
	assert.Equal(t, "[hookrelay] Test email", emails[1].Subject)
	assertBoth(t, emails[1], base, "someone@example.com")

	_, err = sender.SendTestEmail(t.Context(), "not an address")
	assert.Error(t, err)

	smtpSrv.Refuse()
	_, err = sender.SendTestEmail(t.Context(), "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "451")
	assert.NotErrorIs(t, err, errors.ErrUnsupported)

	off := alert.NewSender(store, alert.Options{BaseURL: base})
	_, err = off.SendTestEmail(t.Context(), "someone@example.com")
	assert.ErrorIs(t, err, errors.ErrUnsupported)
	on, why := off.EmailStatus(t.Context())
	assert.False(t, on)
	assert.Contains(t, why, "no SMTP server")

	nobody := alert.NewSender(store, alert.Options{Mailer: smtpMailer(smtpSrv), BaseURL: base})
	_, err = nobody.SendTestEmail(t.Context(), "")
	assert.ErrorIs(t, err, errors.ErrUnsupported)
	on, why = nobody.EmailStatus(t.Context())
	assert.False(t, on)
	assert.Contains(t, why, "no recipients")
	on, why = sender.EmailStatus(t.Context())
	assert.True(t, on)
	assert.Empty(t, why)
}

func TestParseEmails(t *testing.T) {
	t.Parallel()
	got, err := alert.ParseEmails("a@x.test, Ops Team <ops@x.test>,b@y.test")
	require.NoError(t, err)
	assert.Equal(t, []string{"a@x.test", "ops@x.test", "b@y.test"}, got)
	got, err = alert.ParseEmails("  ")
	require.NoError(t, err)
	assert.Empty(t, got)
	for _, bad := range []string{"nobody", "a@x.test, b", "a@x.test; b@x.test"} {
		_, err := alert.ParseEmails(bad)
		assert.Error(t, err, bad)
	}
}

func TestParseSettings(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"mandatory", "opportunistic", "none"} {
		m, err := alert.ParseTLSMode(ok)
		require.NoError(t, err)
		assert.Equal(t, alert.TLSMode(ok), m)
	}
	_, err := alert.ParseTLSMode("starttls")
	assert.ErrorContains(t, err, `unknown TLS mode "starttls"`)
	for addr, want := range map[string]string{
		"smtp.example.com":       "not host:port",
		":587":                   "not host:port",
		"smtp.example.com:smtp":  "port must be a number",
		"smtp.example.com:0":     "port must be a number",
		"smtp.example.com:70000": "port must be a number",
		"smtp.example.com:587:1": "not host:port",
	} {
		_, _, err := alert.ParseAddr(addr)
		assert.ErrorContains(t, err, want, addr)
	}
	host, port, err := alert.ParseAddr("[::1]:2525")
	require.NoError(t, err)
	assert.Equal(t, "::1", host)
	assert.Equal(t, 2525, port)
}

type mailerFunc func(context.Context, alert.Message) error

func (f mailerFunc) Send(ctx context.Context, m alert.Message) error { return f(ctx, m) }

func TestComposeListsTheFirstAndCountsTheRest(t *testing.T) {
	t.Parallel()
	a := db.Alert{ID: "alr_1", Kind: db.AlertDigest, WebhookID: "whk_1", WebhookURL: "https://r.test/h",
		DeliveryCount: db.AlertFailuresListed + 7, EventTypes: []string{"x.y"},
		Last: db.AlertFailure{Error: "timeout", ErrorMessage: "no answer within 15s"}}
	for i := range db.AlertFailuresListed {
		a.Failures = append(a.Failures, db.AlertFailure{DeliveryID: fmt.Sprintf("dlv_%02d", i), Attempts: 1})
	}
	m := alert.Compose(a, base+"/")
	assert.Contains(t, m.Text, "… and 7 more.")
	assert.Contains(t, m.HTML, "… and 7 more.")
	assert.Contains(t, m.Text, "last error: timeout (no answer within 15s).")
	assert.Contains(t, m.Text, base+"/deliveries/dlv_00", "no double slash from a base URL with one")
	assert.Contains(t, m.Subject, "27 more deliveries failed")
	assert.True(t, strings.HasPrefix(m.Subject, "[hookrelay] Webhook https://r.test/h is still failing"), m.Subject)

	a.WebhookDescription = `<b>"Shop"</b>`
	m = alert.Compose(a, base)
	assert.Contains(t, m.HTML, "&lt;b&gt;", "HTML is escaped")
	assert.NotContains(t, m.HTML, "<b>")
}

func TestRefusedSendEndsTheRound(t *testing.T) {
	t.Parallel()
	smtpSrv := alerttest.Start(t)
	store := dbtest.New(t)
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := dbtest.NewClock(start)
	store.Clock = clock.Now
	for _, p := range []string{"a", "b"} {
		wh := dbtest.Webhook(t, store, "https://"+p+".test/hook", p+".*")
		dbtest.Event(t, store, p+".x", 1)
		dbtest.Fail(t, store, wh.ID, 503)
	}
	sender := newSender(t, store, smtpMailer(smtpSrv))
	smtpSrv.Refuse()
	next, err := sender.Tick(t.Context())
	require.NoError(t, err)
	assert.Equal(t, start.Add(30*time.Second), next)
	tries := map[int]int{}
	for _, a := range alerts(t, store) {
		tries[a.Attempts]++
	}
	assert.Equal(t, map[int]int{0: 1, 1: 1}, tries, "one refusal and the other alert waits: no timeout per alert")

	smtpSrv.Accept()
	tick(t, sender)
	assert.Len(t, smtpSrv.Emails(), 1, "the untried alert goes at the next round; the refused one keeps its backoff")
	clock.Add(30 * time.Second)
	tick(t, sender)
	assert.Len(t, smtpSrv.Emails(), 2)
}

// TestSendersOfSeveralInstancesEmailOnce: every instance runs a sender on the shared store;
// each alert is claimed by one of them and emailed once, and one claimed by a sender that
// died is sent by another once the claim has run out.
func TestSendersOfSeveralInstancesEmailOnce(t *testing.T) {
	t.Parallel()
	smtpSrv := alerttest.Start(t)
	store := dbtest.New(t)
	clock := dbtest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	store.Clock = clock.Now
	senders := make([]*alert.Sender, 3)
	for i := range senders {
		senders[i] = newSender(t, store, smtpMailer(smtpSrv))
	}
	var hooks []string
	for i := range 4 {
		w := dbtest.Webhook(t, store, fmt.Sprintf("https://h%d.test/hook", i), fmt.Sprintf("h%d.*", i))
		dbtest.Event(t, store, fmt.Sprintf("h%d.x", i), 1)
		dbtest.Fail(t, store, w.ID, 503)
		hooks = append(hooks, w.ID)
	}
	var wg sync.WaitGroup
	for _, s := range senders {
		wg.Go(func() {
			_, err := s.Tick(t.Context())
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Len(t, smtpSrv.Emails(), len(hooks), "one email per alert, whichever sender sent it")

	// A sender claims the next alert and dies before sending it.
	w := dbtest.Webhook(t, store, "https://late.test/hook", "late.*")
	dbtest.Event(t, store, "late.x", 1)
	dbtest.Fail(t, store, w.ID, 503)
	_, err := store.FoldAlertFailures(t.Context(), time.Hour)
	require.NoError(t, err)
	claimed, err := store.ClaimDueAlerts(t.Context(), 1, 5*time.Minute)
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	tick(t, senders[0])
	assert.Len(t, smtpSrv.Emails(), len(hooks), "held by the dead sender's claim")
	clock.Add(5 * time.Minute)
	tick(t, senders[1])
	assert.Len(t, smtpSrv.Emails(), len(hooks)+1, "sent once the claim ran out")
}

// TestDisabledAndRecoveredAreEmailed runs the real engine against a real receiver that
// answers 410 Gone, then 200 once the webhook is enabled again, and the sender against a
// real SMTP server: one email says the webhook was disabled and why, one that it recovered.
func TestDisabledAndRecoveredAreEmailed(t *testing.T) {
	t.Parallel()
	var gone atomic.Bool
	gone.Store(true)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if gone.Load() {
			w.WriteHeader(http.StatusGone)
		}
	}))
	defer rcv.Close()
	smtpSrv := alerttest.Start(t)
	store := dbtest.New(t)
	wh, err := store.CreateWebhook(t.Context(), db.NewWebhook{URL: rcv.URL + "/hook", Description: "Orders service",
		EventTypes: []string{"order.*"}, Secret: dbtest.Secret, Enabled: true})
	require.NoError(t, err)
	dbtest.Event(t, store, "order.paid", 1)
	dbtest.Event(t, store, "order.paid", 2)

	engine := delivery.NewEngine(store, delivery.Options{
		Policy:             delivery.Policy{Schedule: []time.Duration{10 * time.Millisecond}},
		WebhookConcurrency: 1,
		Logger:             slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	sender := newSender(t, store, smtpMailer(smtpSrv))
	// The store says when a commit queued an alert; the test ticks the sender itself.
	queued := make(chan struct{}, 8)
	store.OnAlertQueued(func() { queued <- struct{}{} })
	waitQueued := func(what string) {
		t.Helper()
		select {
		case <-queued:
		case <-time.After(10 * time.Second):
			t.Fatal("no alert was queued: " + what)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() { assert.NoError(t, engine.Run(ctx)) })
	waitQueued("the 410 disables the webhook")
	w, err := store.FindWebhook(t.Context(), wh.ID)
	require.NoError(t, err)
	require.False(t, w.Enabled)
	tick(t, sender)
	emails := smtpSrv.Emails()
	require.Len(t, emails, 1)
	e := emails[0]
	assert.Equal(t, `[hookrelay] Webhook "Orders service" (`+rcv.URL+`/hook) was disabled: the receiver answered 410 Gone`, e.Subject)
	d := dbtest.Deliveries(t, store, wh.ID)
	var failed db.Delivery
	for _, x := range d {
		if x.State == db.StateFailed {
			failed = x
		}
	}
	require.NotEmpty(t, failed.ID)
	assertBoth(t, e, "hookrelay disabled the webhook "+rcv.URL+"/hook: the receiver answered 410 Gone.",
		"Its deliveries wait until an administrator enables it again.", failed.ID, "HTTP 410",
		base+"/webhooks/"+wh.ID, "Enable the webhook again once its receiver is fixed")
	a := alerts(t, store)
	require.Len(t, a, 1)
	assert.Equal(t, db.AlertWebhookDisabled, a[0].Kind)

	// Fixed: enabled again, the waiting delivery goes through and the administrators hear.
	gone.Store(false)
	_, err = store.UpdateWebhook(t.Context(), wh.ID, db.WebhookUpdate{Enabled: new(true)})
	require.NoError(t, err)
	waitQueued("the success after the alert")
	require.Len(t, alerts(t, store), 2)
	tick(t, sender)
	emails = smtpSrv.Emails()
	require.Len(t, emails, 2)
	e = emails[1]
	assert.Equal(t, `[hookrelay] Webhook "Orders service" (`+rcv.URL+`/hook) recovered`, e.Subject)
	assertBoth(t, e, "Deliveries to "+rcv.URL+"/hook succeed again: delivery ", " succeeded at ", base+"/webhooks/"+wh.ID)
	assert.Equal(t, db.AlertRecovered, alerts(t, store)[0].Kind)
}
