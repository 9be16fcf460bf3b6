package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

// Page sizes of delivery lists.
const (
	defaultPageSize = 50
	maxPageSize     = 500
)

// deliveryResponse is a delivery as lists show it.
type deliveryResponse struct {
	ID             string  `json:"id"`
	WebhookID      string  `json:"webhookId"`
	EventID        string  `json:"eventId"`
	EventType      string  `json:"eventType"`
	Status         string  `json:"status"`
	AttemptCount   int     `json:"attemptCount"`
	NextAttemptAt  *string `json:"nextAttemptAt"`
	LastAttemptAt  *string `json:"lastAttemptAt"`
	LastStatusCode *int    `json:"lastStatusCode"`
	LastError      *string `json:"lastError"`
	CreatedAt      string  `json:"createdAt"`
	UpdatedAt      string  `json:"updatedAt"`
}

// deliveryDetail is a delivery with its attempt history, first to last.
type deliveryDetail struct {
	deliveryResponse
	Attempts []attemptResponse `json:"attempts"`
}

type attemptResponse struct {
	Number                int     `json:"number"`
	Trigger               string  `json:"trigger"`
	AttemptedAt           string  `json:"attemptedAt"`
	StatusCode            *int    `json:"statusCode"`
	DurationMS            int64   `json:"durationMs"`
	ResponseBody          string  `json:"responseBody"`
	ResponseBodyTruncated bool    `json:"responseBodyTruncated"`
	Error                 *string `json:"error"`
	ErrorMessage          *string `json:"errorMessage"`
	RetryAfterSeconds     *int64  `json:"retryAfterSeconds"`
}

type deliveryListResponse struct {
	Data       []deliveryResponse `json:"data"`
	NextCursor *string            `json:"nextCursor"`
}

func newDeliveryResponse(d db.Delivery) deliveryResponse {
	var next time.Time
	if d.State == db.StatePending { // otherwise no attempt is scheduled, whatever the row keeps
		next = d.NextAttemptAt
	}
	return deliveryResponse{
		ID: d.ID, WebhookID: d.WebhookID, EventID: d.EventID, EventType: d.EventType, Status: string(d.State),
		AttemptCount: d.Attempts, NextAttemptAt: optionalTime(next), LastAttemptAt: optionalTime(d.LastAttemptAt),
		LastStatusCode: optionalInt(d.LastStatusCode), LastError: optional(d.LastError),
		CreatedAt: db.FormatTime(d.CreatedAt), UpdatedAt: db.FormatTime(d.UpdatedAt),
	}
}

// optionalTime maps the zero time to JSON null.
func optionalTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := db.FormatTime(t)
	return &s
}

func optionalInt(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

func newDeliveryDetail(d db.Delivery, attempts []db.Attempt) deliveryDetail {
	out := deliveryDetail{deliveryResponse: newDeliveryResponse(d), Attempts: make([]attemptResponse, 0, len(attempts))}
	for _, a := range attempts {
		out.Attempts = append(out.Attempts, attemptResponse{
			Number: a.Number, Trigger: string(a.Trigger), AttemptedAt: db.FormatTime(a.AttemptedAt),
			StatusCode: optionalInt(a.StatusCode), DurationMS: a.Duration.Milliseconds(),
			// Receivers may answer in any encoding; JSON strings must be UTF-8.
			ResponseBody:          strings.ToValidUTF8(string(a.ResponseBody), "\uFFFD"),
			ResponseBodyTruncated: a.ResponseTruncated,
			Error:                 optional(a.ErrorClass), ErrorMessage: optional(a.ErrorMessage),
			RetryAfterSeconds: optionalSeconds(a.RetryAfter),
		})
	}
	return out
}

// deliveryFilter reads the query parameters shared by both delivery lists.
func deliveryFilter(q url.Values) (db.DeliveryFilter, error) {
	f := db.DeliveryFilter{Limit: defaultPageSize}
	if v := q.Get("status"); v != "" {
		if !db.State(v).Valid() {
			return f, invalidValue("status", "must be one of pending, delivering, succeeded, failed")
		}
		f.State = db.State(v)
	}
	if err := pageLimit(q, &f.Limit); err != nil {
		return f, err
	}
	f.Cursor = q.Get("cursor")
	f.EventID, f.WorkflowID = q.Get("eventId"), q.Get("workflowId")
	if v := q.Get("statusCode"); v != "" {
		var ok bool
		if f.StatusFrom, f.StatusTo, ok = parseStatusFilter(v); !ok {
			return f, invalidValue("statusCode", "must be a status code from 100 to 599, or 2xx, 3xx, 4xx or 5xx")
		}
	}
	if v := q.Get("error"); v != "" {
		if !slices.Contains(db.ErrorClasses, v) {
			return f, invalidValue("error", "must be one of "+strings.Join(db.ErrorClasses, ", "))
		}
		f.ErrorClass = v
	}
	return f, nil
}

// parseStatusFilter reads a status code filter: one code ("503") or a class ("5xx").
func parseStatusFilter(v string) (from, to int, ok bool) {
	if len(v) == 3 && v[1:] == "xx" && v[0] >= '1' && v[0] <= '5' {
		from = int(v[0]-'0') * 100
		return from, from + 99, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 100 || n > 599 {
		return 0, 0, false
	}
	return n, n, true
}

func (s *Server) writeDeliveryPage(w http.ResponseWriter, r *http.Request, f db.DeliveryFilter) {
	ds, next, err := s.DB.ListDeliveries(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp := deliveryListResponse{Data: make([]deliveryResponse, 0, len(ds)), NextCursor: optional(next)}
	for _, d := range ds {
		resp.Data = append(resp.Data, newDeliveryResponse(d))
	}
	writeJSON(w, http.StatusOK, resp)
}

// listWebhookDeliveries lists one webhook's deliveries, newest first.
func (s *Server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f, err := deliveryFilter(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.DB.FindWebhook(r.Context(), id); err != nil {
		s.fail(w, r, notFoundAs(err, "webhook", id))
		return
	}
	f.WebhookID = id
	s.writeDeliveryPage(w, r, f)
}

// listDeliveries lists deliveries across webhooks, newest first, optionally filtered by
// webhookId and eventType as well.
func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := deliveryFilter(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f.WebhookID = q.Get("webhookId")
	if v := q.Get("eventType"); v != "" {
		if err := db.ValidateEventType(v); err != nil {
			s.fail(w, r, invalidValue("eventType", err.Error()))
			return
		}
		f.EventType = v
	}
	s.writeDeliveryPage(w, r, f)
}

func (s *Server) getDelivery(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, err := s.DB.FindDelivery(r.Context(), id)
	if err != nil {
		s.fail(w, r, notFoundAs(err, "delivery", id))
		return
	}
	s.writeDeliveryDetail(w, r, http.StatusOK, d)
}

func (s *Server) writeDeliveryDetail(w http.ResponseWriter, r *http.Request, status int, d db.Delivery) {
	attempts, err := s.DB.ListAttempts(r.Context(), d.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, status, newDeliveryDetail(d, attempts))
}

// retryDelivery schedules one immediate manual attempt of a failed or succeeded delivery.
// The engine learns of it through the store's due notification, not from here.
func (s *Server) retryDelivery(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, err := s.DB.RetryDelivery(r.Context(), id)
	if err != nil {
		s.fail(w, r, notFoundAs(err, "delivery", id))
		return
	}
	s.audit(r, db.AuditDeliveryRetry, deliveryTarget(id), retrySummary(d))
	s.writeDeliveryDetail(w, r, http.StatusAccepted, d)
}

func retrySummary(d db.Delivery) string {
	return "webhook " + d.WebhookID + "; event " + d.EventID + " (" + d.EventType + ")"
}

// optionalSeconds maps a wait to whole seconds, or JSON null when there was none.
func optionalSeconds(d time.Duration) *int64 {
	if s := db.RetryAfterSeconds(d); s != 0 {
		return &s
	}
	return nil
}

// pageLimit reads a list's limit parameter into limit, when given: 1 to maxPageSize.
func pageLimit(q url.Values, limit *int) error {
	v := q.Get("limit")
	if v == "" {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxPageSize {
		return invalidValue("limit", fmt.Sprintf("must be an integer from 1 to %d", maxPageSize))
	}
	*limit = n
	return nil
}
