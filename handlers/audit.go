package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/hookrelay/hookrelay/db"
)

// The audit log records every change and every read of a secret (db.AuditActions). A
// handler records what it did with one call, after the change has been made:
//
//	s.audit(r, db.AuditDeliveryRetry, deliveryTarget(d.ID), "was failed")
//
// and, for a read of a secret, before it shows anything, refusing the read when the record
// cannot be written (see auditRead). The actor (the session's user, the API key, the static
// token) and the client address come from the request; the summary says what changed in
// words and values that are not secret: never a secret, a key, a password or a header value.
// Work the system does on its own (a webhook disabled after failing too long) is recorded by
// the store in the same transaction, as db.SystemActor.

// audit appends a record of what the request's principal did to target. The change is
// already made, so a record that cannot be written does not fail the request: it is logged
// at Error, for the operator to act on.
func (s *Server) audit(r *http.Request, action db.AuditAction, target db.AuditTarget, summary string) {
	p, _ := principalOf(r.Context())
	s.auditAs(r, p.actor(), action, target, summary)
}

// auditAs is audit with the actor given, for the sign-in page, which has no principal yet.
func (s *Server) auditAs(r *http.Request, actor db.Actor, action db.AuditAction, target db.AuditTarget, summary string) {
	if err := s.appendAudit(r, actor, action, target, summary); err != nil {
		s.logger().LogAttrs(r.Context(), slog.LevelError, "audit record lost",
			slog.String("request_id", requestID(r.Context())), slog.String("action", string(action)),
			slog.String("target_id", target.ID), slog.Any("err", err))
	}
}

// auditRead records a read of a secret before the secret is shown. It returns the store's
// error, and the caller then shows nothing: a secret is never read without its record.
func (s *Server) auditRead(r *http.Request, action db.AuditAction, target db.AuditTarget, summary string) error {
	p, _ := principalOf(r.Context())
	return s.appendAudit(r, p.actor(), action, target, summary)
}

func (s *Server) appendAudit(r *http.Request, actor db.Actor, action db.AuditAction, target db.AuditTarget, summary string) error {
	// A client that hangs up after the change must not take its record with it.
	_, err := s.DB.AppendAudit(context.WithoutCancel(r.Context()), db.NewAuditRecord{
		Actor: actor, Action: action, Target: target, ClientAddress: clientIP(r), Summary: summary,
	})
	if err != nil {
		return fmt.Errorf("append audit record: %w", err)
	}
	return nil
}

// Targets of audit records.
func webhookTarget(id string) db.AuditTarget  { return db.AuditTarget{Kind: db.TargetWebhook, ID: id} }
func deliveryTarget(id string) db.AuditTarget { return db.AuditTarget{Kind: db.TargetDelivery, ID: id} }
func eventTarget(id string) db.AuditTarget    { return db.AuditTarget{Kind: db.TargetEvent, ID: id} }
func userTarget(id string) db.AuditTarget     { return db.AuditTarget{Kind: db.TargetUser, ID: id} }
func apiKeyTarget(id string) db.AuditTarget   { return db.AuditTarget{Kind: db.TargetAPIKey, ID: id} }

// safeURL is a webhook URL as a summary shows it: a password in it is masked.
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}

// webhookSummary describes a webhook for its create and delete records.
func webhookSummary(w db.Webhook) string {
	state := "enabled"
	if !w.Enabled {
		state = "disabled"
	}
	return fmt.Sprintf("url %s; event types %s; %s", safeURL(w.URL), strings.Join(w.EventTypes, ", "), state)
}

// webhookChanges describes what an edit changed, field by field ("" when nothing did).
// Enabling and disabling are recorded as actions of their own (see auditWebhookEdit).
func webhookChanges(before, after db.Webhook) string {
	var parts []string
	if before.URL != after.URL {
		parts = append(parts, fmt.Sprintf("url %s → %s", safeURL(before.URL), safeURL(after.URL)))
	}
	if !slices.Equal(before.EventTypes, after.EventTypes) {
		parts = append(parts, fmt.Sprintf("event types %s → %s", strings.Join(before.EventTypes, ", "), strings.Join(after.EventTypes, ", ")))
	}
	if before.Description != after.Description {
		parts = append(parts, fmt.Sprintf("description %q → %q", before.Description, after.Description))
	}
	if c := headerChanges(before.Headers, after.Headers); c != "" {
		parts = append(parts, c)
	}
	if before.RateLimit != after.RateLimit {
		parts = append(parts, fmt.Sprintf("rate limit %s → %s", rateText(before.RateLimit), rateText(after.RateLimit)))
	}
	return strings.Join(parts, "; ")
}

// headerChanges names the custom headers an edit added, changed and removed; values are
// credentials and never recorded.
func headerChanges(before, after map[string]string) string {
	var added, changed, removed []string
	for _, name := range db.HeaderNames(after) {
		old, ok := before[name]
		switch {
		case !ok:
			added = append(added, name)
		case old != after[name]:
			changed = append(changed, name)
		}
	}
	for _, name := range db.HeaderNames(before) {
		if _, ok := after[name]; !ok {
			removed = append(removed, name)
		}
	}
	var parts []string
	for _, p := range []struct {
		what  string
		names []string
	}{{"added", added}, {"changed", changed}, {"removed", removed}} {
		if len(p.names) > 0 {
			parts = append(parts, p.what+" "+strings.Join(p.names, ", "))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "headers " + strings.Join(parts, ", ")
}

func rateText(n int) string {
	if n == 0 {
		return "none"
	}
	return fmt.Sprintf("%d/s", n)
}

// auditWebhookEdit records an edit of a webhook: webhook.update for its fields, and
// webhook.enable or webhook.disable when that changed too.
func (s *Server) auditWebhookEdit(r *http.Request, before, after db.Webhook) {
	if c := webhookChanges(before, after); c != "" {
		s.audit(r, db.AuditWebhookUpdate, webhookTarget(after.ID), c)
	}
	s.auditEnabled(r, before, after)
}

func (s *Server) auditEnabled(r *http.Request, before, after db.Webhook) {
	switch {
	case !before.Enabled && after.Enabled:
		s.audit(r, db.AuditWebhookEnable, webhookTarget(after.ID), "url "+safeURL(after.URL))
	case before.Enabled && !after.Enabled:
		s.audit(r, db.AuditWebhookDisable, webhookTarget(after.ID), "url "+safeURL(after.URL))
	}
}
