package db

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
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

// seal returns what to store for a webhook's secret.
func (b *SecretBox) Seal(webhookID, secret string) string {
	if b == nil {
		return secret
	}
	ct := b.aead.Seal(nil, nil, []byte(secret), secretAAD(webhookID))
	return encPrefix + base64.StdEncoding.EncodeToString(ct)
}

// open returns the secret a stored value holds.
func (b *SecretBox) Open(webhookID, stored string) (string, error) {
	enc, ok := strings.CutPrefix(stored, encPrefix)
	if !ok {
		return stored, nil
	}
	if b == nil {
		return "", ErrEncryptionKeyRequired
	}
	ct, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return "", fmt.Errorf("secret of webhook %s: stored value is damaged: %w", webhookID, err)
	}
	pt, err := b.aead.Open(nil, nil, ct, secretAAD(webhookID))
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
