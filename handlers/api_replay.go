package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hookrelay/hookrelay/db"
)

type replayRequest struct {
	// WebhookIDs lists the webhooks to send to, whatever their filter; absent, null or empty:
	// every enabled webhook whose filter matches the event now.
	WebhookIDs []string `json:"webhookIds"`
}

type replayedDelivery struct {
	ID        string `json:"id"`
	WebhookID string `json:"webhookId"`
}

type replayResponse struct {
	Deliveries []replayedDelivery `json:"deliveries"`
}

// checkReplayWebhooks validates a replay's list of webhooks (not that they exist: the store
// says so, all or nothing).
func checkReplayWebhooks(ids []string) error {
	if len(ids) > db.MaxReplayWebhooks {
		return invalidValue("webhookIds", fmt.Sprintf("must list at most %d webhooks", db.MaxReplayWebhooks))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if !strings.HasPrefix(id, "whk_") || len(id) > 64 {
			return invalidValue("webhookIds", fmt.Sprintf("%q is not a webhook id (whk_…)", id))
		}
		if seen[id] {
			return invalidValue("webhookIds", fmt.Sprintf("%q is listed twice", id))
		}
		seen[id] = true
	}
	return nil
}

// replay runs and audits a replay for the API and the UI: an event that does not exist is a
// 404, and a listed webhook that does not is a 400.
func (s *Server) replay(r *http.Request, eventID string, webhookIDs []string) ([]db.Replayed, error) {
	if err := checkReplayWebhooks(webhookIDs); err != nil {
		return nil, err
	}
	got, err := s.DB.ReplayEvent(r.Context(), eventID, webhookIDs)
	if errors.Is(err, db.ErrNotFound) {
		// The event, or a listed webhook: only a refused replay pays for telling which.
		if _, err := s.DB.FindEvent(r.Context(), eventID); err != nil {
			return nil, notFoundAs(err, "event", eventID)
		}
		return nil, invalidValue("webhookIds", "lists a webhook that does not exist: "+strings.Join(webhookIDs, ", "))
	}
	if err != nil {
		return nil, err
	}
	s.audit(r, db.AuditEventReplay, eventTarget(eventID), replaySummary(got, webhookIDs))
	return got, nil
}

func replaySummary(got []db.Replayed, listed []string) string {
	ids := make([]string, len(got))
	for i, d := range got {
		ids[i] = d.WebhookID
	}
	how := "to every matching webhook"
	if len(listed) > 0 {
		how = "to the listed webhooks"
	}
	return fmt.Sprintf("replayed %s: %s", how, countNoun(len(got), "delivery", "deliveries")) +
		strings.TrimSuffix(" ("+strings.Join(ids, ", ")+")", " ()")
}

// replayEvent is POST /api/v1/events/{id}/replay.
func (s *Server) replayEvent(w http.ResponseWriter, r *http.Request) {
	var req replayRequest
	if err := s.decodeOptional(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	got, err := s.replay(r, r.PathValue("id"), req.WebhookIDs)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := replayResponse{Deliveries: make([]replayedDelivery, len(got))}
	for i, d := range got {
		out.Deliveries[i] = replayedDelivery{ID: d.DeliveryID, WebhookID: d.WebhookID}
	}
	writeJSON(w, http.StatusAccepted, out)
}

// decodeOptional decodes a body that may be absent (no length and no content type): v is
// then left as it is.
func (s *Server) decodeOptional(w http.ResponseWriter, r *http.Request, v any) error {
	if r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		return nil
	}
	b, err := readBody(w, r, s.maxAdminBodyBytes())
	if err != nil {
		return err
	}
	return decodeStrict(b, v)
}
