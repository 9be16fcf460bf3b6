package sqlite

import (
	"testing"

	"github.com/hookrelay/hookrelay/db"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPageCursors(t *testing.T) {
	t.Parallel()
	deliveries, events := newPage('d', "d.id", 0), newPage('e', "id", 1000)
	assert.Equal(t, 50, deliveries.limit, "default page size")
	assert.Equal(t, 500, events.limit, "largest page size")

	c := deliveries.encode(42)
	row, err := deliveries.decode(c)
	require.NoError(t, err)
	assert.Equal(t, int64(42), row)
	_, err = events.decode(c)
	assert.ErrorIs(t, err, db.ErrBadCursor, "one list's cursor is refused by another")
	for _, bad := range []string{"", "%%%", "ZA", "ZDQyeA", "ZC0x", "ZDA"} { // …, "d42x", "d-1", "d0"
		_, err := deliveries.decode(bad)
		assert.ErrorIs(t, err, db.ErrBadCursor, bad)
	}

	p := newPage('d', "d.id", 2)
	n, next := p.cut([]int64{9, 8})
	assert.Equal(t, 2, n)
	assert.Empty(t, next, "no more rows: the last page")
	n, next = p.cut([]int64{9, 8, 7})
	assert.Equal(t, 2, n)
	row, err = p.decode(next)
	require.NoError(t, err)
	assert.Equal(t, int64(8), row, "the next page starts after the last row shown")
}
