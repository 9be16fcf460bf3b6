package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

const apiKeyColumns = `public_id, name, role, key_hash, created_at, expires_at, last_used_at`

func scanAPIKey(sc interface{ Scan(...any) error }) (db.APIKey, error) {
	var (
		k             db.APIKey
		role          string
		created       int64
		expires, used sql.NullInt64
	)
	if err := sc.Scan(&k.ID, &k.Name, &role, &k.Hash, &created, &expires, &used); err != nil {
		return db.APIKey{}, translate(err)
	}
	k.Role = db.Role(role)
	k.CreatedAt, k.ExpiresAt, k.LastUsedAt = fromMillis(created), fromNullMillis(expires), fromNullMillis(used)
	return k, nil
}

func nullMillis(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: millis(t), Valid: true}
}

// CreateAPIKey stores a new API key under the hash the caller made of it.
func (s *DB) CreateAPIKey(ctx context.Context, n db.NewAPIKey) (db.APIKey, error) {
	if !n.Role.ValidForKey() {
		return db.APIKey{}, fmt.Errorf("create api key: invalid role %q", n.Role)
	}
	now := s.Now()
	k := db.APIKey{ID: db.NewID("key"), Name: n.Name, Role: n.Role, Hash: n.Hash, CreatedAt: now.Truncate(time.Millisecond)}
	if !n.ExpiresAt.IsZero() {
		k.ExpiresAt = n.ExpiresAt.UTC().Truncate(time.Millisecond)
	}
	err := s.write(ctx, func(t *tx) error {
		_, err := t.exec(`INSERT INTO api_keys (`+apiKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, NULL)`,
			k.ID, k.Name, string(k.Role), k.Hash, millis(now), nullMillis(k.ExpiresAt))
		return err
	})
	if err != nil {
		return db.APIKey{}, fmt.Errorf("create api key: %w", s.translate(err))
	}
	return k, nil
}

// ListAPIKeys returns every API key, newest first.
func (s *DB) ListAPIKeys(ctx context.Context) ([]db.APIKey, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", s.translate(err))
	}
	defer rows.Close()
	out := []db.APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list api keys: %w", s.translate(err))
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list api keys: %w", s.translate(err))
	}
	return out, nil
}

// FindAPIKey returns the API key with the given id.
func (s *DB) FindAPIKey(ctx context.Context, id string) (db.APIKey, error) {
	k, err := scanAPIKey(s.reader.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE public_id = ?`, id))
	if err != nil {
		return db.APIKey{}, fmt.Errorf("find api key: %w", s.translate(err))
	}
	return k, nil
}

// FindAPIKeyByHash returns the API key whose SHA-256 is hash (db.HashToken), expired or
// not: the caller decides.
func (s *DB) FindAPIKeyByHash(ctx context.Context, hash string) (db.APIKey, error) {
	k, err := scanAPIKey(s.reader.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE key_hash = ?`, hash))
	if err != nil {
		return db.APIKey{}, fmt.Errorf("find api key by hash: %w", s.translate(err))
	}
	return k, nil
}

// DeleteAPIKey revokes an API key: its row is gone, so the key opens nothing from the next
// lookup on. It returns ErrNotFound for an unknown id.
func (s *DB) DeleteAPIKey(ctx context.Context, id string) error {
	err := s.write(ctx, func(t *tx) error {
		res, err := t.exec(`DELETE FROM api_keys WHERE public_id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return db.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete api key: %w", s.translate(err))
	}
	return nil
}

// TouchAPIKey records that the key was used at at. Touching a revoked key does nothing.
func (s *DB) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	err := s.write(ctx, func(t *tx) error {
		_, err := t.exec(`UPDATE api_keys SET last_used_at = ? WHERE public_id = ?`, millis(at), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("touch api key: %w", s.translate(err))
	}
	return nil
}
