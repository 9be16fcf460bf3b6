// Package db holds hookrelay's domain: the rows every store keeps (webhooks, events,
// deliveries, attempts, alerts, users with their roles, API keys, the audit log), their
// states and the pure rules over them (event type matching, the alert fold decision, secret
// sealing, roles, ids). It has no SQL: the stores
// are db/sqlite (the default, one file) and db/postgres (several instances on one
// database). Consumers (delivery, alert, handlers) define the small interfaces they need,
// and the stores implement them.
package db

import (
	"errors"
	"fmt"
)

// Every store classifies its driver's errors into these, once, so that callers never look at
// a driver's error codes.
var (
	// ErrNotFound is returned when the requested row does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when a change is refused because of the row's current state or
	// a uniqueness rule. Errors that wrap it say which.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable wraps errors that mean the store cannot serve the request now, as
	// opposed to a bug or bad input: the database is closed or unreachable, the disk is
	// full, the file is read-only, an I/O error occurred, or a lock could not be had.
	// Callers answer "try again later" (HTTP 503) and must not claim the data was stored.
	ErrUnavailable = errors.New("storage unavailable")
	// ErrClosed is returned by calls made after the store was closed.
	ErrClosed = fmt.Errorf("%w: database closed", ErrUnavailable)
)

// Unavailable reports whether err means the store cannot serve the request now (see
// ErrUnavailable).
func Unavailable(err error) bool { return errors.Is(err, ErrUnavailable) }
