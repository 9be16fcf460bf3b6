package db

import (
	"strings"
	"time"
)

// APIKeyPrefix starts every API key hookrelay makes, so that a key is recognisable in a
// config file or a secret scanner, and so that the API tells a key from a static token
// without a database read.
const APIKeyPrefix = "hrk_"

// APIKey is a Bearer key of the API with one role. The key itself is shown once, when it is
// made; the stores keep its SHA-256 (HashToken) only.
type APIKey struct {
	ID         string // key_…
	Name       string
	Role       Role
	Hash       string    // hex SHA-256 of the key
	CreatedAt  time.Time //
	ExpiresAt  time.Time // zero: never
	LastUsedAt time.Time // zero: never used
}

// Expired reports whether the key no longer opens anything at now.
func (k APIKey) Expired(now time.Time) bool { return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) }

// NewAPIKey holds the fields of a key to create; the caller makes the key (NewAPIKeySecret)
// and passes its hash.
type NewAPIKey struct {
	Name      string
	Role      Role
	Hash      string
	ExpiresAt time.Time // zero: never
}

// NewAPIKeySecret returns a fresh key: the prefix and 256 random bits.
func NewAPIKeySecret() string { return APIKeyPrefix + NewToken() }

// LooksLikeAPIKey reports whether tok has the shape NewAPIKeySecret gives.
func LooksLikeAPIKey(tok string) bool {
	return strings.HasPrefix(tok, APIKeyPrefix) && len(tok) == len(APIKeyPrefix)+43
}
