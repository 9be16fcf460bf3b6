package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/views"
	"github.com/hookrelay/hookrelay/webhook"
)

// recentDeliveries is how many deliveries the webhook page lists before linking the full list.
const recentDeliveries = 10

// webhookFormInput reads the create/edit form as typed.
func webhookFormInput(r *http.Request) views.WebhookForm {
	return views.WebhookForm{
		URL:         strings.TrimSpace(r.PostFormValue("url")),
		EventTypes:  r.PostFormValue("event_types"),
		Description: strings.TrimSpace(r.PostFormValue("description")),
		Enabled:     r.PostFormValue("enabled") == "true",
	}
}

// splitPatterns reads event type patterns one per line or separated by commas.
func splitPatterns(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// validateWebhookForm applies the API's rules, limits and destination guard to the form and
// returns a message per invalid field, keyed by form field name.
func (s *Server) validateWebhookForm(ctx context.Context, f views.WebhookForm) (patterns []string, errs map[string]string) {
	errs = map[string]string{}
	label := map[string]string{"url": "The endpoint URL", "eventTypes": "Event types", "description": "The description"}
	field := map[string]string{"url": "url", "eventTypes": "event_types", "description": "description"}
	add := func(err error) {
		if ae, ok := errors.AsType[*apiError](err); ok {
			errs[field[ae.Field]] = label[ae.Field] + " " + ae.Message + "."
		}
	}
	lim := s.limits()
	if err := validateURL(f.URL, lim.urlLength); err != nil {
		add(err)
	} else {
		add(s.checkURL(ctx, f.URL))
	}
	patterns = splitPatterns(f.EventTypes)
	add(validatePatterns(patterns, lim.eventTypes))
	add(validateDescription(f.Description, lim.descriptionLength))
	return patterns, errs
}

func (s *Server) webhooksPage(w http.ResponseWriter, r *http.Request) {
	whs, err := s.DB.ListWebhooks(r.Context())
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	stats, err := s.DB.ListWebhookStats(r.Context(), s.now().Add(-24*time.Hour))
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	rows := make([]views.WebhookRow, len(whs))
	for i, wh := range whs {
		rows[i] = views.WebhookRow{Webhook: wh, Stats: stats[wh.ID]}
	}
	s.page(w, r, http.StatusOK, views.Page{Title: "Webhooks", Nav: "webhooks"}, views.WebhookList(rows, s.now()))
}

func (s *Server) newWebhookPage(w http.ResponseWriter, r *http.Request) {
	s.page(w, r, http.StatusOK, views.Page{Title: "New webhook", Nav: "webhooks"},
		views.WebhookFormPage(views.WebhookForm{EventTypes: "*", Enabled: true}))
}

func (s *Server) createWebhookForm(w http.ResponseWriter, r *http.Request) {
	f := webhookFormInput(r)
	patterns, errs := s.validateWebhookForm(r.Context(), f)
	if len(errs) > 0 {
		f.Errors = errs
		s.page(w, r, http.StatusUnprocessableEntity, views.Page{Title: "New webhook", Nav: "webhooks"}, views.WebhookFormPage(f))
		return
	}
	wh, err := s.DB.CreateWebhook(r.Context(), db.NewWebhook{
		URL: f.URL, Description: f.Description, EventTypes: patterns, Secret: webhook.NewSecret(), Enabled: f.Enabled,
	})
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.audit(r, db.AuditWebhookCreate, webhookTarget(wh.ID), webhookSummary(wh))
	s.flash(w, r, "Webhook created. Reveal its signing secret below to set up the receiver.")
	redirect(w, r, "/webhooks/"+wh.ID)
}

// findWebhook loads the webhook named by the path, answering 404 itself.
func (s *Server) findWebhook(w http.ResponseWriter, r *http.Request) (db.Webhook, bool) {
	wh, err := s.DB.FindWebhook(r.Context(), r.PathValue("id"))
	if err != nil {
		s.uiFail(w, r, err)
		return db.Webhook{}, false
	}
	return wh, true
}

func (s *Server) webhookPage(w http.ResponseWriter, r *http.Request) {
	wh, ok := s.findWebhook(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	stats, err := s.DB.ListWebhookStats(ctx, s.now().Add(-24*time.Hour))
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	failed, err := s.DB.CountFailed(ctx, wh.ID)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	recent, _, err := s.DB.ListDeliveries(ctx, db.DeliveryFilter{WebhookID: wh.ID, Limit: recentDeliveries})
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	secrets, err := s.DB.FindWebhookSecrets(ctx, wh.ID)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	// The page without JavaScript reveals the secret with ?reveal=1: as the reveal route,
	// that needs an admin, and is recorded first.
	reveal := r.URL.Query().Get("reveal") == "1"
	if reveal {
		if p, _ := principalOf(ctx); !p.Role.Allows(db.RoleAdmin) {
			s.forbidden(w, r, p, db.RoleAdmin)
			return
		}
		if err := s.auditRead(r, db.AuditSecretReveal, webhookTarget(wh.ID), "revealed in the UI"); err != nil {
			s.uiFail(w, r, err)
			return
		}
	}
	chart, err := s.attemptsChart(r, wh.ID, "chart-attempts", "Attempts to this webhook per hour, last 24 hours")
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, views.Page{Title: "Webhook " + wh.URL, Nav: "webhooks"}, views.WebhookPage(views.WebhookData{
		Webhook: wh, Stats: stats[wh.ID], FailedCount: failed, Recent: recent, OldSecrets: secrets.Old,
		RevealSecret: reveal, Chart: chart, Now: s.now(),
	}))
}

// webhookSecret answers the "Reveal secret" click with the secret in place.
func (s *Server) webhookSecret(w http.ResponseWriter, r *http.Request) {
	wh, ok := s.findWebhook(w, r)
	if !ok {
		return
	}
	if !isHTMX(r) {
		http.Redirect(w, r, "/webhooks/"+wh.ID+"?reveal=1", http.StatusSeeOther)
		return
	}
	if err := s.auditRead(r, db.AuditSecretReveal, webhookTarget(wh.ID), "revealed in the UI"); err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.fragment(w, r, http.StatusOK, views.Secret(wh, true))
}

func (s *Server) editWebhookPage(w http.ResponseWriter, r *http.Request) {
	wh, ok := s.findWebhook(w, r)
	if !ok {
		return
	}
	s.page(w, r, http.StatusOK, views.Page{Title: "Edit webhook", Nav: "webhooks"}, views.WebhookFormPage(views.WebhookForm{
		ID: wh.ID, URL: wh.URL, EventTypes: strings.Join(wh.EventTypes, "\n"), Description: wh.Description, Enabled: wh.Enabled,
	}))
}

func (s *Server) updateWebhookForm(w http.ResponseWriter, r *http.Request) {
	wh, ok := s.findWebhook(w, r)
	if !ok {
		return
	}
	f := webhookFormInput(r)
	f.ID = wh.ID
	patterns, errs := s.validateWebhookForm(r.Context(), f)
	if len(errs) > 0 {
		f.Errors = errs
		s.page(w, r, http.StatusUnprocessableEntity, views.Page{Title: "Edit webhook", Nav: "webhooks"}, views.WebhookFormPage(f))
		return
	}
	after, err := s.DB.UpdateWebhook(r.Context(), wh.ID, db.WebhookUpdate{
		URL: &f.URL, Description: &f.Description, EventTypes: patterns, Enabled: &f.Enabled,
	})
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.auditWebhookEdit(r, wh, after)
	s.flash(w, r, "Webhook saved.")
	redirect(w, r, "/webhooks/"+wh.ID)
}

func (s *Server) setWebhookEnabled(w http.ResponseWriter, r *http.Request) {
	wh, ok := s.findWebhook(w, r)
	if !ok {
		return
	}
	var on bool
	switch r.PostFormValue("enabled") {
	case "true":
		on = true
	case "false":
	default:
		s.uiFail(w, r, &uiError{http.StatusBadRequest, "Bad request", "enabled must be true or false."})
		return
	}
	after, err := s.DB.UpdateWebhook(r.Context(), wh.ID, db.WebhookUpdate{Enabled: &on})
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.auditEnabled(r, wh, after)
	if on {
		s.flash(w, r, "Webhook enabled. Deliveries that were waiting are sent now.")
	} else {
		s.flash(w, r, "Webhook disabled. New events are not delivered to it until it is enabled again.")
	}
	redirect(w, r, "/webhooks/"+wh.ID)
}

// sendTestEvent creates a hookrelay.test event delivered to this webhook only. htmx gets
// a result box that follows the delivery until it is final.
func (s *Server) sendTestEvent(w http.ResponseWriter, r *http.Request) {
	wh, ok := s.findWebhook(w, r)
	if !ok {
		return
	}
	d, err := s.DB.CreateTestEvent(r.Context(), wh.ID)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.audit(r, db.AuditWebhookTest, webhookTarget(wh.ID), "test event "+d.EventID+"; delivery "+d.ID)
	if !isHTMX(r) {
		s.flash(w, r, "Test event sent.")
		http.Redirect(w, r, "/deliveries/"+d.ID, http.StatusSeeOther)
		return
	}
	s.fragment(w, r, http.StatusOK, views.TestResult(d, nil))
}

func (s *Server) testResult(w http.ResponseWriter, r *http.Request) {
	d, err := s.DB.FindDelivery(r.Context(), r.PathValue("id"))
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	attempts, err := s.DB.ListAttempts(r.Context(), d.ID)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	var last *db.Attempt
	if len(attempts) > 0 {
		last = &attempts[len(attempts)-1]
	}
	s.fragment(w, r, http.StatusOK, views.TestResult(d, last))
}

func (s *Server) confirmDeleteWebhook(w http.ResponseWriter, r *http.Request) {
	wh, ok := s.findWebhook(w, r)
	if !ok {
		return
	}
	s.page(w, r, http.StatusOK, views.Page{Title: "Delete webhook", Nav: "webhooks"}, views.Confirm(views.ConfirmData{
		Title:   "Delete this webhook?",
		Message: fmt.Sprintf("%s will get no more events, and its deliveries and their attempts are deleted with it. This cannot be undone.", wh.URL),
		Action:  "/webhooks/" + wh.ID + "/delete", Button: "Delete webhook", Cancel: "/webhooks/" + wh.ID, Danger: true,
	}))
}

func (s *Server) deleteWebhookForm(w http.ResponseWriter, r *http.Request) {
	wh, ok := s.findWebhook(w, r)
	if !ok {
		return
	}
	if err := s.DB.DeleteWebhook(r.Context(), wh.ID); err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.audit(r, db.AuditWebhookDelete, webhookTarget(wh.ID), webhookSummary(wh))
	s.flash(w, r, "Webhook deleted.")
	redirect(w, r, "/webhooks")
}

func (s *Server) confirmRetryFailed(w http.ResponseWriter, r *http.Request) {
	wh, ok := s.findWebhook(w, r)
	if !ok {
		return
	}
	n, err := s.DB.CountFailed(r.Context(), wh.ID)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, views.Page{Title: "Retry failed deliveries", Nav: "webhooks"}, views.Confirm(views.ConfirmData{
		Title:   "Retry all failed deliveries?",
		Message: fmt.Sprintf("%s of %s will each get one immediate attempt.", countNoun(n, "failed delivery", "failed deliveries"), wh.URL),
		Action:  "/webhooks/" + wh.ID + "/retry-failed", Button: "Retry all failed", Cancel: "/webhooks/" + wh.ID,
	}))
}

func (s *Server) retryFailedForm(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	n, err := s.DB.RetryFailed(r.Context(), id)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.audit(r, db.AuditWebhookRetryFailed, webhookTarget(id), retriedSummary(n))
	s.flash(w, r, fmt.Sprintf("Retried %s.", countNoun(n, "failed delivery", "failed deliveries")))
	redirect(w, r, "/webhooks/"+id)
}

func countNoun(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
