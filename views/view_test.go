package views

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRel(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{now, "just now"},
		{now.Add(-42 * time.Second), "42 s ago"},
		{now.Add(20 * time.Second), "in 20 s"},
		{now.Add(-5 * time.Minute), "5 min ago"},
		{now.Add(-30 * time.Hour), "30 h ago"},
		{now.Add(-72 * time.Hour), "3 days ago"},
		{time.Time{}, ""},
	} {
		assert.Equal(t, tc.want, Rel(tc.at, now), "%v", tc.at)
	}
}

func TestFormatting(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "503 Service Unavailable", StatusCode(503))
	assert.Equal(t, "599", StatusCode(599))
	assert.Equal(t, "—", StatusCode(0))
	assert.Equal(t, "12 ms", Duration(12*time.Millisecond))
	assert.Equal(t, "1.50 s", Duration(1500*time.Millisecond))
	assert.Equal(t, "{\n  \"a\": [\n    1\n  ]\n}", Pretty([]byte(`{"a":[1]}`)))
	assert.Equal(t, "not json <b>", Pretty([]byte("not json <b>")), "anything else is shown as it is")
	assert.Equal(t, "bad \uFFFD byte", BodyText([]byte("bad \xff byte")))
	assert.Equal(t, "66%", Percent(2.0/3))
	assert.Equal(t, "/deliveries?status=failed&webhook=whk_1", Query("/deliveries", "webhook", "whk_1", "status", "failed", "range", ""))
	assert.Equal(t, "/deliveries", Query("/deliveries", "webhook", ""))
}
