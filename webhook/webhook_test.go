package webhook_test

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/webhook"
)

// The Standard Webhooks test vector (see ../shared/TOOLCHAIN.md).
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignMatchesTheStandardWebhooksVector(t *testing.T) {
	t.Parallel()
	key, err := webhook.ParseSecret(vectorSecret)
	require.NoError(t, err)
	assert.Equal(t, vectorSignature, webhook.Sign(key, vectorID, vectorTimestamp, []byte(vectorBody)))
	assert.Equal(t, vectorSignature, webhook.SignatureHeader([][]byte{key}, vectorID, vectorTimestamp, []byte(vectorBody)))
}

func TestSignCoversIDTimestampAndBody(t *testing.T) {
	t.Parallel()
	key, err := webhook.ParseSecret(vectorSecret)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		id   string
		ts   int64
		body string
	}{
		{"other id", "msg_other", vectorTimestamp, vectorBody},
		{"other timestamp", vectorID, vectorTimestamp + 1, vectorBody},
		{"other body", vectorID, vectorTimestamp, `{"test": 2432232315}`},
		{"dot moved between id and timestamp", vectorID + ".1", 614265330, vectorBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.NotEqual(t, vectorSignature, webhook.Sign(key, tc.id, tc.ts, []byte(tc.body)))
		})
	}
}

func TestParseSecret(t *testing.T) {
	t.Parallel()
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	for _, tc := range []struct {
		name, secret string
		keyLen       int // 0: an error is expected
	}{
		{"the vector", vectorSecret, 24},
		{"32 bytes", "whsec_" + b64(32), 32},
		{"shortest", "whsec_" + b64(webhook.MinKeyBytes), webhook.MinKeyBytes},
		{"longest", "whsec_" + b64(webhook.MaxKeyBytes), webhook.MaxKeyBytes},
		{"empty", "", 0},
		{"prefix only", "whsec_", 0},
		{"no prefix", b64(32), 0},
		{"wrong prefix", "whsk_" + b64(32), 0},
		{"prefix in capitals", "WHSEC_" + b64(32), 0},
		{"url-safe base64", "whsec_" + base64.URLEncoding.EncodeToString(append(make([]byte, 30), 0xfb, 0xff)), 0},
		{"not base64", "whsec_not*base64*at*all*not*base64*at*all", 0},
		{"missing padding", "whsec_" + strings.TrimRight(b64(31), "="), 0},
		{"too short", "whsec_" + b64(webhook.MinKeyBytes-1), 0},
		{"too long", "whsec_" + b64(webhook.MaxKeyBytes+1), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			key, err := webhook.ParseSecret(tc.secret)
			if tc.keyLen == 0 {
				assert.Error(t, err)
				assert.Nil(t, key)
				return
			}
			require.NoError(t, err)
			assert.Len(t, key, tc.keyLen)
		})
	}
}

func TestNewSecretRoundTrips(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		s := webhook.NewSecret()
		require.True(t, strings.HasPrefix(s, webhook.SecretPrefix), s)
		key, err := webhook.ParseSecret(s)
		require.NoError(t, err)
		assert.Len(t, key, 32)
		assert.Equal(t, s, webhook.SecretPrefix+base64.StdEncoding.EncodeToString(key))
		assert.False(t, seen[s], "secrets repeat")
		seen[s] = true
	}
}

func TestSignatureHeaderWithTwoKeys(t *testing.T) {
	t.Parallel()
	oldSecret, newSecret := vectorSecret, webhook.NewSecret()
	oldKey, err := webhook.ParseSecret(oldSecret)
	require.NoError(t, err)
	newKey, err := webhook.ParseSecret(newSecret)
	require.NoError(t, err)
	body := []byte(vectorBody)

	h := webhook.SignatureHeader([][]byte{newKey, oldKey}, vectorID, vectorTimestamp, body)
	assert.Equal(t, webhook.Sign(newKey, vectorID, vectorTimestamp, body)+" "+vectorSignature, h)

	// A receiver holding either secret verifies; one holding neither does not.
	now := time.Unix(vectorTimestamp, 0)
	ts := strconv.Itoa(vectorTimestamp)
	assert.NoError(t, webhook.Verify([]string{oldSecret}, vectorID, ts, h, body, now, webhook.DefaultTolerance))
	assert.NoError(t, webhook.Verify([]string{newSecret}, vectorID, ts, h, body, now, webhook.DefaultTolerance))
	assert.ErrorIs(t, webhook.Verify([]string{webhook.NewSecret()}, vectorID, ts, h, body, now, webhook.DefaultTolerance), webhook.ErrNoMatchingSig)
}

func TestVerify(t *testing.T) {
	t.Parallel()
	sent := time.Unix(vectorTimestamp, 0)
	ts := strconv.Itoa(vectorTimestamp)
	other := webhook.NewSecret()
	otherKey, err := webhook.ParseSecret(other)
	require.NoError(t, err)
	otherSig := webhook.Sign(otherKey, vectorID, vectorTimestamp, []byte(vectorBody))
	for _, tc := range []struct {
		name       string
		secrets    []string
		id, ts     string
		signatures string
		body       string
		now        time.Time
		want       error
	}{
		{name: "ok", now: sent},
		{name: "ok at the old edge", now: sent.Add(webhook.DefaultTolerance)},
		{name: "ok at the new edge", now: sent.Add(-webhook.DefaultTolerance)},
		{name: "too old", now: sent.Add(webhook.DefaultTolerance + time.Second), want: webhook.ErrTooOld},
		{name: "too new", now: sent.Add(-webhook.DefaultTolerance - time.Second), want: webhook.ErrTooNew},
		{name: "tampered body", body: `{"test": 2432232315}`, now: sent, want: webhook.ErrNoMatchingSig},
		{name: "tampered id", id: "msg_other", now: sent, want: webhook.ErrNoMatchingSig},
		{name: "wrong secret", secrets: []string{other}, now: sent, want: webhook.ErrNoMatchingSig},
		{name: "second secret matches", secrets: []string{other, vectorSecret}, now: sent},
		{name: "invalid secrets skipped", secrets: []string{"nonsense", vectorSecret}, now: sent},
		{name: "no valid secret", secrets: []string{"nonsense"}, now: sent, want: webhook.ErrNoSecrets},
		{name: "no secrets", secrets: []string{}, now: sent, want: webhook.ErrNoSecrets},
		{name: "valid signature last", signatures: otherSig + " v2,abc v1,!!! " + vectorSignature, now: sent},
		{name: "valid signature first", signatures: vectorSignature + " " + otherSig, now: sent},
		{name: "only other signatures", signatures: otherSig + " " + otherSig, now: sent, want: webhook.ErrNoMatchingSig},
		{name: "unknown version", signatures: "v2," + strings.TrimPrefix(vectorSignature, "v1,"), now: sent, want: webhook.ErrNoMatchingSig},
		{name: "truncated signature", signatures: vectorSignature[:20], now: sent, want: webhook.ErrNoMatchingSig},
		{name: "missing id", id: "-", now: sent, want: webhook.ErrMissingHeaders},
		{name: "missing timestamp", ts: "-", now: sent, want: webhook.ErrMissingHeaders},
		{name: "missing signature", signatures: "-", now: sent, want: webhook.ErrMissingHeaders},
		{name: "timestamp in milliseconds is far in the future", ts: ts + "000", now: sent, want: webhook.ErrTooNew},
		{name: "timestamp not a number", ts: "yesterday", now: sent, want: webhook.ErrBadTimestamp},
		{name: "timestamp with fraction", ts: ts + ".5", now: sent, want: webhook.ErrBadTimestamp},
		{name: "timestamp as RFC 3339", ts: sent.UTC().Format(time.RFC3339), now: sent, want: webhook.ErrBadTimestamp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pick := func(v, def string) string {
				switch v {
				case "":
					return def
				case "-":
					return ""
				}
				return v
			}
			secrets := tc.secrets
			if secrets == nil {
				secrets = []string{vectorSecret}
			}
			err := webhook.Verify(secrets, pick(tc.id, vectorID), pick(tc.ts, ts), pick(tc.signatures, vectorSignature),
				[]byte(pick(tc.body, vectorBody)), tc.now, webhook.DefaultTolerance)
			if tc.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tc.want)
			}
		})
	}
}

// TestSignerMatchesSign: the pooled signer gives the same signatures as Sign, the published
// vector included, from many goroutines at once.
func TestSignerMatchesSign(t *testing.T) {
	t.Parallel()
	key, err := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	require.NoError(t, err)
	s := webhook.NewSigner(key)
	assert.Equal(t, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
		s.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`)))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				id := fmt.Sprintf("evt_%d_%d_%s", i, j, strings.Repeat("x", j%97))
				body := []byte(strings.Repeat("b", j*13))
				assert.Equal(t, webhook.Sign(key, id, int64(j), body), s.Sign(id, int64(j), body))
			}
		})
	}
	wg.Wait()
}
