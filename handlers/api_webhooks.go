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
	// Headers maps each custom header's name to null: the values are credentials, read
	// with GET /api/v1/webhooks/{id}/headers (admin, audited). Sending a name with null back
	// in a PATCH keeps its value, so a read-modify-write does not lose them.
	Headers map[string]*string `json:"headers"`
	// RateLimit is the most attempts per second, null for no limit.
	RateLimit *int   `json:"rateLimit"`
	CreatedAt string `json:"createdAt"`
	UpdatedAt string `json:"updatedAt"`
	Secret    string `json:"secret,omitempty"`
}

func newWebhookResponse(w db.Webhook) webhookResponse {
	types := w.EventTypes
	if types == nil {
		types = []string{}
	}
	return webhookResponse{
		ID: w.ID, URL: w.URL, EventTypes: types, Description: w.Description, Enabled: w.Enabled,
		DisabledReason: optional(w.DisabledReason), DisabledAt: optionalTime(w.DisabledAt),
		Headers: maskedHeaders(w.Headers), RateLimit: optionalInt(w.RateLimit),
		CreatedAt: db.FormatTime(w.CreatedAt), UpdatedAt: db.FormatTime(w.UpdatedAt),
	}
}

// maskedHeaders is a webhook's custom headers as the API shows them: names, no values.
func maskedHeaders(h map[string]string) map[string]*string {
	out := make(map[string]*string, len(h))
	for name := range h {
		out[name] = nil
	}
	return out
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
	// Headers are custom headers sent with every attempt, name → value (see
	// db.ValidateHeaders).
	Headers   map[string]*string `json:"headers"`
	RateLimit *int               `json:"rateLimit"`
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
	var err error
	if n.Headers, err = resolveHeaders(c.Headers, nil, lim); err != nil {
		return n, err
	}
	if c.RateLimit != nil {
		if err := validateRateLimit(*c.RateLimit); err != nil {
			return n, err
		}
		n.RateLimit = *c.RateLimit
	}
	return n, nil
}

// resolveHeaders turns the headers of a request into the set to store: a name mapped to
// null keeps its value in stored (the webhook's headers before the change), and the result
// must pass db.ValidateHeaders.
func resolveHeaders(in map[string]*string, stored map[string]string, lim limits) (map[string]string, error) {
	if in == nil {
		return nil, nil
	}
	out := make(map[string]string, len(in))
	for name, v := range in {
		if v != nil {
			out[name] = *v
			continue
		}
		kept, ok := stored[name]
		if !ok {
			return nil, invalidValue("headers", fmt.Sprintf("header %q: null keeps a stored value, and this webhook has none; send the value", name))
		}
		out[name] = kept
	}
	if err := db.ValidateHeaders(out, lim.customHeaders, lim.customHeaderBytes); err != nil {
		return nil, invalidValue("headers", err.Error())
	}
	return out, nil
}

func validateRateLimit(n int) error {
	if n < 1 || n > db.MaxRateLimit {
		return invalidValue("rateLimit", fmt.Sprintf("must be a whole number of attempts per second from 1 to %d, or null for no limit", db.MaxRateLimit))
	}
	return nil
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
	// Headers replaces the custom headers ({} removes them); a name mapped to null keeps
	// its value.
	Headers *map[string]*string `json:"headers"`
	// RateLimit: absent leaves it; null removes it.
	RateLimit json.RawMessage `json:"rateLimit"`
}

// admin reports whether the patch changes what only an admin may: anything but enabled.
func (p webhookPatchRequest) admin() bool {
	return p.URL != nil || p.EventTypes != nil || p.Description != nil || p.Secret != nil || p.Headers != nil || p.RateLimit != nil
}

// validate checks the patch against the webhook as it is (before).
func (p webhookPatchRequest) validate(lim limits, before db.Webhook) (db.WebhookUpdate, error) {
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
	if p.Headers != nil {
		h, err := resolveHeaders(*p.Headers, before.Headers, lim)
		if err != nil {
			return u, err
		}
		if h == nil {
			h = map[string]string{}
		}
		u.Headers = h
	}
	if p.RateLimit != nil {
		n := 0
		if string(p.RateLimit) != "null" {
			if err := json.Unmarshal(p.RateLimit, &n); err != nil {
				return u, invalidValue("rateLimit", "must be a whole number of attempts per second, or null for no limit")
			}
			if err := validateRateLimit(n); err != nil {
				return u, err
			}
		}
		u.RateLimit = &n
	}
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
	if p, _ := principalOf(r.Context()); !p.Role.Allows(db.RoleAdmin) && req.admin() {
		writeError(w, &apiError{Status: http.StatusForbidden, Code: codeForbidden,
			Message: p.what() + " allows changing only enabled: url, eventTypes, description, headers and rateLimit need the admin role"})
		return
	}
	before, err := s.DB.FindWebhook(r.Context(), id)
	if err != nil {
		s.fail(w, r, notFoundAs(err, "webhook", id))
		return
	}
	u, err := req.validate(s.limits(), before)
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
