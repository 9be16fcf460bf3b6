package postgres

import (
	"context"
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

// FindWebhookSecrets returns the webhook's current secret and its old secrets that have not
// expired.
func (s *DB) FindWebhookSecrets(ctx context.Context, id string) (db.WebhookSecrets, error) {
	var (
		row    int64
		stored string
	)
	if err := s.pool.QueryRow(ctx, `SELECT id, secret FROM webhooks WHERE public_id = $1`, id).Scan(&row, &stored); err != nil {
		return db.WebhookSecrets{}, fmt.Errorf("find secrets of webhook %s: %w", id, s.translate(err))
	}
	cur, err := s.box.Open(id, stored)
	if err != nil {
		return db.WebhookSecrets{}, fmt.Errorf("find secrets of webhook %s: %w", id, err)
	}
	old, err := s.oldSecrets(ctx, s.pool, id, row, s.Now())
	if err != nil {
		return db.WebhookSecrets{}, fmt.Errorf("find secrets of webhook %s: %w", id, err)
	}
	return db.WebhookSecrets{Current: cur, Old: old}, nil
}

// oldSecrets reads a webhook's unexpired old secrets, newest first.
func (s *DB) oldSecrets(ctx context.Context, q queryer, webhookID string, webhookRow int64, now time.Time) ([]db.OldSecret, error) {
	rows, err := q.Query(ctx, `SELECT secret, rotated_at, expires_at FROM webhook_old_secrets
		WHERE webhook_id = $1 AND expires_at > $2 ORDER BY id DESC`, webhookRow, millis(now))
	if err != nil {
		return nil, fmt.Errorf("read old secrets: %w", s.translate(err))
	}
	defer rows.Close()
	var out []db.OldSecret
	for rows.Next() {
		var (
			stored           string
			rotated, expires int64
		)
		if err := rows.Scan(&stored, &rotated, &expires); err != nil {
			return nil, fmt.Errorf("read old secrets: %w", s.translate(err))
		}
		plain, err := s.box.Open(webhookID, stored)
		if err != nil {
			return nil, err
		}
		out = append(out, db.OldSecret{Secret: plain, RotatedAt: fromMillis(rotated), ExpiresAt: fromMillis(expires)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read old secrets: %w", s.translate(err))
	}
	return out, nil
}

// RotateSecret makes secret the webhook's current signing secret. The replaced one keeps
// signing, next to it, for grace (0 to db.MaxGracePeriod; callers validate); so do the
// older ones still in use, but none beyond the end of this grace period: once it is over,
// deliveries carry only the new secret's signature. At most db.MaxOldSecrets old secrets
// are kept. Rotating to a secret in use gives db.ErrSecretInUse.
func (s *DB) RotateSecret(ctx context.Context, id, secret string, grace time.Duration) (db.WebhookSecrets, error) {
	if grace < 0 || grace > db.MaxGracePeriod {
		return db.WebhookSecrets{}, fmt.Errorf("rotate secret of webhook %s: grace period %s is outside 0 to %s", id, grace, db.MaxGracePeriod)
	}
	var out db.WebhookSecrets
	err := s.write(ctx, func(t *tx) error {
		out = db.WebhookSecrets{}
		var (
			row    int64
			stored string
		)
		// FOR UPDATE: two rotations at once are applied one after the other.
		if err := t.queryRow(`SELECT id, secret FROM webhooks WHERE public_id = $1 FOR UPDATE`, id).Scan(&row, &stored); err != nil {
			return err
		}
		cur, err := s.box.Open(id, stored)
		if err != nil {
			return err
		}
		now := s.Now()
		old, err := s.oldSecrets(t.ctx, t, id, row, now)
		if err != nil {
			return err
		}
		for _, inUse := range append([]string{cur}, secretsOf(old)...) {
			if subtle.ConstantTimeCompare([]byte(inUse), []byte(secret)) == 1 {
				return db.ErrSecretInUse
			}
		}
		end := now.Add(grace)
		if _, err := t.exec(`UPDATE webhook_old_secrets SET expires_at = least(expires_at, $1) WHERE webhook_id = $2`,
			millis(end), row); err != nil {
			return fmt.Errorf("shorten old secrets: %w", err)
		}
		if grace > 0 {
			// The stored value moves as it is: encrypted or not, it belongs to the same webhook.
			if _, err := t.exec(`INSERT INTO webhook_old_secrets (webhook_id, secret, rotated_at, expires_at) VALUES ($1, $2, $3, $4)`,
				row, stored, millis(now), millis(end)); err != nil {
				return fmt.Errorf("keep old secret: %w", err)
			}
		}
		if _, err := t.exec(`DELETE FROM webhook_old_secrets WHERE webhook_id = $1 AND (expires_at <= $2 OR id NOT IN
			(SELECT id FROM webhook_old_secrets WHERE webhook_id = $1 ORDER BY id DESC LIMIT $3))`,
			row, millis(now), db.MaxOldSecrets); err != nil {
			return fmt.Errorf("drop old secrets: %w", err)
		}
		if _, err := t.exec(`UPDATE webhooks SET secret = $1, updated_at = $2, version = version + 1 WHERE id = $3`,
			s.box.Seal(id, secret), millis(now), row); err != nil {
			return fmt.Errorf("store new secret: %w", err)
		}
		out.Current = secret
		out.Old, err = s.oldSecrets(t.ctx, t, id, row, now)
		return err
	})
	if err != nil {
		return db.WebhookSecrets{}, fmt.Errorf("rotate secret of webhook %s: %w", id, s.translate(err))
	}
	return out, nil
}

func secretsOf(old []db.OldSecret) []string {
	out := make([]string, len(old))
	for i, o := range old {
		out[i] = o.Secret
	}
	return out
}
