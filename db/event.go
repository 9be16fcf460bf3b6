package db

import (
	"encoding/json"
	"time"
)

// Event is something bmadServer reported. Body is the exact JSON document delivered to every
// matching webhook: {"id","eventType","timestamp","workflowId","data"}.
type Event struct {
	ID             string // evt_…
	Type           string
	WorkflowID     string // empty when none was given
	OccurredAt     time.Time
	Body           []byte
	IdempotencyKey string
	Fanout         int // deliveries created at ingest
	CreatedAt      time.Time
}

// Data returns the event's data member.
func (e Event) Data() json.RawMessage {
	var b struct{ Data json.RawMessage }
	if json.Unmarshal(e.Body, &b) != nil {
		return nil
	}
	return b.Data
}

// NewEvent is an event to ingest. Callers validate it first; Data must be a JSON object.
type NewEvent struct {
	Type           string
	WorkflowID     string
	Data           json.RawMessage
	OccurredAt     time.Time // zero means "now"
	IdempotencyKey string    // empty means none
}

// IngestResult tells what CreateEvents did with one NewEvent.
type IngestResult struct {
	EventID    string
	Deliveries int
	Duplicate  bool // an event with the same idempotency key already existed; nothing was created
}

// wireEvent is the delivered payload. Field order is the documented one.
type WireEvent struct {
	ID         string          `json:"id"`
	EventType  string          `json:"eventType"`
	Timestamp  string          `json:"timestamp"`
	WorkflowID *string         `json:"workflowId"`
	Data       json.RawMessage `json:"data"`
}

// FormatTime renders t the way every API and payload of hookrelay does: RFC 3339 in UTC with
// millisecond precision at most.
func FormatTime(t time.Time) string {
	return t.UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)
}
