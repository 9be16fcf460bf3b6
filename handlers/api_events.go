package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/hookrelay/hookrelay/db"
)

// eventRequest is the body of POST /api/v1/events and one item of a batch. Pointers tell an
// absent field from an empty one.
type eventRequest struct {
	EventType      *string         `json:"eventType"`
	WorkflowID     *string         `json:"workflowId"`
	Data           json.RawMessage `json:"data"`
	Timestamp      *string         `json:"timestamp"`
	IdempotencyKey *string         `json:"idempotencyKey"`
}

// validate checks the request and turns it into what db.CreateEvents stores. Errors are
// *apiError naming the field.
func (e eventRequest) validate(lim limits) (db.NewEvent, error) {
	var n db.NewEvent
	if e.EventType == nil {
		return n, invalidValue("eventType", "is required")
	}
	if err := db.ValidateEventType(*e.EventType); err != nil {
		return n, invalidValue("eventType", err.Error())
	}
	n.Type = *e.EventType

	if e.WorkflowID != nil {
		switch {
		case *e.WorkflowID == "":
			return n, invalidValue("workflowId", "must not be empty; omit it or send null")
		case utf8.RuneCountInString(*e.WorkflowID) > lim.workflowIDLength:
			return n, invalidValue("workflowId", fmt.Sprintf("must be at most %d characters", lim.workflowIDLength))
		}
		n.WorkflowID = *e.WorkflowID
	}

	data := bytes.TrimSpace(e.Data)
	switch {
	case len(data) == 0:
		return n, invalidValue("data", "is required")
	case data[0] != '{':
		return n, invalidValue("data", "must be a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return n, invalidValue("data", "must be a JSON object")
	}
	n.Data = buf.Bytes()

	if e.Timestamp != nil {
		t, err := time.Parse(time.RFC3339Nano, *e.Timestamp)
		if err != nil {
			return n, invalidValue("timestamp", `must be an RFC 3339 time such as "2025-01-02T15:04:05Z"`)
		}
		n.OccurredAt = t.UTC()
	}

	if e.IdempotencyKey != nil {
		if err := validateIdempotencyKey(*e.IdempotencyKey, lim.idempotencyKeyLength); err != nil {
			return n, invalidValue("idempotencyKey", err.Error())
		}
		n.IdempotencyKey = *e.IdempotencyKey
	}
	return n, nil
}

func validateIdempotencyKey(k string, most int) error {
	if k == "" {
		return errors.New("must not be empty")
	}
	if !utf8.ValidString(k) {
		return errors.New("must be valid UTF-8") // a header may carry any bytes
	}
	if utf8.RuneCountInString(k) > most {
		return fmt.Errorf("must be at most %d characters", most)
	}
	return nil
}

// ingestResponse is the answer to a single ingest: 202 when new, 200 for a repeated key.
type ingestResponse struct {
	ID         string `json:"id"`
	Deliveries int    `json:"deliveries"`
}

// createEvent stores one event with its deliveries and answers only after the commit. Any
// storage error is a 503: a 2xx promises the event is stored.
func (s *Server) createEvent(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, s.maxEventBytes())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req eventRequest
	if err := decodeStrict(body, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	ev, err := req.validate(s.limits())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if vals := r.Header.Values("Idempotency-Key"); len(vals) > 0 {
		if len(vals) > 1 {
			s.fail(w, r, invalidValue("Idempotency-Key", "must be given once"))
			return
		}
		key := vals[0]
		if err := validateIdempotencyKey(key, s.limits().idempotencyKeyLength); err != nil {
			s.fail(w, r, invalidValue("Idempotency-Key", err.Error()))
			return
		}
		if ev.IdempotencyKey != "" && ev.IdempotencyKey != key {
			s.fail(w, r, invalidValue("idempotencyKey", "differs from the Idempotency-Key header; send one or make them equal"))
			return
		}
		ev.IdempotencyKey = key
	}
	res, err := s.DB.CreateEvents(r.Context(), []db.NewEvent{ev})
	if err == nil && len(res) != 1 {
		err = fmt.Errorf("create events: %d results for 1 event", len(res))
	}
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	status := http.StatusAccepted
	if res[0].Duplicate {
		status = http.StatusOK
	} else {
		s.metrics().EventsIngested(1)
	}
	writeJSON(w, status, ingestResponse{ID: res[0].EventID, Deliveries: res[0].Deliveries})
}

type batchRequest struct {
	Events []json.RawMessage `json:"events"`
}

// batchResult is one item of a batch answer: the stored event, or why it was refused.
type batchResult struct {
	ID         string       `json:"id,omitempty"`
	Deliveries *int         `json:"deliveries,omitempty"`
	Duplicate  bool         `json:"duplicate,omitempty"`
	Error      *errorDetail `json:"error,omitempty"`
}

type batchResponse struct {
	Results []batchResult `json:"results"`
}

// createEventBatch validates each item on its own and stores the valid ones in one
// CreateEvents call (one transaction). Results keep the input order.
func (s *Server) createEventBatch(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Idempotency-Key") != "" {
		s.fail(w, r, invalidValue("Idempotency-Key", "is not accepted on a batch; set idempotencyKey on each event"))
		return
	}
	body, err := readBody(w, r, s.maxBatchBytes())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req batchRequest
	if err := decodeStrict(body, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if most := s.maxBatchEvents(); len(req.Events) == 0 || len(req.Events) > most {
		s.fail(w, r, invalidValue("events", fmt.Sprintf("must hold 1 to %d events, got %d", most, len(req.Events))))
		return
	}
	results := make([]batchResult, len(req.Events))
	var (
		valid []db.NewEvent
		index []int // index[i] is the position in the batch of valid[i]
	)
	for i, raw := range req.Events {
		ev, err := s.batchItem(raw)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				ae = invalidJSON(err.Error())
			}
			results[i].Error = &errorDetail{Code: ae.Code, Message: ae.Message, Field: ae.Field}
			continue
		}
		valid, index = append(valid, ev), append(index, i)
	}
	if len(valid) > 0 {
		res, err := s.DB.CreateEvents(r.Context(), valid)
		if err == nil && len(res) != len(valid) {
			err = fmt.Errorf("create events: %d results for %d events", len(res), len(valid))
		}
		if err != nil {
			s.unavailable(w, r, err)
			return
		}
		stored := 0
		for j, rr := range res {
			n := rr.Deliveries
			results[index[j]] = batchResult{ID: rr.EventID, Deliveries: &n, Duplicate: rr.Duplicate}
			if !rr.Duplicate {
				stored++
			}
		}
		s.metrics().EventsIngested(stored)
	}
	writeJSON(w, http.StatusAccepted, batchResponse{Results: results})
}

func (s *Server) batchItem(raw json.RawMessage) (db.NewEvent, error) {
	if limit := s.maxEventBytes(); int64(len(raw)) > limit {
		return db.NewEvent{}, &apiError{Status: http.StatusRequestEntityTooLarge, Code: codeTooLarge,
			Message: fmt.Sprintf("event is larger than %d bytes", limit)}
	}
	var req eventRequest
	if err := decodeStrict(raw, &req); err != nil {
		return db.NewEvent{}, err
	}
	return req.validate(s.limits())
}

// eventResponse is GET /api/v1/events/{id}.
type eventResponse struct {
	eventSummary
	Deliveries []eventDelivery `json:"deliveries"`
}

type eventDelivery struct {
	ID        string `json:"id"`
	WebhookID string `json:"webhookId"`
	Status    string `json:"status"`
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e, err := s.DB.FindEvent(r.Context(), id)
	if err != nil {
		s.fail(w, r, notFoundAs(err, "event", id))
		return
	}
	resp := eventResponse{eventSummary: newEventSummary(e), Deliveries: []eventDelivery{}}
	// An event fans out to at most one delivery per webhook; page through all of them.
	f := db.DeliveryFilter{EventID: e.ID, Limit: 500}
	for {
		ds, next, err := s.DB.ListDeliveries(r.Context(), f)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, d := range ds {
			resp.Deliveries = append(resp.Deliveries, eventDelivery{ID: d.ID, WebhookID: d.WebhookID, Status: string(d.State)})
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	writeJSON(w, http.StatusOK, resp)
}

// optional maps "" to JSON null.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// notFoundAs names the missing resource in a 404; other errors pass through.
func notFoundAs(err error, kind, id string) error {
	if errors.Is(err, db.ErrNotFound) {
		return &apiError{Status: http.StatusNotFound, Code: codeNotFound, Message: fmt.Sprintf("%s %q not found", kind, id)}
	}
	return err
}

// eventSummary is an event in a list: the event without its deliveries.
type eventSummary struct {
	ID             string          `json:"id"`
	EventType      string          `json:"eventType"`
	WorkflowID     *string         `json:"workflowId"`
	Timestamp      string          `json:"timestamp"`
	Data           json.RawMessage `json:"data"`
	IdempotencyKey *string         `json:"idempotencyKey"`
	CreatedAt      string          `json:"createdAt"`
}

func newEventSummary(e db.Event) eventSummary {
	return eventSummary{ID: e.ID, EventType: e.Type, WorkflowID: optional(e.WorkflowID),
		Timestamp: db.FormatTime(e.OccurredAt), Data: e.Data(), IdempotencyKey: optional(e.IdempotencyKey),
		CreatedAt: db.FormatTime(e.CreatedAt)}
}

type eventListResponse struct {
	Data       []eventSummary `json:"data"`
	NextCursor *string        `json:"nextCursor"`
}

// listEvents is GET /api/v1/events: events newest first, filtered by the start of the event
// type, the workflow id and when they were received.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := db.EventFilter{Limit: defaultPageSize, TypePrefix: q.Get("eventType"), WorkflowID: q.Get("workflowId"), Cursor: q.Get("cursor")}
	if len(f.TypePrefix) > db.MaxEventTypeLen {
		s.fail(w, r, invalidValue("eventType", fmt.Sprintf("must be at most %d characters", db.MaxEventTypeLen)))
		return
	}
	if err := pageLimit(q, &f.Limit); err != nil {
		s.fail(w, r, err)
		return
	}
	for _, p := range []struct {
		name string
		to   *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				s.fail(w, r, invalidValue(p.name, "must be an RFC 3339 time such as 2026-11-28T02:00:00Z"))
				return
			}
			*p.to = t
		}
	}
	evs, next, err := s.DB.ListEvents(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := eventListResponse{Data: make([]eventSummary, 0, len(evs)), NextCursor: optional(next)}
	for _, e := range evs {
		out.Data = append(out.Data, newEventSummary(e))
	}
	writeJSON(w, http.StatusOK, out)
}
