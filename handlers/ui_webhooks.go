package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

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
		Headers:     headerRowsInput(r),
		RateLimit:   strings.TrimSpace(r.PostFormValue("rate_limit")),
	}
}

// maxHeaderRows bounds the rows a posted form may claim to have, whatever the header limit.
const maxHeaderRows = 200

// headerRowsInput reads the custom headers editor's rows as typed.
func headerRowsInput(r *http.Request) []views.HeaderRow {
	n, _ := strconv.Atoi(r.PostFormValue("header_rows"))
	n = min(max(n, 0), maxHeaderRows)
	rows := make([]views.HeaderRow, 0, n)
	for i := range n {
		k := strconv.Itoa(i)
		rows = append(rows, views.HeaderRow{
			Name:   strings.TrimSpace(r.PostFormValue("header_name_" + k)),
			Value:  r.PostFormValue("header_value_" + k),
			Stored: r.PostFormValue("header_stored_" + k),
		})
	}
	return rows
}

// storedHeaderRows are the editor's rows for a webhook's headers, values left out, and a
// blank row to add one.
func storedHeaderRows(h map[string]string) []views.HeaderRow {
	var rows []views.HeaderRow
	for _, name := range db.HeaderNames(h) {
		rows = append(rows, views.HeaderRow{Name: name, Stored: name})
	}
	return append(rows, views.HeaderRow{})
}

// formHeaders turns the editor's rows into the headers to store: a row without a name is
// dropped, a stored row left without a value keeps the value stored (under its new name, if
// it was renamed), and the result follows the API's rules.
func formHeaders(rows []views.HeaderRow, stored map[string]string, lim limits) (map[string]string, error) {
	out := map[string]string{}
	for _, row := range rows {
		if row.Name == "" {
			continue
		}
		if _, dup := out[row.Name]; dup {
			return nil, fmt.Errorf("header %q is listed twice", row.Name)
		}
		v := row.Value
		if kept, ok := stored[row.Stored]; ok && v == "" {
			v = kept
		}
		out[row.Name] = v
	}
	if err := db.ValidateHeaders(out, lim.customHeaders, lim.customHeaderBytes); err != nil {
		return nil, err
	}
	return out, nil
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
func (s *Server) validateWebhookForm(ctx context.Context, f views.WebhookForm, stored map[string]string) (v validWebhookForm, errs map[string]string) {
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
	v.patterns = splitPatterns(f.EventTypes)
	add(validatePatterns(v.patterns, lim.eventTypes))
	add(validateDescription(f.Description, lim.descriptionLength))
	var err error
	if v.headers, err = formHeaders(f.Headers, stored, lim); err != nil {
		errs["headers"] = "Custom headers: " + err.Error() + "."
	}
	if f.RateLimit != "" {
		n, err := strconv.Atoi(f.RateLimit)
		if err != nil || validateRateLimit(n) != nil {
			errs["rate_limit"] = fmt.Sprintf("The rate limit must be a whole number of attempts per second from 1 to %d, or empty for no limit.", db.MaxRateLimit)
		}
		v.rateLimit = n
	}
	return v, errs
}

// validWebhookForm is what a valid webhook form holds, parsed.
type validWebhookForm struct {
	patterns  []string
	headers   map[string]string
	rateLimit int
}

// addHeaderRow answers "Add another header": the form as typed, with one more blank row.
func (s *Server) addHeaderRow(w http.ResponseWriter, r *http.Request, f views.WebhookForm, title string) bool {
	if r.PostFormValue("add_header") == "" {
		return false
	}
	f.Headers = append(f.Headers, views.HeaderRow{})
	s.page(w, r, http.StatusOK, views.Page{Title: title, Nav: "webhooks"}, views.WebhookFormPage(f))
	return true
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
		views.WebhookFormPage(views.WebhookForm{EventTypes: "*", Enabled: true, Headers: storedHeaderRows(nil)}))
}

func (s *Server) createWebhookForm(w http.ResponseWriter, r *http.Request) {
	f := webhookFormInput(r)
	if s.addHeaderRow(w, r, f, "New webhook") {
		return
	}
	v, errs := s.validateWebhookForm(r.Context(), f, nil)
	if len(errs) > 0 {
		f.Errors = errs
		s.page(w, r, http.StatusUnprocessableEntity, views.Page{Title: "New webhook", Nav: "webhooks"}, views.WebhookFormPage(f))
		return
	}
	wh, err := s.DB.CreateWebhook(r.Context(), db.NewWebhook{
		URL: f.URL, Description: f.Description, EventTypes: v.patterns, Secret: webhook.NewSecret(), Enabled: f.Enabled,
		Headers: v.headers, RateLimit: v.rateLimit,
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
	reveal, ok := s.revealOnPage(w, r, wh, secretReveal)
	if !ok {
		return
	}
	revealHeaders, ok := s.revealOnPage(w, r, wh, headersReveal)
	if !ok {
		return
	}
	chart, err := s.attemptsChart(r, wh.ID, "chart-attempts", "Attempts to this webhook per hour, last 24 hours")
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, views.Page{Title: "Webhook " + wh.URL, Nav: "webhooks"}, views.WebhookPage(views.WebhookData{
		Webhook: wh, Stats: stats[wh.ID], FailedCount: failed, Recent: recent, OldSecrets: secrets.Old,
		RevealSecret: reveal, RevealHeaders: revealHeaders, Chart: chart, Now: s.now(),
	}))
}

// uiReveal is a part of the webhook page that only admins see, and only when they ask:
// the query parameter that shows it on the page (without JavaScript), what the audit log
// records, and the fragment the htmx route answers with.
type uiReveal struct {
	param    string
	action   db.AuditAction
	summary  func(db.Webhook) string
	fragment func(db.Webhook) templ.Component
}

var (
	secretReveal = uiReveal{"reveal", db.AuditSecretReveal,
		func(db.Webhook) string { return "revealed in the UI" },
		func(wh db.Webhook) templ.Component { return views.Secret(wh, true) }}
	headersReveal = uiReveal{"reveal_headers", db.AuditHeadersReveal,
		func(wh db.Webhook) string { return headersRevealSummary(wh.Headers, "in the UI") },
		func(wh db.Webhook) templ.Component { return views.Headers(wh, true) }}
)

// revealOnPage reports whether the page was asked (?param=1) to show v. That needs an admin,
// and is recorded before anything is shown; ok is false when it answered instead.
func (s *Server) revealOnPage(w http.ResponseWriter, r *http.Request, wh db.Webhook, v uiReveal) (shown, ok bool) {
	if r.URL.Query().Get(v.param) != "1" {
		return false, true
	}
	if p, _ := principalOf(r.Context()); !p.Role.Allows(db.RoleAdmin) {
		s.forbidden(w, r, p, db.RoleAdmin)
		return false, false
	}
	if err := s.auditRead(r, v.action, webhookTarget(wh.ID), v.summary(wh)); err != nil {
		s.uiFail(w, r, err)
		return false, false
	}
	return true, true
}

// revealInPlace answers a Reveal click (an admin route) with v in place, recorded first;
// without htmx it sends the browser to the page that shows it.
func (s *Server) revealInPlace(w http.ResponseWriter, r *http.Request, v uiReveal) {
	wh, ok := s.findWebhook(w, r)
	if !ok {
		return
	}
	if !isHTMX(r) {
		http.Redirect(w, r, "/webhooks/"+wh.ID+"?"+v.param+"=1", http.StatusSeeOther)
		return
	}
	if err := s.auditRead(r, v.action, webhookTarget(wh.ID), v.summary(wh)); err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.fragment(w, r, http.StatusOK, v.fragment(wh))
}

// webhookSecret answers the "Reveal secret" click with the secret in place.
func (s *Server) webhookSecret(w http.ResponseWriter, r *http.Request) {
	s.revealInPlace(w, r, secretReveal)
}

// webhookHeaders answers the "Reveal values" click with the custom headers' values in place.
func (s *Server) webhookHeaders(w http.ResponseWriter, r *http.Request) {
	s.revealInPlace(w, r, headersReveal)
}

func (s *Server) editWebhookPage(w http.ResponseWriter, r *http.Request) {
	wh, ok := s.findWebhook(w, r)
	if !ok {
		return
	}
	s.page(w, r, http.StatusOK, views.Page{Title: "Edit webhook", Nav: "webhooks"}, views.WebhookFormPage(views.WebhookForm{
		ID: wh.ID, URL: wh.URL, EventTypes: strings.Join(wh.EventTypes, "\n"), Description: wh.Description, Enabled: wh.Enabled,
		Headers: storedHeaderRows(wh.Headers), RateLimit: rateLimitText(wh.RateLimit),
	}))
}

func rateLimitText(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func (s *Server) updateWebhookForm(w http.ResponseWriter, r *http.Request) {
	wh, ok := s.findWebhook(w, r)
	if !ok {
		return
	}
	f := webhookFormInput(r)
	f.ID = wh.ID
	if s.addHeaderRow(w, r, f, "Edit webhook") {
		return
	}
	v, errs := s.validateWebhookForm(r.Context(), f, wh.Headers)
	if len(errs) > 0 {
		f.Errors = errs
		s.page(w, r, http.StatusUnprocessableEntity, views.Page{Title: "Edit webhook", Nav: "webhooks"}, views.WebhookFormPage(f))
		return
	}
	after, err := s.DB.UpdateWebhook(r.Context(), wh.ID, db.WebhookUpdate{
		URL: &f.URL, Description: &f.Description, EventTypes: v.patterns, Enabled: &f.Enabled,
		Headers: v.headers, RateLimit: &v.rateLimit,
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
