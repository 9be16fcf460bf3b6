package db

import (
	"errors"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Unavailable reports whether err means the store cannot take the write (or read) now, as
// opposed to a bug or bad input: the database is closed, the disk is full, the file is
// read-only, an I/O error occurred, or a lock could not be had. Callers answer such errors with
// "try again later" (HTTP 503) and must not claim the data was stored.
func Unavailable(err error) bool {
	if errors.Is(err, ErrClosed) {
		return true
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff { // the primary result code; extended codes keep it in the low byte
	case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN,
		sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_PROTOCOL:
		return true
	}
	return false
}
