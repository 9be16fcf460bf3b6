package alert_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hookrelay/hookrelay/alert"
	"github.com/hookrelay/hookrelay/alert/alerttest"
	"github.com/hookrelay/hookrelay/db/dbtest"
)

// countingMetrics counts the alert emails the sender reports.
type countingMetrics struct {
	mu           sync.Mutex
	sent, failed int
}

func (m *countingMetrics) AlertEmail(sent bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if sent {
		m.sent++
	} else {
		m.failed++
	}
}

func (m *countingMetrics) counts() (sent, failed int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sent, m.failed
}

func TestSenderCountsSentAndFailedEmails(t *testing.T) {
	t.Parallel()
	smtpSrv := alerttest.Start(t)
	store := dbtest.New(t)
	clock := dbtest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	store.Clock = clock.Now
	wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
	dbtest.Event(t, store, "a.b", 1)
	dbtest.Fail(t, store, wh.ID, 503)
	m := &countingMetrics{}
	sender := alert.NewSender(store, alert.Options{
		Mailer:     smtpMailer(smtpSrv),
		Recipients: func(context.Context) ([]string, error) { return recipients, nil },
		BaseURL:    base,
		Logger:     slog.New(slog.NewTextHandler(t.Output(), nil)),
		Metrics:    m,
	})

	smtpSrv.Refuse()
	tick(t, sender)
	clock.Add(30 * time.Second)
	tick(t, sender)
	sent, failed := m.counts()
	assert.Equal(t, 0, sent)
	assert.Equal(t, 2, failed, "every refused try counts")

	smtpSrv.Accept()
	clock.Add(time.Minute)
	tick(t, sender)
	sent, failed = m.counts()
	assert.Equal(t, 1, sent)
	assert.Equal(t, 2, failed)
	assert.Len(t, smtpSrv.Emails(), 1)

	// A test email is not an alert email: it is not counted.
	_, err := sender.SendTestEmail(t.Context(), "")
	assert.NoError(t, err)
	sent, _ = m.counts()
	assert.Equal(t, 1, sent)
}
