package handlers

import (
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"strings"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/views"
)

// emailNotSetUp is the reason email is off when no alert sender is wired (tests, or a
// server built without one).
const emailNotSetUp = "alert email is not set up in this server"

func (s *Server) emailStatus(r *http.Request) views.EmailStatus {
	if s.AlertEmail == nil {
		return views.EmailStatus{Reason: emailNotSetUp}
	}
	on, why := s.AlertEmail.EmailStatus(r.Context())
	return views.EmailStatus{On: on, Reason: why}
}

// alertListData loads the Alerts page for the query q: a filter by state (status) and the
// cursor of an older page. A bad filter comes back in Errors with no alerts loaded.
func (s *Server) alertListData(r *http.Request, q url.Values) (views.AlertListData, error) {
	ctx := r.Context()
	d := views.AlertListData{Status: q.Get("status"), Errors: map[string]string{}, Email: s.emailStatus(r), Now: s.now()}
	unsent, err := s.DB.CountUnsentAlerts(ctx)
	if err != nil {
		return d, err
	}
	d.Unsent = unsent
	f := db.AlertFilter{Cursor: q.Get("cursor"), Limit: uiPageSize}
	if d.Status != "" {
		if !db.AlertState(d.Status).Valid() {
			d.Errors["status"] = "Choose a status from the list."
			return d, nil
		}
		f.State = db.AlertState(d.Status)
	}
	alerts, next, err := s.DB.ListAlerts(ctx, f)
	if err != nil {
		return d, err
	}
	d.Alerts = alerts
	if next != "" {
		q.Set("cursor", next)
		d.NextURL = "/alerts?" + q.Encode()
	}
	return d, nil
}

func (s *Server) alertsPage(w http.ResponseWriter, r *http.Request) {
	d, err := s.alertListData(r, r.URL.Query())
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	status := http.StatusOK
	if len(d.Errors) > 0 {
		status = http.StatusUnprocessableEntity
	}
	s.page(w, r, status, views.Page{Title: "Alerts", Nav: "alerts"}, views.AlertList(d))
}

// sendTestEmailForm sends a test email through the alert SMTP settings and shows what
// became of it: htmx gets the form with the outcome in place, a plain form the whole
// Alerts page with it. The outcome is the answer, so it comes with 200 whether the SMTP
// server took the email or not; only an unreadable address is a 422.
func (s *Server) sendTestEmailForm(w http.ResponseWriter, r *http.Request) {
	f := views.TestEmailForm{To: strings.TrimSpace(r.PostFormValue("to"))}
	status := http.StatusOK
	if f.To != "" {
		if _, err := mail.ParseAddress(f.To); err != nil {
			f.Errors = map[string]string{"to": "Enter an email address such as ops@example.com, or leave it empty to send to the alert recipients."}
			status = http.StatusUnprocessableEntity
		}
	}
	if status == http.StatusOK {
		f.Result = s.testEmail(r, f.To)
	}
	if isHTMX(r) {
		s.fragment(w, r, status, views.TestEmail(f))
		return
	}
	d, err := s.alertListData(r, url.Values{})
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	d.TestEmail = f
	s.page(w, r, status, views.Page{Title: "Alerts", Nav: "alerts"}, views.AlertList(d))
}

func (s *Server) testEmail(r *http.Request, to string) *views.TestEmailResult {
	if s.AlertEmail == nil {
		return &views.TestEmailResult{Outcome: views.TestEmailOff, Message: "email is off: " + emailNotSetUp}
	}
	rcpt, err := s.AlertEmail.SendTestEmail(r.Context(), to)
	s.audit(r, db.AuditTestEmail, db.AuditTarget{Kind: db.TargetEmail}, testEmailSummary(rcpt, to, err))
	if rcpt == nil && to != "" {
		rcpt = []string{to}
	}
	switch {
	case errors.Is(err, errors.ErrUnsupported): // email is off; the error says why
		return &views.TestEmailResult{Outcome: views.TestEmailOff, To: rcpt, Message: err.Error()}
	case err != nil:
		return &views.TestEmailResult{Outcome: views.TestEmailFailed, To: rcpt, Message: err.Error()}
	}
	return &views.TestEmailResult{Outcome: views.TestEmailSent, To: rcpt}
}

// webhookDeliveries is the link alert emails carry to a webhook's failed deliveries
// (/webhooks/{id}/deliveries?status=failed): the delivery list filtered by the webhook,
// with the rest of the query kept.
func (s *Server) webhookDeliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	q.Set("webhook", r.PathValue("id"))
	http.Redirect(w, r, "/deliveries?"+q.Encode(), http.StatusSeeOther)
}
