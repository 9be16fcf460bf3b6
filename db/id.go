package db

import (
	"crypto/rand"
	"time"

	"github.com/oklog/ulid/v2"
)

// newID returns prefix_ followed by a ULID: 80 bits from crypto/rand (so ids never repeat
// across databases or installs, which receivers rely on when they de-duplicate on
// webhook-id) after a millisecond timestamp (so ids sort by creation time). The library's
// default entropy is a time-seeded math/rand behind a global lock, hence rand.Reader.
func newID(prefix string) string {
	return prefix + "_" + ulid.MustNew(ulid.Timestamp(time.Now()), rand.Reader).String()
}
