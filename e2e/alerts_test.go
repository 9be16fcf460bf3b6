//go:build e2e

package e2e

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/alert/alerttest"
)

// TestFailedDeliveryEmailsTheAdmins runs the binary with SMTP settings pointing at a real
// SMTP server in this process and a receiver that always answers 503.
func TestFailedDeliveryEmailsTheAdmins(t *testing.T) {
	t.Parallel()
	smtpSrv := alerttest.Start(t)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer rcv.Close()
	srv := startServer(t, "",
		"HOOKRELAY_SMTP_ADDR="+smtpSrv.Addr,
		"HOOKRELAY_SMTP_TLS=none",
		"HOOKRELAY_SMTP_FROM=hookrelay@example.com",
		"HOOKRELAY_ALERT_EMAILS=ops@example.com,oncall@example.com",
		"HOOKRELAY_BASE_URL=https://hooks.example.com",
	)

	var wh struct{ ID string }
	require.Equal(t, 201, srv.api(t, "POST", "/api/v1/webhooks", adminToken,
		map[string]any{"url": rcv.URL + "/" + t.Name(), "eventTypes": []string{"*"}}, &wh))
	require.Equal(t, 202, srv.api(t, "POST", "/api/v1/events", ingestToken,
		map[string]any{"eventType": "order.paid", "data": map[string]int{"n": 1}}, nil))

	emails := smtpSrv.Wait(t, 1, 20*time.Second)
	e := emails[0]
	assert.ElementsMatch(t, []string{"ops@example.com", "oncall@example.com"}, e.To)
	assert.Contains(t, e.Subject, rcv.URL+"/"+t.Name())
	assert.Contains(t, e.Text, "order.paid")
	assert.Contains(t, e.Text, "2 attempts made, last: HTTP 503")
	assert.Contains(t, e.Text, "https://hooks.example.com/webhooks/"+wh.ID+"/deliveries?status=failed")
	assert.Contains(t, e.HTML, "https://hooks.example.com/deliveries/dlv_")

	var list struct {
		Data []struct {
			Status     string
			WebhookID  string
			Recipients []string
			Deliveries []struct{ ID string }
		}
		Email struct{ Enabled bool }
	}
	eventually(t, "the alert to be recorded as sent", func() bool {
		require.Equal(t, 200, srv.api(t, "GET", "/api/v1/alerts", adminToken, nil, &list))
		return len(list.Data) == 1 && list.Data[0].Status == "sent"
	})
	assert.True(t, list.Email.Enabled)
	assert.Equal(t, wh.ID, list.Data[0].WebhookID)
	require.Len(t, list.Data[0].Deliveries, 1)
	assert.Contains(t, e.Text, list.Data[0].Deliveries[0].ID)

	var outcome struct {
		Sent bool
		To   []string
	}
	require.Equal(t, 200, srv.api(t, "POST", "/api/v1/alerts/test-email", adminToken, map[string]string{"to": "me@example.com"}, &outcome))
	assert.True(t, outcome.Sent)
	assert.Equal(t, []string{"me@example.com"}, outcome.To)
	emails = smtpSrv.Wait(t, 2, 20*time.Second)
	assert.Equal(t, "[hookrelay] Test email", emails[1].Subject)
	assert.Len(t, smtpSrv.Emails(), 2, "exactly one alert email")
}

// TestUnsentAlertIsSentAfterACrash records an alert while email is off, kills the process,
// and restarts it with SMTP settings: the alert goes out.
func TestUnsentAlertIsSentAfterACrash(t *testing.T) {
	t.Parallel()
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer rcv.Close()
	srv := startServer(t, "")
	var wh struct{ ID string }
	require.Equal(t, 201, srv.api(t, "POST", "/api/v1/webhooks", adminToken,
		map[string]any{"url": rcv.URL + "/" + t.Name(), "eventTypes": []string{"*"}}, &wh))
	require.Equal(t, 202, srv.api(t, "POST", "/api/v1/events", ingestToken,
		map[string]any{"eventType": "order.paid", "data": map[string]int{"n": 1}}, nil))
	var list struct {
		Data []struct {
			ID, Status string
		}
		UnsentCount int
		Email       struct {
			Enabled bool
			Reason  string
		}
	}
	eventually(t, "the alert to be recorded", func() bool {
		require.Equal(t, 200, srv.api(t, "GET", "/api/v1/alerts", adminToken, nil, &list))
		return len(list.Data) == 1
	})
	assert.Equal(t, "pending", list.Data[0].Status)
	assert.Equal(t, 1, list.UnsentCount)
	assert.False(t, list.Email.Enabled)
	assert.Contains(t, list.Email.Reason, "no SMTP server")
	assert.Contains(t, srv.output(), "alert email is off")
	srv.kill()

	smtpSrv := alerttest.Start(t)
	again := startServer(t, srv.DBPath,
		"HOOKRELAY_SMTP_ADDR="+smtpSrv.Addr,
		"HOOKRELAY_SMTP_TLS=none",
		"HOOKRELAY_SMTP_FROM=hookrelay@example.com",
		"HOOKRELAY_ALERT_EMAILS=ops@example.com",
	)
	emails := smtpSrv.Wait(t, 1, 20*time.Second)
	assert.Contains(t, emails[0].Subject, rcv.URL+"/"+t.Name())
	assert.Contains(t, emails[0].Text, "HTTP 502")
	assert.Contains(t, emails[0].Text, again.URL+"/webhooks/"+wh.ID+"/deliveries?status=failed", "links default to the listen address")
	eventually(t, "the alert to be recorded as sent", func() bool {
		require.Equal(t, 200, again.api(t, "GET", "/api/v1/alerts", adminToken, nil, &list))
		return len(list.Data) == 1 && list.Data[0].Status == "sent"
	})
}
