package db

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// EncryptionKeySize is the length of Options.EncryptionKey: an AES-256 key.
const EncryptionKeySize = 32

// Errors of Open for a database whose webhook secrets are encrypted.
var (
	// ErrEncryptionKeyRequired: the database holds encrypted secrets and no key was given.
	ErrEncryptionKeyRequired = errors.New("the database holds encrypted webhook secrets, but no encryption key was given")
	// ErrEncryptionKeyWrong: the key given does not decrypt the secrets stored.
	ErrEncryptionKeyWrong = errors.New("the encryption key does not decrypt the webhook secrets in the database; they were encrypted with another key")
)

// Rotation rules. A rotation's grace period is from 0 (the old secret stops at once) to
// MaxGracePeriod; DefaultGracePeriod is what callers use when none is asked for.
const (
	DefaultGracePeriod = 24 * time.Hour
	MaxGracePeriod     = 7 * 24 * time.Hour
	// MaxOldSecrets is how many replaced secrets a webhook keeps signing with; a rotation
	// past it drops the oldest, whatever its expiry.
	MaxOldSecrets = 3
)

// ErrSecretInUse is returned by RotateSecret when the new secret is the webhook's current
// secret or one of the old ones still in use.
var ErrSecretInUse = fmt.Errorf("%w: the secret is already in use by this webhook", ErrConflict)

// encPrefix marks an encrypted secret: "enc:v1:" + base64(nonce | ciphertext | tag).
// Anything else in a secret column is a plaintext secret from before a key was set.
const encPrefix = "enc:v1:"

// secretBox encrypts webhook secrets at rest with AES-256-GCM and a random nonce per value.
// The webhook's public id is the additional data, so a ciphertext copied to another webhook's
// row does not decrypt. A nil box stores secrets as they are.
type SecretBox struct {
	aead cipher.AEAD
}

func NewSecretBox(key []byte) (*SecretBox, error) {
	if key == nil {
		return nil, nil
	}
	if len(key) != EncryptionKeySize {
		return nil, fmt.Errorf("encryption key must be %d bytes, got %d", EncryptionKeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("encryption key: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("encryption key: %w", err)
	}
	return &SecretBox{aead: aead}, nil
}

func secretAAD(webhookID string) []byte { return []byte("hookrelay webhook secret " + webhookID) }

// headersAAD differs from secretAAD so that a webhook's sealed headers cannot be passed off as
// its secret, or the other way round.
func headersAAD(webhookID string) []byte { return []byte("hookrelay webhook headers " + webhookID) }

// seal returns what to store for a webhook's secret.
func (b *SecretBox) Seal(webhookID, secret string) string {
	return b.seal(secretAAD(webhookID), secret)
}

// open returns the secret a stored value holds.
func (b *SecretBox) Open(webhookID, stored string) (string, error) {
	pt, err := b.open(secretAAD(webhookID), stored)
	if err != nil {
		return "", fmt.Errorf("secret of webhook %s: %w", webhookID, err)
	}
	return pt, nil
}

// SealHeaders returns what to store for a webhook's custom headers: "" for none, else their
// JSON object, sealed when there is a key.
func (b *SecretBox) SealHeaders(webhookID string, h map[string]string) string {
	if len(h) == 0 {
		return ""
	}
	raw, err := json.Marshal(h)
	if err != nil {
		panic(fmt.Sprintf("encode headers: %v", err)) // a map of strings always encodes
	}
	return b.seal(headersAAD(webhookID), string(raw))
}

// OpenHeaders returns the custom headers a stored value holds (nil for none).
func (b *SecretBox) OpenHeaders(webhookID, stored string) (map[string]string, error) {
	if stored == "" {
		return nil, nil
	}
	pt, err := b.open(headersAAD(webhookID), stored)
	if err != nil {
		return nil, fmt.Errorf("headers of webhook %s: %w", webhookID, err)
	}
	var h map[string]string
	if err := json.Unmarshal([]byte(pt), &h); err != nil {
		return nil, fmt.Errorf("headers of webhook %s: stored value is damaged: %w", webhookID, err)
	}
	return h, nil
}

func (b *SecretBox) seal(aad []byte, plain string) string {
	if b == nil {
		return plain
	}
	ct := b.aead.Seal(nil, nil, []byte(plain), aad)
	return encPrefix + base64.StdEncoding.EncodeToString(ct)
}

func (b *SecretBox) open(aad []byte, stored string) (string, error) {
	enc, ok := strings.CutPrefix(stored, encPrefix)
	if !ok {
		return stored, nil
	}
	if b == nil {
		return "", ErrEncryptionKeyRequired
	}
	ct, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return "", fmt.Errorf("stored value is damaged: %w", err)
	}
	pt, err := b.aead.Open(nil, nil, ct, aad)
	if err != nil {
		return "", ErrEncryptionKeyWrong
	}
	return string(pt), nil
}

// OldSecret is a replaced signing secret that deliveries are still signed with until
// ExpiresAt.
type OldSecret struct {
	Secret    string
	RotatedAt time.Time
	ExpiresAt time.Time
}

// WebhookSecrets is a webhook's current signing secret and the replaced ones still in use,
// newest first.
type WebhookSecrets struct {
	Current string
	Old     []OldSecret
}

// All returns the secrets deliveries are signed with, current first.
func (ws WebhookSecrets) All() []string {
	out := make([]string, 0, 1+len(ws.Old))
	out = append(out, ws.Current)
	for _, o := range ws.Old {
		out = append(out, o.Secret)
	}
	return out
}

// IsSealed reports whether a stored secret is encrypted (made by Seal with a key), as
// opposed to a plaintext secret stored before a key was set.
func IsSealed(stored string) bool { return strings.HasPrefix(stored, encPrefix) }

// Reseal checks that a stored value of a webhook's column ("secret" or "headers") opens with
// box, and returns what to store for it under box: how a start with a new key encrypts the
// values stored before it.
func Reseal(box *SecretBox, column, webhookID, stored string) (string, error) {
	switch column {
	case "secret":
		plain, err := box.Open(webhookID, stored)
		return box.Seal(webhookID, plain), err
	case "headers":
		h, err := box.OpenHeaders(webhookID, stored)
		return box.SealHeaders(webhookID, h), err
	}
	return "", fmt.Errorf("reseal: no sealed column %q", column)
}
