package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

type recoverRequest struct {
	Since     *string `json:"since"`
	Until     *string `json:"until"`
	WebhookID *string `json:"webhookId"`
	EventType *string `json:"eventType"`
}

// recoverFilter checks a recover request: since is required, until (when given) after it,
// both RFC 3339; a webhook given must exist.
func (s *Server) recoverFilter(r *http.Request, q recoverRequest) (db.RecoverFilter, error) {
	var f db.RecoverFilter
	if q.Since == nil {
		return f, invalidValue("since", "is required: the start of the range, as an RFC 3339 time")
	}
	var err error
	if f.Since, err = time.Parse(time.RFC3339Nano, *q.Since); err != nil {
		return f, invalidValue("since", "must be an RFC 3339 time such as 2026-11-28T02:00:00Z")
	}
	if q.Until != nil {
		if f.Until, err = time.Parse(time.RFC3339Nano, *q.Until); err != nil {
			return f, invalidValue("until", "must be an RFC 3339 time such as 2026-11-28T03:10:00Z")
		}
		if !f.Until.After(f.Since) {
			return f, invalidValue("until", "must be after since")
		}
	}
	if q.EventType != nil {
		if len(*q.EventType) == 0 || len(*q.EventType) > db.MaxEventTypeLen {
			return f, invalidValue("eventType", fmt.Sprintf("must be 1 to %d characters", db.MaxEventTypeLen))
		}
		f.EventType = *q.EventType
	}
	if q.WebhookID != nil {
		if _, err := s.DB.FindWebhook(r.Context(), *q.WebhookID); errors.Is(err, db.ErrNotFound) {
			return f, invalidValue("webhookId", fmt.Sprintf("webhook %q not found", *q.WebhookID))
		} else if err != nil {
			return f, err
		}
		f.WebhookID = *q.WebhookID
	}
	return f, nil
}

func recoverSummary(f db.RecoverFilter, n int) string {
	out := fmt.Sprintf("%s retried, created from %s", countNoun(n, "failed delivery", "failed deliveries"), db.FormatTime(f.Since))
	if !f.Until.IsZero() {
		out += " until " + db.FormatTime(f.Until)
	}
	if f.EventType != "" {
		out += ", event type " + f.EventType
	}
	return out
}

func recoverTarget(f db.RecoverFilter) db.AuditTarget {
	if f.WebhookID != "" {
		return webhookTarget(f.WebhookID)
	}
	return db.AuditTarget{}
}

// recoverDeliveries is POST /api/v1/deliveries/recover.
func (s *Server) recoverDeliveries(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(w, r, s.maxAdminBodyBytes())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var q recoverRequest
	if err := decodeStrict(b, &q); err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := s.recoverFilter(r, q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	n, err := s.recover(r, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, retryFailedResponse{Retried: n})
}

// recover runs and audits a recover for the API and the UI.
func (s *Server) recover(r *http.Request, f db.RecoverFilter) (int, error) {
	n, err := s.DB.RecoverFailed(r.Context(), f)
	if n > 0 || err == nil {
		// What was recovered stays recovered, even when a later batch failed.
		s.audit(r, db.AuditDeliveryRecover, recoverTarget(f), recoverSummary(f, n))
	}
	return n, err
}
