// Package webhook signs and verifies webhook requests by the Standard Webhooks scheme
// (https://www.standardwebhooks.com): the sender puts webhook-id, webhook-timestamp and
// webhook-signature headers on each request, where the signature is
// v1,base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)) and key is the
// base64-decoded part of a "whsec_" secret.
//
// hookrelay uses it to sign deliveries; receivers written in Go can use it to verify them:
// NewVerifier takes one or more secrets (several during a rotation, when hookrelay signs
// with each), Verifier.Verify checks a request's headers and raw body, and
// Verifier.Middleware / Verifier.HandlerFunc wrap a handler so that only verified deliveries
// reach it, decoded as an Event. It depends on the standard library only, so importing it
// brings nothing else into a receiver's build.
package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Header names of the Standard Webhooks scheme.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every secret hookrelay generates or accepts.
const SecretPrefix = "whsec_"

// Key sizes accepted in a secret. 32 bytes is what NewSecret generates.
const (
	MinKeyBytes = 24
	MaxKeyBytes = 64
)

// NewSecret returns a fresh secret: "whsec_" and 32 random bytes in base64.
func NewSecret() string {
	key := make([]byte, 32)
	rand.Read(key) // never fails since Go 1.24
	return SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// ParseSecret returns the HMAC key of a "whsec_…" secret.
func ParseSecret(secret string) ([]byte, error) {
	enc, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, errors.New(`secret must start with "whsec_"`)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, errors.New(`secret must be "whsec_" followed by standard base64`)
	}
	if len(key) < MinKeyBytes || len(key) > MaxKeyBytes {
		return nil, fmt.Errorf("secret key must be %d to %d bytes, got %d", MinKeyBytes, MaxKeyBytes, len(key))
	}
	return key, nil
}

// Sign returns the "v1,<base64>" signature of one message under key.
func Sign(key []byte, msgID string, timestamp int64, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, msgID, timestamp, body))
}

func mac(key []byte, msgID string, timestamp int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	var buf [20]byte
	h.Write([]byte(msgID))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(buf[:0], timestamp, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Signer signs messages with one key, reusing its HMAC state between messages: for a sender
// that signs many messages with the same secret it allocates a fraction of what Sign does.
// It is safe for concurrent use.
type Signer struct {
	pool sync.Pool
}

// NewSigner returns a Signer for key (the decoded part of a secret; see ParseSecret).
func NewSigner(key []byte) *Signer {
	key = bytes.Clone(key)
	s := &Signer{}
	s.pool.New = func() any { return hmac.New(sha256.New, key) }
	return s
}

// Sign returns the "v1,<base64>" signature of one message, as Sign does.
func (s *Signer) Sign(msgID string, timestamp int64, body []byte) string {
	h := s.pool.Get().(hash.Hash)
	h.Reset()
	var (
		head [96]byte
		sum  [sha256.Size]byte
		out  [3 + 44]byte // "v1," and the base64 of 32 bytes
	)
	prefix := append(head[:0], msgID...)
	prefix = append(prefix, '.')
	prefix = strconv.AppendInt(prefix, timestamp, 10)
	prefix = append(prefix, '.')
	h.Write(prefix)
	h.Write(body)
	mac := h.Sum(sum[:0])
	s.pool.Put(h)
	copy(out[:], "v1,")
	base64.StdEncoding.Encode(out[3:], mac)
	return string(out[:])
}

// SignatureHeader returns the webhook-signature value for keys: one "v1,…" signature per
// key, space-separated, so that a receiver holding any one of the secrets (during a rotation,
// the old or the new) can verify.
func SignatureHeader(keys [][]byte, msgID string, timestamp int64, body []byte) string {
	sigs := make([]string, len(keys))
	for i, k := range keys {
		sigs[i] = Sign(k, msgID, timestamp, body)
	}
	return strings.Join(sigs, " ")
}

// Errors returned by Verifier.Verify and Verifier.Middleware. Use errors.Is: the errors returned wrap
// these with details (how old a timestamp was, which header is missing).
var (
	// ErrMissingHeaders: webhook-id, webhook-timestamp or webhook-signature is absent or empty.
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature header")
	// ErrBadTimestamp: webhook-timestamp is not a whole number of unix seconds.
	ErrBadTimestamp = errors.New("webhook: webhook-timestamp is not unix seconds")
	// ErrTooOld: the timestamp is further in the past than the tolerance (a replay, or a
	// receiver clock far ahead).
	ErrTooOld = errors.New("webhook: timestamp too old")
	// ErrTooNew: the timestamp is further in the future than the tolerance (a sender or
	// receiver clock that is off).
	ErrTooNew = errors.New("webhook: timestamp too far in the future")
	// ErrNoMatchingSig: no v1 signature in the header matches the body under any secret
	// (wrong secret, or a body changed on the way, e.g. parsed and re-encoded).
	ErrNoMatchingSig = errors.New("webhook: no matching signature")
	// ErrNoSecrets: NewVerifier was given no secret to check with.
	ErrNoSecrets = errors.New("webhook: no valid secret to verify with")
)

// DefaultTolerance is how far webhook-timestamp may be from the receiver's clock, in either
// direction, the Standard Webhooks default.
const DefaultTolerance = 5 * time.Minute

// verify checks a delivery's three headers against body under keys: the timestamp must be
// within tolerance of now in both directions (which is what rejects replays), and signatures
// are compared in constant time. Verifier.Verify is its only public door, so a receiver parses
// its secrets once and cannot mix up seven positional arguments.
func verify(keys [][]byte, msgID, timestamp, signatures string, body []byte, now time.Time, tolerance time.Duration) error {
	var missing []string
	for _, h := range []struct{ name, value string }{
		{HeaderID, msgID}, {HeaderTimestamp, timestamp}, {HeaderSignature, signatures},
	} {
		if h.value == "" {
			missing = append(missing, h.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w (%s)", ErrMissingHeaders, strings.Join(missing, ", "))
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	sent := time.Unix(ts, 0)
	if age := now.Sub(sent); age > tolerance {
		return fmt.Errorf("%w: signed %s ago, tolerance %s", ErrTooOld, age.Truncate(time.Second), tolerance)
	}
	if ahead := sent.Sub(now); ahead > tolerance {
		return fmt.Errorf("%w: signed %s ahead of this clock, tolerance %s", ErrTooNew, ahead.Truncate(time.Second), tolerance)
	}
	if len(keys) == 0 {
		return ErrNoSecrets
	}
	for _, k := range keys {
		want := mac(k, msgID, ts, body)
		for sig := range strings.FieldsSeq(signatures) {
			enc, ok := strings.CutPrefix(sig, "v1,")
			if !ok {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(enc)
			if err != nil {
				continue
			}
			if hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return ErrNoMatchingSig
}
