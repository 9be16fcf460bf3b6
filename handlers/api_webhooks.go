package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"unicode/utf8"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/webhook"
)

// webhookResponse is a webhook as the API shows it. Secret is set only in the answer to a
// create; otherwise it is read through its own route so that lists never carry it.
type webhookResponse struct {
	ID          string   `json:"id"`
	URL         string   `json:"url"`
	EventTypes  []string `json:"eventTypes"`
	Description string   `json:"description"`
	Enabled     bool     `json:"enabled"`
	// DisabledReason says why hookrelay disabled the webhook (null when enabled, or disabled
	// by hand); DisabledAt when it was disabled. Enabling clears both.
	DisabledReason *string `json:"disabledReason"`
	DisabledAt     *string `json:"disabledAt"`
	CreatedAt      string  `json:"createdAt"`
	UpdatedAt      string  `json:"updatedAt"`
	Secret         string  `json:"secret,omitempty"`
}

func newWebhookResponse(w db.Webhook) webhookResponse {
	types := w.EventTypes
	if types == nil {
		types = []string{}
	}
	return webhookResponse{
		ID: w.ID, URL: w.URL, EventTypes: types, Description: w.Description, Enabled: w.Enabled,
		DisabledReason: optional(w.DisabledReason), DisabledAt: optionalTime(w.DisabledAt),
		CreatedAt: db.FormatTime(w.CreatedAt), UpdatedAt: db.FormatTime(w.UpdatedAt),
	}
}

type webhookListResponse struct {
	Data []webhookResponse `json:"data"`
}

// webhookCreateRequest is the body of POST /api/v1/webhooks.
type webhookCreateRequest struct {
	URL         *string  `json:"url"`
	EventTypes  []string `json:"eventTypes"`
	Description *string  `json:"description"`
	Secret      *string  `json:"secret"`
	Enabled     *bool    `json:"enabled"`
}

func (c webhookCreateRequest) validate(lim limits) (db.NewWebhook, error) {
	n := db.NewWebhook{Enabled: true}
	if c.URL == nil {
		return n, invalidValue("url", "is required")
	}
	if err := validateURL(*c.URL, lim.urlLength); err != nil {
		return n, err
	}
	n.URL = *c.URL
	if c.EventTypes == nil {
		return n, invalidValue("eventTypes", "is required")
	}
	if err := validatePatterns(c.EventTypes, lim.eventTypes); err != nil {
		return n, err
	}
	n.EventTypes = c.EventTypes
	if c.Description != nil {
		if err := validateDescription(*c.Description, lim.descriptionLength); err != nil {
			return n, err
		}
		n.Description = *c.Description
	}
	if c.Secret != nil {
		if _, err := webhook.ParseSecret(*c.Secret); err != nil {
			return n, invalidValue("secret", err.Error())
		}
		n.Secret = *c.Secret
	} else {
		n.Secret = webhook.NewSecret()
	}
	if c.Enabled != nil {
		n.Enabled = *c.Enabled
	}
	return n, nil
}

// webhookPatchRequest is the body of PATCH /api/v1/webhooks/{id}. Absent (or null) fields
// stay as they are. Secret is declared only to refuse it with a clear message: secrets
// change by rotation, which keeps the old one signing for a grace period.
type webhookPatchRequest struct {
	URL         *string         `json:"url"`
	EventTypes  *[]string       `json:"eventTypes"`
	Description *string         `json:"description"`
	Enabled     *bool           `json:"enabled"`
	Secret      json.RawMessage `json:"secret"`
}

func (p webhookPatchRequest) validate(lim limits) (db.WebhookUpdate, error) {
	var u db.WebhookUpdate
	if p.Secret != nil {
		return u, invalidValue("secret", "cannot be changed here; rotate it with POST /api/v1/webhooks/{id}/secret/rotate")
	}
	if p.URL != nil {
		if err := validateURL(*p.URL, lim.urlLength); err != nil {
			return u, err
		}
		u.URL = p.URL
	}
	if p.EventTypes != nil {
		if err := validatePatterns(*p.EventTypes, lim.eventTypes); err != nil {
			return u, err
		}
		u.EventTypes = *p.EventTypes
	}
	if p.Description != nil {
		if err := validateDescription(*p.Description, lim.descriptionLength); err != nil {
			return u, err
		}
		u.Description = p.Description
	}
	u.Enabled = p.Enabled
	return u, nil
}

// validateURL accepts absolute http and https URLs with a host, at most most bytes long.
func validateURL(raw string, most int) error {
	if raw == "" {
		return invalidValue("url", "is required")
	}
	if len(raw) > most {
		return invalidValue("url", fmt.Sprintf("must be at most %d characters", most))
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return invalidValue("url", "must be an absolute http or https URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return invalidValue("url", "must use the http or https scheme")
	}
	if u.Hostname() == "" {
		return invalidValue("url", "must include a host")
	}
	return nil
}

func validatePatterns(ps []string, most int) error {
	if len(ps) == 0 {
		return invalidValue("eventTypes", "must list at least one event type pattern")
	}
	if len(ps) > most {
		return invalidValue("eventTypes", fmt.Sprintf("must list at most %d patterns", most))
	}
	for i, p := range ps {
		if err := db.ValidatePattern(p); err != nil {
			return invalidValue("eventTypes", fmt.Sprintf("pattern %d (%q): %s", i, p, err))
		}
	}
	return nil
}

func validateDescription(d string, most int) error {
	if utf8.RuneCountInString(d) > most {
		return invalidValue("description", fmt.Sprintf("must be at most %d characters", most))
	}
	return nil
}

// checkURL runs the destination guard, when one is set, on a URL validateURL accepted.
func (s *Server) checkURL(ctx context.Context, raw string) error {
	if s.CheckURL == nil {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return invalidValue("url", "must be an absolute http or https URL")
	}
	if err := s.CheckURL(ctx, u); err != nil {
		return invalidValue("url", err.Error())
	}
	return nil
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, s.maxAdminBodyBytes())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req webhookCreateRequest
	if err := decodeStrict(body, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	n, err := req.validate(s.limits())
	if err == nil {
		err = s.checkURL(r.Context(), n.URL)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	wh, err := s.DB.CreateWebhook(r.Context(), n)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.audit(r, db.AuditWebhookCreate, webhookTarget(wh.ID), webhookSummary(wh))
	resp := newWebhookResponse(wh)
	resp.Secret = wh.Secret
	w.Header().Set("Location", "/api/v1/webhooks/"+wh.ID)
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	whs, err := s.DB.ListWebhooks(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp := webhookListResponse{Data: make([]webhookResponse, 0, len(whs))}
	for _, wh := range whs {
		resp.Data = append(resp.Data, newWebhookResponse(wh))
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	wh, err := s.DB.FindWebhook(r.Context(), id)
	if err != nil {
		s.fail(w, r, notFoundAs(err, "webhook", id))
		return
	}
	writeJSON(w, http.StatusOK, newWebhookResponse(wh))
}

func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	body, err := readBody(w, r, s.maxAdminBodyBytes())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req webhookPatchRequest
	if err := decodeStrict(body, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	// Operators enable and disable webhooks; changing what a webhook is needs an admin.
	if p, _ := principalOf(r.Context()); !p.Role.Allows(db.RoleAdmin) &&
		(req.URL != nil || req.EventTypes != nil || req.Description != nil || req.Secret != nil) {
		writeError(w, &apiError{Status: http.StatusForbidden, Code: codeForbidden,
			Message: p.what() + " allows changing only enabled: url, eventTypes and description need the admin role"})
		return
	}
	before, err := s.DB.FindWebhook(r.Context(), id)
	if err != nil {
		s.fail(w, r, notFoundAs(err, "webhook", id))
		return
	}
	u, err := req.validate(s.limits())
	if err == nil && u.URL != nil {
		err = s.checkURL(r.Context(), *u.URL)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	wh, err := s.DB.UpdateWebhook(r.Context(), id, u)
	if err != nil {
		s.fail(w, r, notFoundAs(err, "webhook", id))
		return
	}
	s.auditWebhookEdit(r, before, wh)
	writeJSON(w, http.StatusOK, newWebhookResponse(wh))
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	wh, err := s.DB.FindWebhook(r.Context(), id)
	if err == nil {
		err = s.DB.DeleteWebhook(r.Context(), id)
	}
	if err != nil {
		s.fail(w, r, notFoundAs(err, "webhook", id))
		return
	}
	s.audit(r, db.AuditWebhookDelete, webhookTarget(id), webhookSummary(wh))
	w.WriteHeader(http.StatusNoContent)
}

type retryFailedResponse struct {
	Retried int `json:"retried"`
}

// retryFailed schedules a manual attempt of every failed delivery of the webhook.
func (s *Server) retryFailed(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	n, err := s.DB.RetryFailed(r.Context(), id)
	if err != nil {
		s.fail(w, r, notFoundAs(err, "webhook", id))
		return
	}
	s.audit(r, db.AuditWebhookRetryFailed, webhookTarget(id), retriedSummary(n))
	writeJSON(w, http.StatusAccepted, retryFailedResponse{Retried: n})
}

func retriedSummary(n int) string {
	return countNoun(n, "failed delivery", "failed deliveries") + " retried"
}
