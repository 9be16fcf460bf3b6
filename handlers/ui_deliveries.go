package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/views"
)

// uiPageSize is how many rows a UI list shows per page.
const uiPageSize = 50

// ranges are the preset time ranges of the delivery filter.
var ranges = map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}

// localTimeLayouts are what <input type="datetime-local"> sends, read as UTC.
var localTimeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05"}

// parseLocalTime reads a datetime-local value as UTC.
func parseLocalTime(v string) (time.Time, bool) {
	for _, l := range localTimeLayouts {
		if t, err := time.ParseInLocation(l, v, time.UTC); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// deliveryFilterForm reads the delivery filters, returning messages for bad ones.
func (s *Server) deliveryFilterForm(q url.Values) (views.DeliveryFilterForm, db.DeliveryFilter) {
	f := views.DeliveryFilterForm{
		Webhook: q.Get("webhook"), Status: q.Get("status"), EventType: strings.TrimSpace(q.Get("event_type")),
		Range: q.Get("range"), From: q.Get("from"), To: q.Get("to"), Errors: map[string]string{},
		Event: strings.TrimSpace(q.Get("event")), Workflow: strings.TrimSpace(q.Get("workflow")),
		StatusCode: strings.TrimSpace(q.Get("status_code")), Error: q.Get("error"),
	}
	df := db.DeliveryFilter{WebhookID: f.Webhook, Cursor: q.Get("cursor"), Limit: uiPageSize, EventID: f.Event, WorkflowID: f.Workflow}
	if f.StatusCode != "" {
		var ok bool
		if df.StatusFrom, df.StatusTo, ok = parseStatusFilter(f.StatusCode); !ok {
			f.Errors["status_code"] = "Enter a status code such as 503, or a class such as 5xx."
		}
	}
	if f.Error != "" {
		if slices.Contains(db.ErrorClasses, f.Error) {
			df.ErrorClass = f.Error
		} else {
			f.Errors["error"] = "Choose an error from the list."
		}
	}
	if f.Status != "" {
		if db.State(f.Status).Valid() {
			df.State = db.State(f.Status)
		} else {
			f.Errors["status"] = "Choose a status from the list."
		}
	}
	if f.EventType != "" {
		if err := db.ValidateEventType(f.EventType); err != nil {
			f.Errors["event_type"] = "The event type " + err.Error() + "."
		} else {
			df.EventType = f.EventType
		}
	}
	if f.Range != "" {
		if d, ok := ranges[f.Range]; ok {
			df.Since = s.now().Add(-d)
		} else {
			f.Errors["range"] = "Choose a time range from the list."
		}
	}
	parse := func(field, v string) time.Time {
		if v == "" {
			return time.Time{}
		}
		t, ok := parseLocalTime(v)
		if !ok {
			f.Errors[field] = "Enter a date and time such as 2026-01-31T14:00."
		}
		return t
	}
	if from := parse("from", f.From); from.After(df.Since) {
		df.Since = from
	}
	df.Until = parse("to", f.To)
	if !df.Until.IsZero() && !df.Since.IsZero() && !df.Until.After(df.Since) {
		f.Errors["to"] = "“To” must be after “From”."
	}
	return f, df
}

func (s *Server) deliveriesPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	form, f := s.deliveryFilterForm(q)
	data := views.DeliveryListData{Filter: form, Now: s.now()}
	if form.Webhook != "" {
		wh, err := s.DB.FindWebhook(r.Context(), form.Webhook)
		if err != nil {
			s.uiFail(w, r, err)
			return
		}
		data.Webhook = &wh
	}
	p := views.Page{Title: "Deliveries", Nav: "deliveries"}
	if len(form.Errors) > 0 {
		s.page(w, r, http.StatusUnprocessableEntity, p, views.DeliveryList(data))
		return
	}
	rows, next, err := s.DB.ListDeliveries(r.Context(), f)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	data.Rows = rows
	if next != "" {
		q.Set("cursor", next)
		data.NextURL = "/deliveries?" + q.Encode()
	}
	s.page(w, r, http.StatusOK, p, views.DeliveryList(data))
}

// deliveryData loads everything the delivery page shows.
func (s *Server) deliveryData(r *http.Request, id string) (views.DeliveryData, error) {
	ctx := r.Context()
	d, err := s.DB.FindDelivery(ctx, id)
	if err != nil {
		return views.DeliveryData{}, err
	}
	ev, err := s.DB.FindEvent(ctx, d.EventID)
	if err != nil {
		return views.DeliveryData{}, err
	}
	wh, err := s.DB.FindWebhook(ctx, d.WebhookID)
	if err != nil {
		return views.DeliveryData{}, err
	}
	attempts, err := s.DB.ListAttempts(ctx, d.ID)
	if err != nil {
		return views.DeliveryData{}, err
	}
	return views.DeliveryData{Delivery: d, Event: ev, Webhook: wh, Attempts: attempts, UserAgent: s.UI.UserAgent, Now: s.now()}, nil
}

func (s *Server) deliveryPage(w http.ResponseWriter, r *http.Request) {
	data, err := s.deliveryData(r, r.PathValue("id"))
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, views.Page{Title: "Delivery " + data.Delivery.ID, Nav: "deliveries"}, views.DeliveryPage(data))
}

// deliveryLive answers the delivery page's polling with its changing section.
func (s *Server) deliveryLive(w http.ResponseWriter, r *http.Request) {
	data, err := s.deliveryData(r, r.PathValue("id"))
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.fragment(w, r, http.StatusOK, views.DeliveryLive(data))
}

// deliveryRow answers a list row's polling.
func (s *Server) deliveryRow(w http.ResponseWriter, r *http.Request) {
	d, err := s.DB.FindDelivery(r.Context(), r.PathValue("id"))
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.fragment(w, r, http.StatusOK, views.DeliveryRow(d, s.now()))
}

// retryDeliveryForm schedules an immediate manual attempt. htmx gets the row or the
// delivery page's live section back, now pending and polling; a plain form goes back to
// the delivery page.
func (s *Server) retryDeliveryForm(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, err := s.DB.RetryDelivery(r.Context(), id)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.audit(r, db.AuditDeliveryRetry, deliveryTarget(id), retrySummary(d))
	if !isHTMX(r) {
		s.flash(w, r, "Retry scheduled: one attempt is being made now.")
		http.Redirect(w, r, "/deliveries/"+id, http.StatusSeeOther)
		return
	}
	if r.URL.Query().Get("view") == "row" {
		s.fragment(w, r, http.StatusOK, views.DeliveryRow(d, s.now()))
		return
	}
	data, err := s.deliveryData(r, id)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		s.uiFail(w, r, err)
		return
	}
	data.Delivery = d // the state just written, even if the engine has already moved on
	s.fragment(w, r, http.StatusOK, views.DeliveryLive(data))
}
