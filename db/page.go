package db

import "errors"

// ErrBadCursor is returned for a cursor this package did not produce.
var ErrBadCursor = errors.New("invalid cursor")
