package db

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// User is a person who signs in to the web UI, with one role.
type User struct {
	ID           string // usr_…
	Email        string
	PasswordHash string // bcrypt; never shown or logged
	Role         Role
	// Disabled users cannot sign in, and their sessions end at once (FindSession does not
	// find them).
	Disabled bool
	// MustChangePassword is set for an initial or reset password, which its holder must
	// replace at the next sign-in before doing anything else.
	MustChangePassword bool
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// NewUser holds the fields of a user to create. The caller validates the email, the role
// and the password, and hashes the password.
type NewUser struct {
	Email              string
	PasswordHash       string
	Role               Role
	MustChangePassword bool
}

// UserUpdate holds the fields of a user to change; nil leaves a field as it is.
type UserUpdate struct {
	Role               *Role
	Disabled           *bool
	PasswordHash       *string
	MustChangePassword *bool
	// KeepSession, when a new password is set, is the id (as its cookie carries it) of the
	// one session of the user that survives: the user's own, changing their password. Every
	// other session of the user ends with the old password.
	KeepSession string
}

// ErrUserExists is returned when a user with the same email (ignoring case) exists.
var ErrUserExists = fmt.Errorf("%w: a user with this email already exists", ErrConflict)

// ErrLastAdmin is returned when a change would leave no enabled admin: the last one cannot
// be demoted, disabled or deleted.
var ErrLastAdmin = fmt.Errorf("%w: the last enabled admin cannot be demoted, disabled or deleted", ErrConflict)

// ErrUserDisabled is returned when a session is started for a disabled user.
var ErrUserDisabled = fmt.Errorf("%w: the user is disabled", ErrConflict)

// Session is a signed-in browser. ID is the secret its cookie carries; the table keeps only
// its SHA-256, so a copy of the database opens no session.
type Session struct {
	ID         string
	User       User
	CreatedAt  time.Time
	LastSeenAt time.Time
}

// HashToken returns the hex SHA-256 of a random token (a session id, an API key), which is
// what the stores keep. A fast hash is right for these: they are 256-bit random strings, so
// there is nothing to guess from the hash, and a slow hash (bcrypt) would only cost every
// request its time.
func HashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}
