package sqlite

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"fmt"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

// secureSecrets runs at Open, before anything else touches the database: with a key, it
// encrypts every secret and custom header set still stored in plaintext (rows from before
// the key was set) and checks that every encrypted one decrypts, so that a wrong key fails
// the start instead of the deliveries; without a key, it fails when any is encrypted.
func secureSecrets(ctx context.Context, w *sql.DB, box *db.SecretBox) error {
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", translate(err))
	}
	defer tx.Rollback()
	type row struct {
		table   string
		column  string
		rowID   int64
		webhook string
		stored  string
	}
	var rows []row
	for _, q := range []struct{ table, column, query string }{
		{"webhooks", "secret", `SELECT id, public_id, secret FROM webhooks`},
		{"webhooks", "headers", `SELECT id, public_id, headers FROM webhooks WHERE headers <> ''`},
		{"webhook_old_secrets", "secret", `SELECT o.id, w.public_id, o.secret FROM webhook_old_secrets o JOIN webhooks w ON w.id = o.webhook_id`},
	} {
		rs, err := tx.QueryContext(ctx, q.query)
		if err != nil {
			return fmt.Errorf("read secrets: %w", translate(err))
		}
		for rs.Next() {
			r := row{table: q.table, column: q.column}
			if err := rs.Scan(&r.rowID, &r.webhook, &r.stored); err != nil {
				rs.Close()
				return fmt.Errorf("read secrets: %w", translate(err))
			}
			rows = append(rows, r)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return fmt.Errorf("read secrets: %w", translate(err))
		}
	}
	changed := 0
	for _, r := range rows {
		sealed, err := db.Reseal(box, r.column, r.webhook, r.stored)
		if err != nil {
			return err
		}
		if box == nil || db.IsSealed(r.stored) {
			continue
		}
		// The table and column names come from the list above, never from input.
		if _, err := tx.ExecContext(ctx, `UPDATE `+r.table+` SET `+r.column+` = ? WHERE id = ?`, sealed, r.rowID); err != nil {
			return fmt.Errorf("encrypt %s of webhook %s: %w", r.column, r.webhook, err)
		}
		changed++
	}
	if changed == 0 {
		return nil
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("encrypt secrets: %w", translate(err))
	}
	// The plaintext is still in the pages the updates freed and in the WAL. Rewrite the file
	// and empty the WAL so that no copy is left. This happens once, on the first start with
	// a key.
	if _, err := w.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("rewrite database after encrypting secrets: %w", translate(err))
	}
	if _, err := w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("checkpoint after encrypting secrets: %w", translate(err))
	}
	return nil
}

// FindWebhookSecrets returns the webhook's current secret and its old secrets that have not
// expired.
func (s *DB) FindWebhookSecrets(ctx context.Context, id string) (db.WebhookSecrets, error) {
	var (
		row    int64
		stored string
	)
	if err := s.reader.QueryRowContext(ctx, `SELECT id, secret FROM webhooks WHERE public_id = ?`, id).Scan(&row, &stored); err != nil {
		return db.WebhookSecrets{}, fmt.Errorf("find secrets of webhook %s: %w", id, s.translate(err))
	}
	cur, err := s.box.Open(id, stored)
	if err != nil {
		return db.WebhookSecrets{}, fmt.Errorf("find secrets of webhook %s: %w", id, err)
	}
	old, err := s.oldSecrets(ctx, s.reader, id, row, s.Now())
	if err != nil {
		return db.WebhookSecrets{}, fmt.Errorf("find secrets of webhook %s: %w", id, err)
	}
	return db.WebhookSecrets{Current: cur, Old: old}, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// oldSecrets reads a webhook's unexpired old secrets, newest first.
func (s *DB) oldSecrets(ctx context.Context, q querier, webhookID string, webhookRow int64, now time.Time) ([]db.OldSecret, error) {
	rows, err := q.QueryContext(ctx, `SELECT secret, rotated_at, expires_at FROM webhook_old_secrets
		WHERE webhook_id = ? AND expires_at > ? ORDER BY id DESC`, webhookRow, millis(now))
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
// signing, next to it, for grace (0 to MaxGracePeriod; callers validate); so do the older
// ones still in use, but none beyond the end of this grace period: once it is over,
// deliveries carry only the new secret's signature. At most MaxOldSecrets old secrets are
// kept. Rotating to a secret in use gives ErrSecretInUse.
func (s *DB) RotateSecret(ctx context.Context, id, secret string, grace time.Duration) (db.WebhookSecrets, error) {
	if grace < 0 || grace > db.MaxGracePeriod {
		return db.WebhookSecrets{}, fmt.Errorf("rotate secret of webhook %s: grace period %s is outside 0 to %s", id, grace, db.MaxGracePeriod)
	}
	var out db.WebhookSecrets
	err := s.write(ctx, func(t *tx) error {
		var (
			row    int64
			stored string
		)
		if err := t.queryRow(`SELECT id, secret FROM webhooks WHERE public_id = ?`, id).Scan(&row, &stored); err != nil {
			return s.translate(err)
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
		if _, err := t.exec(`UPDATE webhook_old_secrets SET expires_at = min(expires_at, ?) WHERE webhook_id = ?`,
			millis(end), row); err != nil {
			return fmt.Errorf("shorten old secrets: %w", s.translate(err))
		}
		if grace > 0 {
			// The stored value moves as it is: encrypted or not, it belongs to the same webhook.
			if _, err := t.exec(`INSERT INTO webhook_old_secrets (webhook_id, secret, rotated_at, expires_at) VALUES (?, ?, ?, ?)`,
				row, stored, millis(now), millis(end)); err != nil {
				return fmt.Errorf("keep old secret: %w", s.translate(err))
			}
		}
		if _, err := t.exec(`DELETE FROM webhook_old_secrets WHERE webhook_id = ?1 AND (expires_at <= ?2 OR id NOT IN
			(SELECT id FROM webhook_old_secrets WHERE webhook_id = ?1 ORDER BY id DESC LIMIT ?3))`,
			row, millis(now), db.MaxOldSecrets); err != nil {
			return fmt.Errorf("drop old secrets: %w", s.translate(err))
		}
		if _, err := t.exec(`UPDATE webhooks SET secret = ?, updated_at = ?, version = version + 1 WHERE id = ?`,
			s.box.Seal(id, secret), millis(now), row); err != nil {
			return fmt.Errorf("store new secret: %w", s.translate(err))
		}
		out.Current = secret
		out.Old, err = s.oldSecrets(t.ctx, t, id, row, now)
		return err
	})
	if err != nil {
		return db.WebhookSecrets{}, fmt.Errorf("rotate secret of webhook %s: %w", id, err)
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
