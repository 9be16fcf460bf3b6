package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookrelay/hookrelay/db"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Advisory locks. Work that one instance at a time may do takes a two-key lock
// (lockSpace, what); claims lock a webhook with a one-key lock on its row id. PostgreSQL
// keeps one-key and two-key locks apart, so the two kinds never collide.
const (
	lockSpace   = 0x686b7279 // "hkry"
	lockMigrate = 1          // migrations and the encryption of secrets at Open
	lockFold    = 2          // folding the alert outbox
)

// migrate applies, in order and one transaction each, every embedded migration not yet
// recorded in schema_migrations, then secures the webhook secrets (see secureSecrets). It
// holds a session advisory lock throughout, so that instances starting together apply each
// migration once and do not race over the secrets. Migrations are forward-only: never edit
// one that has shipped.
func (s *DB) migrate(ctx context.Context, box *db.SecretBox) (err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("open database: %w", classify(err))
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, lockSpace, lockMigrate); err != nil {
		return fmt.Errorf("open database: lock for migrations: %w", classify(err))
	}
	defer func() {
		_, uerr := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, $2)`, lockSpace, lockMigrate)
		if uerr != nil {
			// Ending the session releases the lock; the pool drops a closed connection.
			closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			conn.Conn().Close(closeCtx)
			cancel()
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at BIGINT  NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", classify(err))
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		version, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number: %w", base, err)
		}
		if err := applyMigration(ctx, conn, name, version); err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
	}
	if err := secureSecrets(ctx, conn, box); err != nil {
		return fmt.Errorf("open database: webhook secrets: %w", classify(err))
	}
	return nil
}

func applyMigration(ctx context.Context, conn *pgxpool.Conn, name string, version int) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil {
			return fmt.Errorf("check version: %w", classify(err))
		}
		if n > 0 {
			return nil
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		// Without arguments pgx sends the file with the simple protocol, which runs every
		// statement in it.
		if _, err := tx.Exec(ctx, string(body)); err != nil {
			return fmt.Errorf("apply: %w", classify(err))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
			version, time.Now().UnixMilli()); err != nil {
			return fmt.Errorf("record version: %w", classify(err))
		}
		return nil
	})
}

// secureSecrets runs at Open, under the migration lock: with a key, it encrypts every secret
// and custom header set still stored in plaintext (rows from before the key was set) and
// checks that every encrypted one decrypts, so that a wrong key fails the start instead of the deliveries;
// without a key, it fails when any secret is encrypted.
func secureSecrets(ctx context.Context, conn *pgxpool.Conn, box *db.SecretBox) error {
	changed := 0
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		changed = 0
		type row struct {
			table   string
			column  string
			rowID   int64
			webhook string
			stored  string
		}
		var rows []row
		for _, q := range []struct{ table, column, query string }{
			{"webhooks", "secret", `SELECT id, public_id, secret FROM webhooks FOR UPDATE`},
			{"webhooks", "headers", `SELECT id, public_id, headers FROM webhooks WHERE headers <> ''`},
			{"webhook_old_secrets", "secret", `SELECT o.id, w.public_id, o.secret FROM webhook_old_secrets o
				JOIN webhooks w ON w.id = o.webhook_id FOR UPDATE OF o`},
		} {
			rs, err := tx.Query(ctx, q.query)
			if err != nil {
				return fmt.Errorf("read secrets: %w", err)
			}
			for rs.Next() {
				r := row{table: q.table, column: q.column}
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
		for _, r := range rows {
			sealed, err := db.Reseal(box, r.column, r.webhook, r.stored)
			if err != nil {
				return err
			}
			if box == nil || db.IsSealed(r.stored) {
				continue
			}
			// The table and column names come from the list above, never from input.
			if _, err := tx.Exec(ctx, `UPDATE `+r.table+` SET `+r.column+` = $1 WHERE id = $2`, sealed, r.rowID); err != nil {
				return fmt.Errorf("encrypt %s of webhook %s: %w", r.column, r.webhook, err)
			}
			changed++
		}
		return nil
	})
	if err != nil || changed == 0 {
		return err
	}
	// The plaintext is still in the dead row versions the updates left. VACUUM FULL writes
	// both tables afresh and removes the old files. (The write-ahead log and any backup or
	// replica keep their copies; this happens once, on the first start with a key.)
	if _, err := conn.Exec(ctx, `VACUUM FULL webhooks, webhook_old_secrets`); err != nil {
		return fmt.Errorf("rewrite tables after encrypting secrets: %w", err)
	}
	return nil
}
