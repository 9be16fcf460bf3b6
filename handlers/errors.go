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
	codeForbidden            = "forbidden"
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

// errorClass is how a failed request is answered and logged. classify chooses it, for the
// API's fail and the UI's uiFail alike, so that one error gets one status on both; each
// shows its own wording.
type errorClass struct {
	Status int
	// Code, Field and Message make the API's error body. Message is safe to show anyone.
	Code, Field, Message string
	// Title and Text make the UI's error page: a heading and sentences for a person.
	Title, Text string
	// Log says whether the error is logged, at Level. Errors the client can fix (bad
	// input, not found, conflicts) are answered, not logged.
	Log   bool
	Level slog.Level
}

// classify maps a handler error to its answer: an *apiError as it says, storage errors
// by kind, and anything else to a 500 that reveals nothing.
func classify(err error) errorClass {
	if ae, ok := errors.AsType[*apiError](err); ok {
		return errorClass{Status: ae.Status, Code: ae.Code, Field: ae.Field, Message: ae.Message,
			Title: http.StatusText(ae.Status), Text: "The request was refused: " + ae.Error() + "."}
	}
	switch {
	case errors.Is(err, db.ErrNotFound):
		return errorClass{Status: http.StatusNotFound, Code: codeNotFound, Message: "not found",
			Title: "Not found", Text: "There is nothing here. It may have been deleted, or the link is wrong."}
	case errors.Is(err, db.ErrInFlight):
		return errorClass{Status: http.StatusConflict, Code: codeConflict,
			Message: "the delivery is pending or in flight; only a succeeded or failed delivery can be retried",
			Title:   "Not now", Text: "This delivery is pending or being sent; it can be retried once it has succeeded or failed."}
	case errors.Is(err, db.ErrWebhookDisabled):
		return errorClass{Status: http.StatusConflict, Code: codeConflict,
			Message: "the webhook is disabled; enable it before retrying its deliveries",
			Title:   "Webhook disabled", Text: "The webhook is disabled. Enable it first, then try again."}
	case errors.Is(err, db.ErrLastAdmin):
		return errorClass{Status: http.StatusConflict, Code: codeConflict,
			Message: "the last enabled admin cannot be demoted, disabled or deleted",
			Title:   "The last admin stays", Text: "This is the last enabled admin: they cannot be demoted, disabled or deleted. Make another user an admin first."}
	case errors.Is(err, db.ErrConflict):
		return errorClass{Status: http.StatusConflict, Code: codeConflict, Message: "the change conflicts with the current state",
			Title: "Conflict", Text: "The change conflicts with the current state, which may have changed since this page was shown. Reload it and try again."}
	case errors.Is(err, db.ErrBadCursor):
		return errorClass{Status: http.StatusBadRequest, Code: codeInvalidValue, Field: "cursor", Message: "is not a cursor returned by this API",
			Title: "Bad page link", Text: "This page link is not valid. Start again from the first page."}
	case db.Unavailable(err), errors.Is(err, context.DeadlineExceeded):
		// Busy, closed, full or unreadable storage is the operator's to watch, not a bug:
		// the client should retry, so it is a 503 and a warning.
		return errorClass{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Message: "storage is unavailable, try again",
			Title: "Unavailable", Text: "Storage is unavailable. Try again in a moment.", Log: true, Level: slog.LevelWarn}
	}
	return errorClass{Status: http.StatusInternalServerError, Code: codeInternal, Message: "Something went wrong",
		Title: "Something went wrong", Text: "Something went wrong on our side.", Log: true, Level: slog.LevelError}
}

// logFailure logs err once, at the boundary, when its class asks for it.
func (s *Server) logFailure(r *http.Request, c errorClass, err error) {
	if !c.Log {
		return
	}
	s.logger().LogAttrs(r.Context(), c.Level, "request failed",
		slog.String("request_id", requestID(r.Context())), slog.String("method", r.Method),
		slog.String("path", r.URL.Path), slog.Int("status", c.Status), slog.Any("err", err))
}

// fail is the API's one place where handler errors become responses (see classify). It
// logs unexpected errors once, with the request id.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	c := classify(err)
	s.logFailure(r, c, err)
	writeError(w, &apiError{Status: c.Status, Code: c.Code, Message: c.Message, Field: c.Field})
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
