package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/hookrelay/hookrelay/db"
)

// translate classifies a driver error once, for every caller above the store (see
// classify); after Close every error is db.ErrClosed. It is idempotent, so every method
// passes the errors it returns through it.
func (s *DB) translate(err error) error {
	if err != nil && s.closed.Load() && !errors.Is(err, db.ErrClosed) {
		return db.ErrClosed
	}
	return classify(err)
}

// classify maps driver errors to the store's: no rows is db.ErrNotFound, a uniqueness
// violation wraps db.ErrConflict, and a database that cannot serve now (unreachable, shut
// down, out of connections or resources, or not answering before the deadline) wraps
// db.ErrUnavailable.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return db.ErrNotFound
	case errors.Is(err, db.ErrNotFound), errors.Is(err, db.ErrConflict), errors.Is(err, db.ErrUnavailable):
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return fmt.Errorf("%w: %w", db.ErrConflict, err)
		case unavailableCode(pe.Code):
			return fmt.Errorf("%w: %w", db.ErrUnavailable, err)
		case pe.Code == "22021" && strings.Contains(pe.Message, "0x00"):
			// Go strings may hold NUL; PostgreSQL's text cannot.
			return fmt.Errorf("text with a NUL character cannot be stored: %w", err)
		}
		return err
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %w", db.ErrUnavailable, err)
	}
	return err
}

// unavailableCode reports whether a SQLSTATE means the server cannot serve now: connection
// exceptions (class 08), insufficient resources (53: disk full, out of memory, too many
// connections), operator intervention (57P01 admin shutdown, 57P02 crash shutdown, 57P03
// cannot connect now), a lock that could not be had in time (55P03), and a serialization
// failure or deadlock that persisted through the retries of write (40001, 40P01).
func unavailableCode(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"):
		return true
	}
	switch code {
	case "57P01", "57P02", "57P03", "55P03", "40001", "40P01":
		return true
	}
	return false
}

// unavailable reports whether an error from outside the server means it cannot be reached:
// the connection failed or broke, the pool is closed, or the deadline passed before the
// server answered (or before a connection was free).
func unavailable(err error) bool {
	var (
		ce *pgconn.ConnectError
		ne net.Error
	)
	switch {
	case errors.Is(err, context.Canceled):
		return false // the caller gave up; the server may be fine
	case errors.As(err, &ce), errors.As(err, &ne), pgconn.Timeout(err):
		return true
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, puddle.ErrClosedPool):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}

// retryable reports whether a transaction failed only because it ran into another one
// (serialization failure, deadlock), so that running it again may succeed.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}
