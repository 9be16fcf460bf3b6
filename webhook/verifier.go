package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// DefaultMaxBodyBytes is the largest body Verifier.Middleware reads when MaxBodyBytes is 0.
// hookrelay's own events are at most 256 KiB of data by default, plus a small envelope.
const DefaultMaxBodyBytes = 1 << 20

// Verifier checks deliveries against one or more secrets. Create it with NewVerifier; the
// exported fields may be set before first use and must not change afterwards. It is safe for
// concurrent use.
type Verifier struct {
	// Tolerance is how far webhook-timestamp may be from Now, in either direction
	// (DefaultTolerance when 0).
	Tolerance time.Duration
	// Now is the receiver's clock (time.Now when nil). Tests set it.
	Now func() time.Time
	// MaxBodyBytes caps the body Middleware reads (DefaultMaxBodyBytes when 0); a larger
	// body is answered 413.
	MaxBodyBytes int64
	// ErrorHandler answers a request that Middleware refuses. When nil the answer is
	// StatusCode(err) with err's text as a plain-text body. Set it to log refusals:
	// failing signature checks are the usual first trouble with webhooks.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

	keys [][]byte
}

// NewVerifier returns a Verifier that accepts a delivery signed with any of secrets (each
// "whsec_…"). Give several during a secret rotation: the new one and the one being replaced.
// It fails when no secret is given or one does not parse; the error never repeats a secret.
func NewVerifier(secrets ...string) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, ErrNoSecrets
	}
	v := &Verifier{keys: make([][]byte, 0, len(secrets))}
	for i, s := range secrets {
		k, err := ParseSecret(s)
		if err != nil {
			return nil, fmt.Errorf("webhook: secret %d of %d: %w", i+1, len(secrets), err)
		}
		v.keys = append(v.keys, k)
	}
	return v, nil
}

// Verify checks the webhook-id, webhook-timestamp and webhook-signature headers of a
// delivery against its raw body. body must be the bytes as received: JSON that was parsed
// and encoded again no longer matches. The error wraps one of ErrMissingHeaders,
// ErrBadTimestamp, ErrTooOld, ErrTooNew or ErrNoMatchingSig.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	return verify(v.keys, h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature), body, v.now(), v.tolerance())
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) tolerance() time.Duration {
	if v.Tolerance > 0 {
		return v.Tolerance
	}
	return DefaultTolerance
}

// Event is the JSON body of a hookrelay delivery.
type Event struct {
	// ID is the event id ("evt_…"), the same as the webhook-id header: equal on every retry
	// of the event and for every webhook it goes to. De-duplicate on it.
	ID string `json:"id"`
	// EventType is the type bmadServer reported, e.g. "workflow.completed".
	EventType string `json:"eventType"`
	// Timestamp is when the event happened (not when this attempt was sent).
	Timestamp time.Time `json:"timestamp"`
	// WorkflowID is empty when the event has none (null in the JSON).
	WorkflowID string `json:"workflowId"`
	// Data is the event's data object, as sent.
	Data json.RawMessage `json:"data"`
}

// ErrBadEvent is returned by Middleware for a correctly signed body that is not a hookrelay
// event (not a JSON object with an id and an eventType).
var ErrBadEvent = errors.New("webhook: body is not a hookrelay event")

// ErrBodyTooLarge is returned by Middleware for a body over MaxBodyBytes.
var ErrBodyTooLarge = errors.New("webhook: body too large")

// ErrMethod is returned by Middleware for a request that is not a POST.
var ErrMethod = errors.New("webhook: deliveries are POST requests")

// StatusCode is the HTTP status Middleware answers err with: 400 for a request that is not a
// well-formed delivery (missing headers, bad timestamp, not an event), 401 for one that
// fails verification (timestamp out of tolerance, no matching signature), 405, 413, and 500
// for anything else. hookrelay retries every answer outside 2xx.
func StatusCode(err error) int {
	switch {
	case errors.Is(err, ErrMissingHeaders), errors.Is(err, ErrBadTimestamp), errors.Is(err, ErrBadEvent):
		return http.StatusBadRequest
	case errors.Is(err, ErrTooOld), errors.Is(err, ErrTooNew), errors.Is(err, ErrNoMatchingSig), errors.Is(err, ErrNoSecrets):
		return http.StatusUnauthorized
	case errors.Is(err, ErrMethod):
		return http.StatusMethodNotAllowed
	case errors.Is(err, ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

type eventKey struct{}

// EventFrom returns the verified event that Middleware put in the request's context.
func EventFrom(ctx context.Context) (Event, bool) {
	e, ok := ctx.Value(eventKey{}).(Event)
	return e, ok
}

// Middleware reads the raw body (at most MaxBodyBytes), verifies it, decodes the event and
// calls next with the event in the request's context (see EventFrom) and the body readable
// again, unchanged. A request that fails is answered by ErrorHandler and never reaches next.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, body, err := v.read(w, r)
		if err != nil {
			v.refuse(w, r, err)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), eventKey{}, ev))
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// HandlerFunc is Middleware for a handler that takes the verified event as an argument.
func (v *Verifier) HandlerFunc(fn func(w http.ResponseWriter, r *http.Request, ev Event)) http.Handler {
	return v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, _ := EventFrom(r.Context())
		fn(w, r, ev)
	}))
}

func (v *Verifier) read(w http.ResponseWriter, r *http.Request) (Event, []byte, error) {
	if r.Method != http.MethodPost {
		return Event{}, nil, ErrMethod
	}
	limit := v.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return Event{}, nil, fmt.Errorf("%w: over %d bytes", ErrBodyTooLarge, limit)
		}
		return Event{}, nil, fmt.Errorf("read body: %w", err)
	}
	if err := v.Verify(r.Header, body); err != nil {
		return Event{}, nil, err
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return Event{}, nil, fmt.Errorf("%w: %w", ErrBadEvent, err)
	}
	if ev.ID == "" || ev.EventType == "" {
		return Event{}, nil, fmt.Errorf("%w: id or eventType missing", ErrBadEvent)
	}
	return ev, body, nil
}

func (v *Verifier) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if v.ErrorHandler != nil {
		v.ErrorHandler(w, r, err)
		return
	}
	http.Error(w, err.Error(), StatusCode(err))
}
