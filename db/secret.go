package db

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"database/sql"
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
type secretBox struct {
	aead cipher.AEAD
}

func newSecretBox(key []byte) (*secretBox, error) {
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
	return &secretBox{aead: aead}, nil
}

func secretAAD(webhookID string) []byte { return []byte("hookrelay webhook secret " + webhookID) }

// seal returns what to store for a webhook's secret.
func (b *secretBox) seal(webhookID, secret string) string {
	if b == nil {
		return secret
	}
	ct := b.aead.Seal(nil, nil, []byte(secret), secretAAD(webhookID))
	return encPrefix + base64.StdEncoding.EncodeToString(ct)
}

// open returns the secret a stored value holds.
func (b *secretBox) open(webhookID, stored string) (string, error) {
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

// secureSecrets runs at Open, before anything else touches the database: with a key, it
// encrypts every secret still stored in plaintext (rows from before the key was set) and
// checks that every encrypted one decrypts, so that a wrong key fails the start instead of
// the deliveries; without a key, it fails when any secret is encrypted.
func secureSecrets(ctx context.Context, w *sql.DB, box *secretBox) error {
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	type row struct {
		table   string
		rowID   int64
		webhook string
		stored  string
	}
	var rows []row
	for _, q := range []struct{ table, query string }{
		{"webhooks", `SELECT id, public_id, secret FROM webhooks`},
		{"webhook_old_secrets", `SELECT o.id, w.public_id, o.secret FROM webhook_old_secrets o JOIN webhooks w ON w.id = o.webhook_id`},
	} {
		rs, err := tx.QueryContext(ctx, q.query)
		if err != nil {
			return fmt.Errorf("read secrets: %w", err)
		}
		for rs.Next() {
			r := row{table: q.table}
			if err := rs.Scan(&r.rowID, &r.webhook, &r.stored); err != nil {
				rs.Close()
				return fmt.Errorf("read secrets: %w", err)
			}
			rows = append(rows, r)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return fmt.Errorf("read secrets: %w", err)
		}
	}
	changed := 0
	for _, r := range rows {
		plain, err := box.open(r.webhook, r.stored)
		if err != nil {
			return err
		}
		if box == nil || strings.HasPrefix(r.stored, encPrefix) {
			continue
		}
		// The table name comes from the list above, never from input.
		if _, err := tx.ExecContext(ctx, `UPDATE `+r.table+` SET secret = ? WHERE id = ?`, box.seal(r.webhook, plain), r.rowID); err != nil {
			return fmt.Errorf("encrypt secret of webhook %s: %w", r.webhook, err)
		}
		changed++
	}
	if changed == 0 {
		return nil
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("encrypt secrets: %w", err)
	}
	// The plaintext is still in the pages the updates freed and in the WAL. Rewrite the file
	// and empty the WAL so that no copy is left. This happens once, on the first start with
	// a key.
	if _, err := w.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("rewrite database after encrypting secrets: %w", err)
	}
	if _, err := w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("checkpoint after encrypting secrets: %w", err)
	}
	return nil
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

// FindWebhookSecrets returns the webhook's current secret and its old secrets that have not
// expired.
func (s *DB) FindWebhookSecrets(ctx context.Context, id string) (WebhookSecrets, error) {
	var (
		row    int64
		stored string
	)
	if err := s.reader.QueryRowContext(ctx, `SELECT id, secret FROM webhooks WHERE public_id = ?`, id).Scan(&row, &stored); err != nil {
		return WebhookSecrets{}, fmt.Errorf("find secrets of webhook %s: %w", id, translate(err))
	}
	cur, err := s.box.open(id, stored)
	if err != nil {
		return WebhookSecrets{}, fmt.Errorf("find secrets of webhook %s: %w", id, err)
	}
	old, err := s.oldSecrets(ctx, s.reader, id, row, s.now())
	if err != nil {
		return WebhookSecrets{}, fmt.Errorf("find secrets of webhook %s: %w", id, err)
	}
	return WebhookSecrets{Current: cur, Old: old}, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// oldSecrets reads a webhook's unexpired old secrets, newest first.
func (s *DB) oldSecrets(ctx context.Context, q querier, webhookID string, webhookRow int64, now time.Time) ([]OldSecret, error) {
	rows, err := q.QueryContext(ctx, `SELECT secret, rotated_at, expires_at FROM webhook_old_secrets
		WHERE webhook_id = ? AND expires_at > ? ORDER BY id DESC`, webhookRow, millis(now))
	if err != nil {
		return nil, fmt.Errorf("read old secrets: %w", err)
	}
	defer rows.Close()
	var out []OldSecret
	for rows.Next() {
		var (
			stored           string
			rotated, expires int64
		)
		if err := rows.Scan(&stored, &rotated, &expires); err != nil {
			return nil, fmt.Errorf("read old secrets: %w", err)
		}
		plain, err := s.box.open(webhookID, stored)
		if err != nil {
			return nil, err
		}
		out = append(out, OldSecret{Secret: plain, RotatedAt: fromMillis(rotated), ExpiresAt: fromMillis(expires)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read old secrets: %w", err)
	}
	return out, nil
}

// RotateSecret makes secret the webhook's current signing secret. The replaced one keeps
// signing, next to it, for grace (0 to MaxGracePeriod; callers validate); so do the older
// ones still in use, but none beyond the end of this grace period: once it is over,
// deliveries carry only the new secret's signature. At most MaxOldSecrets old secrets are
// kept. Rotating to a secret in use gives ErrSecretInUse.
func (s *DB) RotateSecret(ctx context.Context, id, secret string, grace time.Duration) (WebhookSecrets, error) {
	if grace < 0 || grace > MaxGracePeriod {
		return WebhookSecrets{}, fmt.Errorf("rotate secret of webhook %s: grace period %s is outside 0 to %s", id, grace, MaxGracePeriod)
	}
	var out WebhookSecrets
	err := s.write(ctx, func(t *tx) error {
		var (
			row    int64
			stored string
		)
		if err := t.queryRow(`SELECT id, secret FROM webhooks WHERE public_id = ?`, id).Scan(&row, &stored); err != nil {
			return translate(err)
		}
		cur, err := s.box.open(id, stored)
		if err != nil {
			return err
		}
		now := s.now()
		old, err := s.oldSecrets(t.ctx, t, id, row, now)
		if err != nil {
			return err
		}
		for _, inUse := range append([]string{cur}, secretsOf(old)...) {
			if subtle.ConstantTimeCompare([]byte(inUse), []byte(secret)) == 1 {
				return ErrSecretInUse
			}
		}
		end := now.Add(grace)
		t.forgetWebhook(id)
		if _, err := t.exec(`UPDATE webhook_old_secrets SET expires_at = min(expires_at, ?) WHERE webhook_id = ?`,
			millis(end), row); err != nil {
			return fmt.Errorf("shorten old secrets: %w", err)
		}
		if grace > 0 {
			// The stored value moves as it is: encrypted or not, it belongs to the same webhook.
			if _, err := t.exec(`INSERT INTO webhook_old_secrets (webhook_id, secret, rotated_at, expires_at) VALUES (?, ?, ?, ?)`,
				row, stored, millis(now), millis(end)); err != nil {
				return fmt.Errorf("keep old secret: %w", err)
			}
		}
		if _, err := t.exec(`DELETE FROM webhook_old_secrets WHERE webhook_id = ?1 AND (expires_at <= ?2 OR id NOT IN
			(SELECT id FROM webhook_old_secrets WHERE webhook_id = ?1 ORDER BY id DESC LIMIT ?3))`,
			row, millis(now), MaxOldSecrets); err != nil {
			return fmt.Errorf("drop old secrets: %w", err)
		}
		if _, err := t.exec(`UPDATE webhooks SET secret = ?, updated_at = ? WHERE id = ?`,
			s.box.seal(id, secret), millis(now), row); err != nil {
			return fmt.Errorf("store new secret: %w", err)
		}
		out.Current = secret
		out.Old, err = s.oldSecrets(t.ctx, t, id, row, now)
		return err
	})
	if err != nil {
		return WebhookSecrets{}, fmt.Errorf("rotate secret of webhook %s: %w", id, err)
	}
	return out, nil
}

func secretsOf(old []OldSecret) []string {
	out := make([]string, len(old))
	for i, o := range old {
		out[i] = o.Secret
	}
	return out
}
