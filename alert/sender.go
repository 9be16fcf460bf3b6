// Package alert emails administrators when deliveries fail for good.
//
// The database queues each failure in an outbox in the transaction that marks the delivery
// failed (see db/alert.go, which also states the no-flood rule). The Sender runs in the
// server process: it folds the outbox into alerts — the first failure of a webhook emails at
// once; further failures within the window go into one digest sent when the window closes —
// then sends the alerts that are due, and records each try. A send that fails is retried
// with exponential backoff, and since everything is in the database an unsent alert goes out
// after a restart. Delivery of emails is at least once: a crash between the SMTP server's
// acceptance and the record sends that alert again.
package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

// Options configure a Sender. Zero values take the documented defaults.
type Options struct {
	// Mailer sends the emails. Nil turns email off: alerts are still recorded and listed.
	Mailer Mailer
	// Recipients returns who gets alert emails; asked before each round of sends, so a
	// changed list takes effect without a restart. Nil or an empty answer means nobody:
	// alerts then wait, pending, until there is someone to tell.
	Recipients func(ctx context.Context) ([]string, error)
	// Window is how long after an alert further failures of the same webhook are collected
	// into one digest (default 1h).
	Window time.Duration
	// BaseURL is the admin UI's address, for links in the emails.
	BaseURL string
	// PollInterval is how long the sender sleeps at most. New failures wake it at once (the
	// database tells it after each commit that queued one); this is the safety net, and how
	// soon a change of recipients is noticed (default 1m).
	PollInterval time.Duration
	// RetryMin and RetryMax bound the backoff between tries of an alert that could not be
	// sent: RetryMin, doubling each time, at most RetryMax (defaults 30s and 1h).
	RetryMin, RetryMax time.Duration
	// SendLease is how long an alert claimed for sending is held from other senders (default
	// 5m); it must outlast one send (the mailer's timeout). A sender that dies mid-send
	// leaves its alert to be sent again after it.
	SendLease time.Duration
	Logger    *slog.Logger
	// Metrics counts the alert emails tried; nil counts nothing.
	Metrics Metrics
}

// Metrics receives the sender's measurements; cmd wires the Prometheus ones (package
// metrics).
type Metrics interface {
	// AlertEmail is told of every alert email tried: sent, or failed (to be retried).
	AlertEmail(sent bool)
}

type noMetrics struct{}

func (noMetrics) AlertEmail(bool) {}

// Outbox is what the sender needs of the store: the failures queued by recorded attempts,
// the alerts folded from them, and a record of each send. Every instance sharing a store
// runs a sender: the store folds the outbox one sender at a time, and each alert is sent by
// the sender that claimed it (ClaimDueAlerts), so it is emailed once, not once per
// instance. Its clock (Now) is the one the
// store stamps rows with, so that windows and backoff are measured on one clock.
type Outbox interface {
	Now() time.Time
	OnAlertQueued(fn func())
	AlertWork(ctx context.Context) (outbox bool, nextDue time.Time, err error)
	FoldAlertFailures(ctx context.Context, window time.Duration) (db.FoldResult, error)
	ClaimDueAlerts(ctx context.Context, limit int, lease time.Duration) ([]db.Alert, error)
	RecordAlertSend(ctx context.Context, r db.AlertSend) error
}

// Sender turns the alert outbox into emails. Run it once per database.
type Sender struct {
	store Outbox
	o     Options
	wake  chan struct{}

	lastOff string // the last "email is off" reason logged, owned by the Run goroutine
}

// dueBatch is how many due alerts one Tick sends at most; Run ticks again at once if more
// are due.
const dueBatch = 50

// NewSender returns a sender over store and subscribes it to the store's notice of new
// failures, so that the first failure of a webhook is emailed at once.
func NewSender(store Outbox, o Options) *Sender {
	if o.Window <= 0 {
		o.Window = time.Hour
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Minute
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 30 * time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = time.Hour
	}
	o.RetryMax = max(o.RetryMax, o.RetryMin)
	if o.SendLease <= 0 {
		o.SendLease = 5 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = noMetrics{}
	}
	s := &Sender{store: store, o: o, wake: make(chan struct{}, 1)}
	store.OnAlertQueued(s.Wake)
	return s
}

// Wake makes Run look at the outbox now. NewSender subscribes it to the database's
// notifications; it never blocks.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run folds and sends until ctx is cancelled. A send in progress is finished (it is bounded
// by the mailer's timeout) and recorded before Run returns.
func (s *Sender) Run(ctx context.Context) error {
	if on, why := s.EmailStatus(ctx); on {
		s.o.Logger.Info("alert email is on", "window", s.o.Window)
	} else {
		s.o.Logger.Warn("alert email is off: alerts are recorded and listed at GET /api/v1/alerts but not sent", "reason", why)
		s.lastOff = why
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-s.wake:
		}
		next, err := s.Tick(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.o.Logger.Error("alert sender", "err", err)
		}
		wait := s.o.PollInterval
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(s.store.Now()), 0))
		}
		timer.Reset(wait)
	}
}

// Tick does one round: folds the outbox into alerts, sends the alerts that are due (when
// email is on; a refused send ends the round), and returns when to come back (zero when no
// alert is waiting, or when email is off). Its only clock is the database's (Outbox.Now):
// Run calls it in a loop; tests call it directly with an injected clock.
func (s *Sender) Tick(ctx context.Context) (time.Time, error) {
	outbox, next, err := s.store.AlertWork(ctx)
	if err != nil {
		return time.Time{}, err
	}
	if outbox {
		for more := true; more; {
			res, err := s.store.FoldAlertFailures(ctx, s.o.Window)
			if err != nil {
				return time.Time{}, err
			}
			for _, id := range res.Raised {
				s.o.Logger.Info("alert raised", "alert_id", id)
			}
			more = res.More
		}
		if _, next, err = s.store.AlertWork(ctx); err != nil {
			return time.Time{}, err
		}
	}
	if s.o.Mailer == nil {
		return time.Time{}, nil
	}
	if next.IsZero() || next.After(s.store.Now()) {
		return next, nil
	}
	to, off := s.recipients(ctx)
	if off != "" {
		if off != s.lastOff {
			s.o.Logger.Warn("alert email is off", "reason", off)
			s.lastOff = off
		}
		return time.Time{}, nil
	}
	s.lastOff = ""
	// One alert claimed at a time, just before it is sent: a claim holds it from the other
	// instances' senders for SendLease, which must outlast one send, not a whole round.
	for range dueBatch {
		if ctx.Err() != nil {
			return time.Time{}, nil
		}
		due, err := s.store.ClaimDueAlerts(ctx, 1, s.o.SendLease)
		if err != nil {
			return time.Time{}, err
		}
		if len(due) == 0 {
			_, next, err = s.store.AlertWork(ctx)
			return next, err
		}
		sent, err := s.send(ctx, due[0], to)
		if err != nil {
			return time.Time{}, err
		}
		if !sent {
			// The server is down or refusing: leave the rest of the round for later rather
			// than wait out a timeout per alert now. Each alert keeps its own backoff.
			return s.store.Now().Add(s.o.RetryMin), nil
		}
	}
	return s.store.Now(), nil // a full round: more may be due
}

// send tries to email one alert and records the outcome. Only a failure to record it is
// returned as an error: a failed send is data, retried later.
func (s *Sender) send(ctx context.Context, a db.Alert, to []string) (sent bool, err error) {
	m := Compose(a, s.o.BaseURL)
	m.To = to
	ctx = context.WithoutCancel(ctx) // a send that started is finished and recorded
	rec := db.AlertSend{AlertID: a.ID, Recipients: to}
	log := s.o.Logger.With("alert_id", a.ID, "webhook_id", a.WebhookID, "kind", a.Kind, "attempt", a.Attempts+1)
	if err := s.o.Mailer.Send(ctx, m); err != nil {
		rec.Err = truncate(err.Error(), 1000)
		rec.RetryIn = s.backoff(a.Attempts + 1)
		log.Warn("alert email failed", "err", err, "retry_in", rec.RetryIn)
	} else {
		log.Info("alert sent", "recipients", len(to), "deliveries", a.DeliveryCount)
	}
	s.o.Metrics.AlertEmail(rec.Err == "")
	return rec.Err == "", s.store.RecordAlertSend(ctx, rec)
}

// backoff is the wait after the n-th failed try: RetryMin doubled n-1 times, at most RetryMax.
func (s *Sender) backoff(n int) time.Duration {
	d := s.o.RetryMin
	for i := 1; i < n && d < s.o.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.o.RetryMax)
}

// recipients returns who to email, or why email is off.
func (s *Sender) recipients(ctx context.Context) ([]string, string) {
	if s.o.Mailer == nil {
		return nil, "no SMTP server is configured (HOOKRELAY_SMTP_ADDR)"
	}
	if s.o.Recipients == nil {
		return nil, "no recipients: set HOOKRELAY_ALERT_EMAILS or create an admin user"
	}
	to, err := s.o.Recipients(ctx)
	if err != nil {
		return nil, "reading the recipients: " + err.Error()
	}
	if len(to) == 0 {
		return nil, "no recipients: set HOOKRELAY_ALERT_EMAILS or create an admin user"
	}
	return to, ""
}

// EmailStatus reports whether alert emails go out and, when they do not, why.
func (s *Sender) EmailStatus(ctx context.Context) (on bool, reason string) {
	_, off := s.recipients(ctx)
	return off == "", off
}

// EmailOffError says why no email can be sent. It matches errors.ErrUnsupported, so that
// callers need not import this package to tell it from an SMTP failure.
type EmailOffError struct{ Reason string }

func (e *EmailOffError) Error() string { return "email is off: " + e.Reason }

// Is reports whether target is errors.ErrUnsupported.
func (e *EmailOffError) Is(target error) bool { return target == errors.ErrUnsupported }

// SendTestEmail sends a test email through the alert mailer to to, or to the alert
// recipients when to is empty, and returns who it went to. When email is off it returns
// an *EmailOffError.
func (s *Sender) SendTestEmail(ctx context.Context, to string) ([]string, error) {
	if s.o.Mailer == nil {
		_, off := s.recipients(ctx)
		return nil, &EmailOffError{Reason: off}
	}
	var rcpt []string
	if to != "" {
		a, err := mail.ParseAddress(to)
		if err != nil {
			return nil, fmt.Errorf("recipient %q: %w", to, err)
		}
		rcpt = []string{a.Address}
	} else {
		var off string
		if rcpt, off = s.recipients(ctx); off != "" {
			return nil, &EmailOffError{Reason: off + "; give an address to send to"}
		}
	}
	if err := s.o.Mailer.Send(ctx, TestMessage(s.o.BaseURL, rcpt)); err != nil {
		return rcpt, err
	}
	s.o.Logger.Info("test email sent", "recipients", len(rcpt))
	return rcpt, nil
}

// ParseEmails reads a comma-separated list of addresses ("a@x.org, Ops <ops@x.org>") and
// returns the bare addresses.
func ParseEmails(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	list, err := mail.ParseAddressList(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a comma-separated list of email addresses: %w", s, err)
	}
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.Address
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
