package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"strings"

	"github.com/hookrelay/hookrelay/db"
)

// AlertEmail is what the alert API needs of the alert sender (alert.Sender implements it;
// handlers does not import that package).
type AlertEmail interface {
	// EmailStatus reports whether alert emails go out and, when they do not, why.
	EmailStatus(ctx context.Context) (on bool, reason string)
	// SendTestEmail sends a test email to to, or to the alert recipients when to is empty,
	// and returns who it went to. When email is off the error wraps errors.ErrUnsupported;
	// any other error is the SMTP server's.
	SendTestEmail(ctx context.Context, to string) ([]string, error)
}

// Error codes of the alert API.
const (
	codeEmailOff    = "email_off"
	codeEmailFailed = "email_failed"
)

type alertResponse struct {
	ID                 string                  `json:"id"`
	Kind               string                  `json:"kind"`
	Reason             *string                 `json:"reason"`
	Status             string                  `json:"status"`
	WebhookID          string                  `json:"webhookId"`
	WebhookURL         string                  `json:"webhookUrl"`
	WebhookDescription string                  `json:"webhookDescription"`
	FailingSince       string                  `json:"failingSince"`
	WindowEndsAt       string                  `json:"windowEndsAt"`
	DeliveryCount      int                     `json:"deliveryCount"`
	EventTypes         []string                `json:"eventTypes"`
	Deliveries         []alertDeliveryResponse `json:"deliveries"`
	LastStatusCode     *int                    `json:"lastStatusCode"`
	LastError          *string                 `json:"lastError"`
	SendAttempts       int                     `json:"sendAttempts"`
	LastSendAttemptAt  *string                 `json:"lastSendAttemptAt"`
	LastSendError      *string                 `json:"lastSendError"`
	NextSendAt         *string                 `json:"nextSendAt"`
	SentAt             *string                 `json:"sentAt"`
	Recipients         []string                `json:"recipients"`
	CreatedAt          string                  `json:"createdAt"`
	UpdatedAt          string                  `json:"updatedAt"`
}

type alertDeliveryResponse struct {
	ID             string  `json:"id"`
	EventID        string  `json:"eventId"`
	EventType      string  `json:"eventType"`
	AttemptCount   int     `json:"attemptCount"`
	LastStatusCode *int    `json:"lastStatusCode"`
	LastError      *string `json:"lastError"`
	ErrorMessage   *string `json:"errorMessage"`
	FirstAttemptAt string  `json:"firstAttemptAt"`
	FailedAt       string  `json:"failedAt"`
}

type emailStatusResponse struct {
	Enabled bool    `json:"enabled"`
	Reason  *string `json:"reason"`
}

type alertListResponse struct {
	Data        []alertResponse     `json:"data"`
	NextCursor  *string             `json:"nextCursor"`
	UnsentCount int                 `json:"unsentCount"`
	Email       emailStatusResponse `json:"email"`
}

func newAlertResponse(a db.Alert) alertResponse {
	out := alertResponse{
		ID: a.ID, Kind: string(a.Kind), Reason: optional(a.Reason), Status: string(a.State), WebhookID: a.WebhookID, WebhookURL: a.WebhookURL,
		WebhookDescription: a.WebhookDescription, FailingSince: db.FormatTime(a.FailingSince),
		WindowEndsAt: db.FormatTime(a.WindowEndsAt), DeliveryCount: a.DeliveryCount, EventTypes: a.EventTypes,
		Deliveries:     make([]alertDeliveryResponse, 0, len(a.Failures)),
		LastStatusCode: optionalInt(a.Last.StatusCode), LastError: optional(a.Last.Error),
		SendAttempts: a.Attempts, LastSendAttemptAt: optionalTime(a.LastAttemptAt), LastSendError: optional(a.LastError),
		SentAt: optionalTime(a.SentAt), Recipients: a.Recipients,
		CreatedAt: db.FormatTime(a.CreatedAt), UpdatedAt: db.FormatTime(a.UpdatedAt),
	}
	if a.State != db.AlertSent {
		out.NextSendAt = optionalTime(a.NextAttemptAt)
	}
	if out.EventTypes == nil {
		out.EventTypes = []string{}
	}
	if out.Recipients == nil {
		out.Recipients = []string{}
	}
	for _, f := range a.Failures {
		out.Deliveries = append(out.Deliveries, alertDeliveryResponse{
			ID: f.DeliveryID, EventID: f.EventID, EventType: f.EventType, AttemptCount: f.Attempts,
			LastStatusCode: optionalInt(f.StatusCode), LastError: optional(f.Error), ErrorMessage: optional(f.ErrorMessage),
			FirstAttemptAt: db.FormatTime(f.FirstAttemptAt), FailedAt: db.FormatTime(f.FailedAt),
		})
	}
	return out
}

// listAlerts lists failure alerts newest first, with how many are unsent and whether email
// is on, so that a dashboard can warn about both.
func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := db.AlertFilter{Limit: defaultPageSize, Cursor: q.Get("cursor")}
	if v := q.Get("status"); v != "" {
		if !db.AlertState(v).Valid() {
			s.fail(w, r, invalidValue("status", "must be one of pending, sent, failed_to_send"))
			return
		}
		f.State = db.AlertState(v)
	}
	if err := pageLimit(q, &f.Limit); err != nil {
		s.fail(w, r, err)
		return
	}
	alerts, next, err := s.DB.ListAlerts(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	unsent, err := s.DB.CountUnsentAlerts(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp := alertListResponse{Data: make([]alertResponse, 0, len(alerts)), NextCursor: optional(next), UnsentCount: unsent}
	for _, a := range alerts {
		resp.Data = append(resp.Data, newAlertResponse(a))
	}
	if s.AlertEmail == nil {
		resp.Email.Reason = optional("alert email is not set up in this server")
	} else {
		on, why := s.AlertEmail.EmailStatus(r.Context())
		resp.Email = emailStatusResponse{Enabled: on, Reason: optional(why)}
	}
	writeJSON(w, http.StatusOK, resp)
}

type testEmailRequest struct {
	To string `json:"to"`
}

type testEmailResponse struct {
	Sent bool     `json:"sent"`
	To   []string `json:"to"`
}

// sendTestEmail sends a test email through the alert SMTP settings, to the given address
// or to the alert recipients, and answers with the outcome: 200 when the SMTP server took
// it, 502 with its error when not, 409 when email is off.
func (s *Server) sendTestEmail(w http.ResponseWriter, r *http.Request) {
	var req testEmailRequest
	if err := s.decodeOptional(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.To != "" {
		if _, err := mail.ParseAddress(req.To); err != nil {
			s.fail(w, r, invalidValue("to", "must be an email address"))
			return
		}
	}
	if s.AlertEmail == nil {
		writeError(w, &apiError{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Message: "alert email is not set up in this server"})
		return
	}
	to, err := s.AlertEmail.SendTestEmail(r.Context(), req.To)
	s.audit(r, db.AuditTestEmail, db.AuditTarget{Kind: db.TargetEmail}, testEmailSummary(to, req.To, err))
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		writeError(w, &apiError{Status: http.StatusConflict, Code: codeEmailOff, Message: err.Error()})
	case err != nil:
		writeError(w, &apiError{Status: http.StatusBadGateway, Code: codeEmailFailed, Message: err.Error()})
	default:
		writeJSON(w, http.StatusOK, testEmailResponse{Sent: true, To: to})
	}
}

// testEmailSummary says where a test email went and what became of it.
func testEmailSummary(to []string, asked string, err error) string {
	if len(to) == 0 && asked != "" {
		to = []string{asked}
	}
	out := "to " + strings.Join(to, ", ")
	if len(to) == 0 {
		out = "to the alert recipients"
	}
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		return out + ": not sent, email is off"
	case err != nil:
		return out + ": not sent: " + err.Error()
	}
	return out + ": sent"
}
