package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func leaseTests() []test {
	return []test{
		{"TryLead", testTryLead},
	}
}

// openAgain opens a second store on s's database, on the same clock, as another instance
// would.
func openAgain(t *testing.T, h Harness, s Store, o Options) Store {
	t.Helper()
	other, err := h.OpenAgain(t, s, o)
	require.NoError(t, err)
	return other
}

// testTryLead shows a leader lease taken, held, renewed and taken over between two
// instances. An expired ttl ends the lease at once: that is how it runs out here.
func testTryLead(t *testing.T, h Harness) {
	ctx := t.Context()
	a, clock := open(t, h)
	b := openAgain(t, h, a, Options{Clock: clock.Now})
	lead := func(s Store, holder string, ttl time.Duration) bool {
		t.Helper()
		ok, err := s.TryLead(ctx, "rescuer", holder, ttl)
		require.NoError(t, err)
		return ok
	}
	assert.True(t, lead(a, "A", held), "a free lease is taken")
	assert.False(t, lead(b, "B", held), "a held lease is not")
	assert.True(t, lead(a, "A", expired), "the holder renews")
	assert.True(t, lead(a, "A", held), "the holder renews a lease that ran out while no one took it")
	assert.False(t, lead(b, "B", held), "renewed, so still held")
	ok, err := b.TryLead(ctx, "alerts", "B", held)
	require.NoError(t, err)
	assert.True(t, ok, "leases are per name")
	assert.True(t, lead(a, "A", expired))
	assert.True(t, lead(b, "B", held), "an expired lease is taken over")
	assert.False(t, lead(a, "A", held))
	assert.False(t, lead(a, "A", expired), "whatever the ttl asked for")
}
