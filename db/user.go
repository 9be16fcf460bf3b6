package db

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// User is an administrator of the web UI.
type User struct {
	ID           string // usr_…
	Email        string
	PasswordHash string // bcrypt; never shown or logged
	CreatedAt    time.Time
}

// ErrUserExists is returned when an admin with the same email (ignoring case) exists.
var ErrUserExists = fmt.Errorf("%w: an admin with this email already exists", ErrConflict)

// Session is a signed-in browser. ID is the secret its cookie carries; the table keeps only
// its SHA-256, so a copy of the database opens no session.
type Session struct {
	ID         string
	User       User
	CreatedAt  time.Time
	LastSeenAt time.Time
}

func HashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}
