package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/hookrelay/hookrelay/db"
)

// Error codes of the JSON API. Clients branch on them, so they never change meaning.
const (
	codeInvalidJSON          = "invalid_json"
	codeUnknownField         = "unknown_field"
	codeInvalidValue         = "invalid_value"
	codeUnauthorized         = "unauthorized"
	codeNotFound             = "not_found"
	codeMethodNotAllowed     = "method_not_allowed"
	codeConflict             = "conflict"
	codeTooLarge             = "too_large"
	codeUnsupportedMediaType = "unsupported_media_type"
	codeUnavailable          = "unavailable"
	codeInternal             = "internal"
)

// apiError is an error that already knows its HTTP answer. Handlers return it from
// validation and decoding; fail turns it into the response.
type apiError struct {
	Status  int
	Code    string
	Message string
	Field   string
}

func (e *apiError) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

func invalidValue(field, msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: codeInvalidValue, Field: field, Message: msg}
}

func invalidJSON(msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: codeInvalidJSON, Message: msg}
}

// errorBody is the shape of every error response: {"error":{"code","message","field"?}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// writeError sends e as the error JSON.
func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, errorBody{Error: errorDetail{Code: e.Code, Message: e.Message, Field: e.Field}})
}

// fail is the one place where handler errors become responses. Expected errors (bad input,
// not found, conflicts) are answered as they are; anything else is logged once here, with
// the request id, and answered with a message that reveals nothing.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		writeError(w, ae)
	case errors.Is(err, db.ErrNotFound):
		writeError(w, &apiError{Status: http.StatusNotFound, Code: codeNotFound, Message: "not found"})
	case errors.Is(err, db.ErrInFlight):
		writeError(w, &apiError{Status: http.StatusConflict, Code: codeConflict,
			Message: "the delivery is pending or in flight; only a succeeded or failed delivery can be retried"})
	case errors.Is(err, db.ErrWebhookDisabled):
		writeError(w, &apiError{Status: http.StatusConflict, Code: codeConflict,
			Message: "the webhook is disabled; enable it before retrying its deliveries"})
	case errors.Is(err, db.ErrConflict):
		writeError(w, &apiError{Status: http.StatusConflict, Code: codeConflict, Message: "the change conflicts with the current state"})
	case errors.Is(err, db.ErrBadCursor):
		writeError(w, invalidValue("cursor", "is not a cursor returned by this API"))
	case db.Unavailable(err), errors.Is(err, context.DeadlineExceeded):
		s.logger().LogAttrs(r.Context(), slog.LevelWarn, "request failed: storage unavailable",
			slog.String("request_id", requestID(r.Context())), slog.Any("err", err))
		writeError(w, &apiError{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Message: "storage is unavailable, try again"})
	default:
		s.logger().LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", requestID(r.Context())), slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.Any("err", err))
		writeError(w, &apiError{Status: http.StatusInternalServerError, Code: codeInternal, Message: "Something went wrong"})
	}
}

// unavailable logs a storage error and answers 503. Ingest uses it for every storage error:
// the client must retry, and must never read a 202 for an event that was not committed.
func (s *Server) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	s.logger().LogAttrs(r.Context(), slog.LevelError, "store events",
		slog.String("request_id", requestID(r.Context())), slog.Any("err", err))
	writeError(w, &apiError{Status: http.StatusServiceUnavailable, Code: codeUnavailable,
		Message: "the event could not be stored, try again"})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, &apiError{Status: http.StatusNotFound, Code: codeNotFound, Message: "no such route: " + r.URL.Path})
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Code: codeMethodNotAllowed,
		Message: "method " + r.Method + " is not allowed on " + r.URL.Path})
}
