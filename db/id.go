package db

import (
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/oklog/ulid/v2"
)

// newID returns prefix_ followed by a ULID: 80 bits from crypto/rand (so ids never repeat
// across databases or installs, which receivers rely on when they de-duplicate on
// webhook-id) after a millisecond timestamp (so ids sort by creation time). The library's
// default entropy is a time-seeded math/rand behind a global lock, hence rand.Reader.
func NewID(prefix string) string {
	return prefix + "_" + ulid.MustNew(ulid.Timestamp(time.Now()), rand.Reader).String()
}

// newToken returns 32 random bytes in unpadded base64url: an unguessable secret id.
func NewToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
