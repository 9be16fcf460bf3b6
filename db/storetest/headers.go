package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
)

func headerTests() []test {
	return []test{
		{"HeadersAreStoredAndClaimed", testHeadersAreStoredAndClaimed},
		{"HeadersAreEncryptedAtRest", testHeadersAreEncryptedAtRest},
		{"EncryptionKeyAtStartSealsHeaders", testEncryptionKeyAtStartSealsHeaders},
		{"EncryptedHeadersAreBoundToTheirWebhook", testEncryptedHeadersAreBoundToTheirWebhook},
	}
}

func rateTests() []test {
	return []test{
		{"RateLimitSpreadsClaims", testRateLimitSpreadsClaims},
		{"RateLimitIsSharedByInstances", testRateLimitIsSharedByInstances},
		{"RateLimitIsStoredAndRemoved", testRateLimitIsStoredAndRemoved},
	}
}

var apiKeyHeaders = map[string]string{"Authorization": "Bearer tok-7f3a9c", "X-Tenant": "acme"}

func webhookWithHeaders(t *testing.T, store Store, h map[string]string) db.Webhook {
	t.Helper()
	wh, err := store.CreateWebhook(t.Context(), db.NewWebhook{URL: "https://h.test/", EventTypes: []string{"*"},
		Secret: dbtest.Secret, Enabled: true, Headers: h})
	require.NoError(t, err)
	return wh
}

// claimedHeaders ingests an event and returns the headers its claim for the webhook carries.
func claimedHeaders(t *testing.T, store Store, webhookID string) map[string]string {
	t.Helper()
	dbtest.Event(t, store, "x", 1)
	c := claim(t, store, held, db.ClaimRequest{WebhookID: webhookID, Limit: 100})
	require.NotEmpty(t, c.Claims)
	return c.Claims[0].Headers
}

func testHeadersAreStoredAndClaimed(t *testing.T, h Harness) {
	store, _ := open(t, h)
	ctx := t.Context()
	wh := webhookWithHeaders(t, store, apiKeyHeaders)
	assert.Equal(t, apiKeyHeaders, wh.Headers)
	found, err := store.FindWebhook(ctx, wh.ID)
	require.NoError(t, err)
	assert.Equal(t, apiKeyHeaders, found.Headers)
	assert.Equal(t, apiKeyHeaders, claimedHeaders(t, store, wh.ID))

	// Changing another field keeps them; a new set replaces them, and the very next claim
	// carries it; an empty set removes them.
	desc := "other"
	_, err = store.UpdateWebhook(ctx, wh.ID, db.WebhookUpdate{Description: &desc})
	require.NoError(t, err)
	assert.Equal(t, apiKeyHeaders, claimedHeaders(t, store, wh.ID))
	changed := map[string]string{"Authorization": "Bearer rotated"}
	got, err := store.UpdateWebhook(ctx, wh.ID, db.WebhookUpdate{Headers: changed})
	require.NoError(t, err)
	assert.Equal(t, changed, got.Headers)
	assert.Equal(t, changed, claimedHeaders(t, store, wh.ID))
	_, err = store.UpdateWebhook(ctx, wh.ID, db.WebhookUpdate{Headers: map[string]string{}})
	require.NoError(t, err)
	assert.Empty(t, claimedHeaders(t, store, wh.ID))
	list, err := store.ListWebhooks(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Empty(t, list[0].Headers)

	// A webhook without headers claims none.
	plain := dbtest.Webhook(t, store, "https://p.test/")
	assert.Empty(t, claimedHeaders(t, store, plain.ID))
}

// countHeadersWith counts the webhooks whose stored headers hold text, as someone reading a
// copy of the database would look for it.
func countHeadersWith(t *testing.T, h Harness, store Store, text string) int {
	t.Helper()
	before := h.Count(t, store, "webhooks")
	h.Exec(t, store, `DELETE FROM webhooks WHERE headers LIKE ?`, "%"+text+"%")
	return before - h.Count(t, store, "webhooks")
}

func testHeadersAreEncryptedAtRest(t *testing.T, h Harness) {
	store := h.Open(t, Options{EncryptionKey: newKey()})
	wh := webhookWithHeaders(t, store, apiKeyHeaders)
	_, err := store.UpdateWebhook(t.Context(), wh.ID, db.WebhookUpdate{Headers: map[string]string{"X-Key": "k-updated-91"}})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"X-Key": "k-updated-91"}, claimedHeaders(t, store, wh.ID))
	assert.Zero(t, countHeadersWith(t, h, store, "k-updated-91"))
	assert.Zero(t, countHeadersWith(t, h, store, "X-Key"), "names are sealed with the values")
	assert.Equal(t, 1, countHeadersWith(t, h, store, "enc:v1:"))
}

func testEncryptionKeyAtStartSealsHeaders(t *testing.T, h Harness) {
	ctx := t.Context()
	plain := h.Open(t, Options{})
	wh := webhookWithHeaders(t, plain, apiKeyHeaders)
	dbtest.Webhook(t, plain, "https://none.test/")
	raw, _ := json.Marshal(apiKeyHeaders)
	h.Exec(t, plain, `UPDATE webhooks SET description = 'plaintext headers' WHERE headers = ?`, string(raw))
	found, err := plain.FindWebhook(ctx, wh.ID)
	require.NoError(t, err)
	require.Equal(t, "plaintext headers", found.Description, "without a key the headers are stored as JSON")

	key := newKey()
	store := openAgain(t, h, plain, Options{EncryptionKey: key})
	got, err := store.FindWebhook(ctx, wh.ID)
	require.NoError(t, err)
	assert.Equal(t, apiKeyHeaders, got.Headers)
	assert.Equal(t, apiKeyHeaders, claimedHeaders(t, store, wh.ID))

	_, err = h.OpenAgain(t, plain, Options{})
	assert.ErrorIs(t, err, db.ErrEncryptionKeyRequired)
	assert.Zero(t, countHeadersWith(t, h, store, "tok-7f3a9c"))
	assert.Equal(t, 1, countHeadersWith(t, h, store, "enc:v1:"), "the webhook without headers stores none")
}

// Sealed headers copied to another webhook, or passed off as a secret, do not open.
func testEncryptedHeadersAreBoundToTheirWebhook(t *testing.T, h Harness) {
	key := newKey()
	for _, move := range []string{
		`UPDATE webhooks SET headers = (SELECT headers FROM webhooks WHERE public_id = ?) WHERE public_id <> ?`,
		`UPDATE webhooks SET secret = (SELECT headers FROM webhooks WHERE public_id = ?) WHERE public_id = ?`,
	} {
		store := h.Open(t, Options{EncryptionKey: key})
		a := webhookWithHeaders(t, store, apiKeyHeaders)
		webhookWithHeaders(t, store, map[string]string{"X-Other": "b"})
		h.Exec(t, store, move, a.ID, a.ID)
		_, err := h.OpenAgain(t, store, Options{EncryptionKey: key})
		assert.ErrorIs(t, err, db.ErrEncryptionKeyWrong, move)
	}
}

// ingestMany ingests n events in one call.
func ingestMany(t *testing.T, store Store, n int) {
	t.Helper()
	ingestTyped(t, store, "x", n)
}

func rateLimited(t *testing.T, store Store, limit int) db.Webhook {
	t.Helper()
	wh, err := store.CreateWebhook(t.Context(), db.NewWebhook{URL: "https://r.test/", EventTypes: []string{"*"},
		Secret: dbtest.Secret, Enabled: true, RateLimit: limit})
	require.NoError(t, err)
	require.Equal(t, limit, wh.RateLimit)
	return wh
}

// claimFor claims for the webhook every 10 ms of the clock for d, through the stores in
// turn, and returns how many were claimed in each 10 ms step. Every NextDue it answers with
// while work is left is in the future: the engine would wait for it instead of spinning.
func claimFor(t *testing.T, clock *dbtest.Clock, d time.Duration, webhookID string, stores ...Store) []int {
	t.Helper()
	var steps []int
	for i := 0; time.Duration(i)*10*time.Millisecond < d; i++ {
		store := stores[i%len(stores)]
		c := claim(t, store, held, db.ClaimRequest{WebhookID: webhookID, Limit: 1000})
		steps = append(steps, len(c.Claims))
		if next, ok := c.NextDue[webhookID]; ok && len(c.Claims) < 1000 {
			require.True(t, next.After(clock.Now()), "step %d: the rest waits for the limiter", i)
			require.LessOrEqual(t, next.Sub(clock.Now()), db.RateBurst+time.Second/50, "step %d", i)
		}
		clock.Add(10 * time.Millisecond)
	}
	return steps
}

// sumWindow is the most claims in any window of w steps.
func sumWindow(steps []int, w int) (total, most int) {
	run := 0
	for i, n := range steps {
		total += n
		run += n
		if i >= w {
			run -= steps[i-w]
		}
		most = max(most, run)
	}
	return total, most
}

// A webhook limited to 50 attempts a second, with 2,000 deliveries due, gets 50 a second
// (±10%) and never more than 50 + 10% + 1 in any one second; the rest stay pending.
func testRateLimitSpreadsClaims(t *testing.T, h Harness) {
	store, clock := open(t, h)
	wh := rateLimited(t, store, 50)
	ingestMany(t, store, 2000)
	steps := claimFor(t, clock, 10*time.Second, wh.ID, store)
	total, most := sumWindow(steps, 100)
	assert.InDelta(t, 500, total, 50, "10 s at 50/s")
	assert.LessOrEqual(t, most, 56, "most in one second")
	assert.Equal(t, map[db.State]int{db.StateDelivering: total, db.StatePending: 2000 - total}, statesOf(t, store, wh.ID),
		"deliveries beyond the limit wait; none fails")
}

// Two instances claiming in turn draw on one allowance.
func testRateLimitIsSharedByInstances(t *testing.T, h Harness) {
	a, clock := open(t, h)
	b := openAgain(t, h, a, Options{Clock: clock.Now})
	wh := rateLimited(t, a, 20)
	ingestMany(t, a, 1000)
	steps := claimFor(t, clock, 10*time.Second, wh.ID, a, b)
	total, most := sumWindow(steps, 100)
	assert.InDelta(t, 200, total, 20, "10 s at 20/s over two instances")
	assert.LessOrEqual(t, most, 23, "most in one second")
}

func testRateLimitIsStoredAndRemoved(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()
	wh := rateLimited(t, store, 5)
	found, err := store.FindWebhook(ctx, wh.ID)
	require.NoError(t, err)
	assert.Equal(t, 5, found.RateLimit)
	ingestMany(t, store, 100)
	assert.Len(t, claim(t, store, held, db.ClaimRequest{WebhookID: wh.ID, Limit: 100}).Claims, 1, "a burst of 0.1 s at 5/s")

	none := 0
	got, err := store.UpdateWebhook(ctx, wh.ID, db.WebhookUpdate{RateLimit: &none})
	require.NoError(t, err)
	assert.Zero(t, got.RateLimit)
	assert.Len(t, claim(t, store, held, db.ClaimRequest{WebhookID: wh.ID, Limit: 100}).Claims, 99, "no limit any more")
	clock.Add(time.Second)
	list, err := store.ListWebhooks(ctx)
	require.NoError(t, err)
	assert.Zero(t, list[0].RateLimit)
}
