package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/alert"
	"github.com/hookrelay/hookrelay/alert/alerttest"
	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/db/sqlite"
	"github.com/hookrelay/hookrelay/handlers"
)

type alertResp struct {
	ID                 string   `json:"id"`
	Kind               string   `json:"kind"`
	Status             string   `json:"status"`
	Reason             *string  `json:"reason"`
	WebhookID          string   `json:"webhookId"`
	WebhookURL         string   `json:"webhookUrl"`
	WebhookDescription string   `json:"webhookDescription"`
	FailingSince       string   `json:"failingSince"`
	WindowEndsAt       string   `json:"windowEndsAt"`
	DeliveryCount      int      `json:"deliveryCount"`
	EventTypes         []string `json:"eventTypes"`
	Deliveries         []struct {
		ID             string  `json:"id"`
		EventID        string  `json:"eventId"`
		EventType      string  `json:"eventType"`
		AttemptCount   int     `json:"attemptCount"`
		LastStatusCode *int    `json:"lastStatusCode"`
		LastError      *string `json:"lastError"`
		ErrorMessage   *string `json:"errorMessage"`
		FirstAttemptAt string  `json:"firstAttemptAt"`
		FailedAt       string  `json:"failedAt"`
	} `json:"deliveries"`
	LastStatusCode    *int     `json:"lastStatusCode"`
	LastError         *string  `json:"lastError"`
	SendAttempts      int      `json:"sendAttempts"`
	LastSendAttemptAt *string  `json:"lastSendAttemptAt"`
	LastSendError     *string  `json:"lastSendError"`
	NextSendAt        *string  `json:"nextSendAt"`
	SentAt            *string  `json:"sentAt"`
	Recipients        []string `json:"recipients"`
	CreatedAt         string   `json:"createdAt"`
	UpdatedAt         string   `json:"updatedAt"`
}

type alertList struct {
	Data        []alertResp `json:"data"`
	NextCursor  *string     `json:"nextCursor"`
	UnsentCount int         `json:"unsentCount"`
	Email       struct {
		Enabled bool    `json:"enabled"`
		Reason  *string `json:"reason"`
	} `json:"email"`
}

var alertRecipients = []string{"ops@example.com"}

// alertEnv is a server whose AlertEmail is a real alert sender on a real SMTP server.
func alertEnv(t *testing.T, mailer bool) (*env, *alert.Sender, *alerttest.Server, *dbtest.Clock) {
	t.Helper()
	smtpSrv := alerttest.Start(t)
	var sender *alert.Sender
	e := newEnv(t, func(s *handlers.Server) {
		o := alert.Options{BaseURL: "https://hookrelay.test", Window: time.Hour,
			Recipients: func(context.Context) ([]string, error) { return alertRecipients, nil }}
		if mailer {
			o.Mailer = &alert.SMTP{Addr: smtpSrv.Addr, From: "hookrelay@example.com", TLS: alert.TLSNone, Timeout: 5 * time.Second}
		}
		sender = alert.NewSender(s.DB.(*sqlite.DB), o)
		s.AlertEmail = sender
	})
	clock := dbtest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	e.store.Clock = clock.Now
	return e, sender, smtpSrv, clock
}

func listAlerts(t *testing.T, e *env, query string) alertList {
	t.Helper()
	rec := e.admin(http.MethodGet, "/api/v1/alerts"+query, "")
	requireStatus(t, rec, http.StatusOK)
	var out alertList
	decodeInto(t, rec, &out)
	return out
}

func TestListAlerts(t *testing.T) {
	t.Parallel()
	e, sender, smtpSrv, clock := alertEnv(t, true)
	empty := listAlerts(t, e, "")
	assert.Empty(t, empty.Data)
	assert.NotNil(t, empty.Data, "an empty list is [], not null")
	assert.True(t, empty.Email.Enabled)
	assert.Nil(t, empty.Email.Reason)

	a := dbtest.Webhook(t, e.store, "https://a.test/hook", "a.*")
	b := dbtest.Webhook(t, e.store, "https://b.test/hook", "b.*")
	evA := dbtest.Event(t, e.store, "a.created", 1)
	dbtest.Event(t, e.store, "a.created", 2)
	dbtest.Event(t, e.store, "b.created", 1)
	dA := dbtest.Fail(t, e.store, a.ID, 503)
	_, err := sender.Tick(t.Context())
	require.NoError(t, err)
	clock.Add(time.Minute)
	dbtest.Fail(t, e.store, a.ID, 500) // folded into a's digest
	smtpSrv.Refuse()
	dbtest.Fail(t, e.store, b.ID, 502)
	_, err = sender.Tick(t.Context())
	require.NoError(t, err)

	got := listAlerts(t, e, "")
	require.Len(t, got.Data, 3)
	assert.Equal(t, 2, got.UnsentCount, "a's digest waits for its window; b's was refused")
	assert.Nil(t, got.NextCursor)
	byStatus := map[string]alertResp{}
	for _, x := range got.Data {
		byStatus[x.Kind+"/"+x.Status] = x
	}

	sent := byStatus["immediate/sent"]
	assert.Equal(t, a.ID, sent.WebhookID)
	assert.Equal(t, "https://a.test/hook", sent.WebhookURL)
	assert.Equal(t, "2026-03-01T12:00:00Z", sent.FailingSince)
	assert.Equal(t, "2026-03-01T13:00:00Z", sent.WindowEndsAt)
	assert.Equal(t, 1, sent.DeliveryCount)
	assert.Equal(t, []string{"a.created"}, sent.EventTypes)
	require.Len(t, sent.Deliveries, 1)
	assert.Equal(t, dA.DeliveryID, sent.Deliveries[0].ID)
	assert.Equal(t, evA.EventID, sent.Deliveries[0].EventID)
	assert.Equal(t, 1, sent.Deliveries[0].AttemptCount)
	assert.Equal(t, new(503), sent.Deliveries[0].LastStatusCode)
	assert.Equal(t, new("HTTP 503"), sent.Deliveries[0].LastError)
	assert.Equal(t, "2026-03-01T12:00:00Z", sent.Deliveries[0].FailedAt)
	assert.Equal(t, 1, sent.SendAttempts)
	assert.Equal(t, new("2026-03-01T12:00:00Z"), sent.SentAt)
	assert.Nil(t, sent.NextSendAt, "a sent alert is not sent again")
	assert.Nil(t, sent.LastSendError)
	assert.Equal(t, alertRecipients, sent.Recipients)

	refused := byStatus["immediate/failed_to_send"]
	assert.Equal(t, b.ID, refused.WebhookID)
	assert.Equal(t, 1, refused.SendAttempts)
	require.NotNil(t, refused.LastSendError)
	assert.Contains(t, *refused.LastSendError, "451")
	assert.Equal(t, new("2026-03-01T12:01:30Z"), refused.NextSendAt)
	assert.Equal(t, new("2026-03-01T12:01:00Z"), refused.LastSendAttemptAt)
	assert.Nil(t, refused.SentAt)
	assert.Equal(t, []string{}, refused.Recipients)

	digest := byStatus["digest/pending"]
	assert.Equal(t, a.ID, digest.WebhookID)
	assert.Equal(t, 1, digest.DeliveryCount)
	assert.Equal(t, new(500), digest.LastStatusCode)
	assert.Equal(t, new("2026-03-01T13:00:00Z"), digest.NextSendAt, "sent when the window closes")
	assert.Zero(t, digest.SendAttempts)

	// Newest first, page by page.
	page := listAlerts(t, e, "?limit=2")
	require.Len(t, page.Data, 2)
	require.NotNil(t, page.NextCursor)
	assert.Equal(t, got.Data[0].ID, page.Data[0].ID)
	rest := listAlerts(t, e, "?limit=2&cursor="+url.QueryEscape(*page.NextCursor))
	require.Len(t, rest.Data, 1)
	assert.Equal(t, got.Data[2].ID, rest.Data[0].ID)
	assert.Nil(t, rest.NextCursor)

	onlyRefused := listAlerts(t, e, "?status=failed_to_send")
	require.Len(t, onlyRefused.Data, 1)
	assert.Equal(t, refused.ID, onlyRefused.Data[0].ID)

	assertError(t, e.admin(http.MethodGet, "/api/v1/alerts?status=failed", ""), http.StatusBadRequest, "invalid_value", "status")
	assertError(t, e.admin(http.MethodGet, "/api/v1/alerts?limit=0", ""), http.StatusBadRequest, "invalid_value", "limit")
	assertError(t, e.admin(http.MethodGet, "/api/v1/alerts?cursor=nope", ""), http.StatusBadRequest, "invalid_value", "cursor")
	assertError(t, e.call(http.MethodGet, "/api/v1/alerts", ingestToken, ""), http.StatusForbidden, "forbidden", "")
	assertError(t, e.call(http.MethodGet, "/api/v1/alerts", "", ""), http.StatusUnauthorized, "unauthorized", "")
}

func TestListAlertsSaysWhenEmailIsOff(t *testing.T) {
	t.Parallel()
	e, sender, _, _ := alertEnv(t, false)
	wh := dbtest.Webhook(t, e.store, "https://a.test/hook")
	dbtest.Event(t, e.store, "a.b", 1)
	dbtest.Fail(t, e.store, wh.ID, 503)
	_, err := sender.Tick(t.Context())
	require.NoError(t, err)
	got := listAlerts(t, e, "")
	require.Len(t, got.Data, 1, "recorded and shown with email off")
	assert.Equal(t, string(db.AlertPending), got.Data[0].Status)
	assert.False(t, got.Email.Enabled)
	require.NotNil(t, got.Email.Reason)
	assert.Contains(t, *got.Email.Reason, "no SMTP server")
	assert.Equal(t, 1, got.UnsentCount)

	bare := newEnv(t)
	got = listAlerts(t, bare, "")
	assert.False(t, got.Email.Enabled)
}

func TestSendTestEmail(t *testing.T) {
	t.Parallel()
	e, _, smtpSrv, _ := alertEnv(t, true)

	rec := e.admin(http.MethodPost, "/api/v1/alerts/test-email", `{"to":"someone@example.com"}`)
	requireStatus(t, rec, http.StatusOK)
	assert.JSONEq(t, `{"sent":true,"to":["someone@example.com"]}`, rec.Body.String())
	rec = e.admin(http.MethodPost, "/api/v1/alerts/test-email", "")
	requireStatus(t, rec, http.StatusOK)
	assert.JSONEq(t, `{"sent":true,"to":["ops@example.com"]}`, rec.Body.String(), "no body: the alert recipients")
	rec = e.admin(http.MethodPost, "/api/v1/alerts/test-email", `{}`)
	requireStatus(t, rec, http.StatusOK)
	emails := smtpSrv.Emails()
	require.Len(t, emails, 3)
	assert.Equal(t, []string{"someone@example.com"}, emails[0].To)
	assert.Equal(t, "[hookrelay] Test email", emails[0].Subject)
	assert.Contains(t, emails[0].Text, "https://hookrelay.test")
	assert.Equal(t, alertRecipients, emails[1].To)

	assertError(t, e.admin(http.MethodPost, "/api/v1/alerts/test-email", `{"to":"nobody"}`), http.StatusBadRequest, "invalid_value", "to")
	assertError(t, e.admin(http.MethodPost, "/api/v1/alerts/test-email", `{"to":"a@b.test","cc":"x"}`), http.StatusBadRequest, "unknown_field", "cc")
	assertError(t, e.admin(http.MethodPost, "/api/v1/alerts/test-email", `{"to":1}`), http.StatusBadRequest, "invalid_value", "to")
	assertError(t, e.admin(http.MethodPost, "/api/v1/alerts/test-email", `{"to":"a@b.test"}`, "Content-Type", "text/plain"),
		http.StatusUnsupportedMediaType, "unsupported_media_type", "")
	assertError(t, e.call(http.MethodPost, "/api/v1/alerts/test-email", ingestToken, ""), http.StatusForbidden, "forbidden", "")

	smtpSrv.Refuse()
	failed := assertError(t, e.admin(http.MethodPost, "/api/v1/alerts/test-email", `{"to":"someone@example.com"}`),
		http.StatusBadGateway, "email_failed", "")
	assert.Contains(t, failed.Error.Message, "451", "the SMTP server's answer is the outcome")
	assert.Len(t, smtpSrv.Emails(), 3)

	off, _, _, _ := alertEnv(t, false)
	offErr := assertError(t, off.admin(http.MethodPost, "/api/v1/alerts/test-email", `{"to":"someone@example.com"}`),
		http.StatusConflict, "email_off", "")
	assert.Contains(t, offErr.Error.Message, "no SMTP server")

	bare := newEnv(t)
	assertError(t, bare.admin(http.MethodPost, "/api/v1/alerts/test-email", ""), http.StatusServiceUnavailable, "unavailable", "")
}
