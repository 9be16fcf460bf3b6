package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/alert"
	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/postgres"
	"github.com/hookrelay/hookrelay/db/sqlite"
	"github.com/hookrelay/hookrelay/delivery"
	"github.com/hookrelay/hookrelay/handlers"
	"github.com/hookrelay/hookrelay/retention"
)

// store is what the server wires together: every consumer's view of one store, and what the
// commands need besides.
type store interface {
	handlers.Store
	delivery.Queue
	alert.Outbox
	retention.Store
	Close() error
	Setting(ctx context.Context, key string, value []byte) ([]byte, error)
	CountUsers(ctx context.Context) (int, error)
	CreateFirstUser(ctx context.Context, email, passwordHash string) (bool, error)
	CreateUser(ctx context.Context, email, passwordHash string) (db.User, error)
	ListUserEmails(ctx context.Context) ([]string, error)
}

// storeOptions are the settings a store is opened with.
type storeOptions struct {
	Sync          string // SQLite only
	Checkpoints   string // SQLite only
	WALLimit      int64  // SQLite only
	MaxConns      int    // PostgreSQL only
	EncryptionKey []byte
}

// isPostgres reports whether dsn names a PostgreSQL database rather than a SQLite file.
func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// redactDSN is dsn as it may be logged: a URL's password is masked.
func redactDSN(dsn string) string {
	if !isPostgres(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://…"
	}
	return u.Redacted()
}

// openStore opens (creating and migrating as needed) the store that dsn names: a
// postgres:// or postgresql:// URL is PostgreSQL, anything else a SQLite file. It explains
// the errors an operator can fix.
func openStore(ctx context.Context, dsn string, o storeOptions) (store, error) {
	var (
		s   store
		err error
	)
	if isPostgres(dsn) {
		s, err = postgres.Open(ctx, dsn, postgres.Options{MaxConns: o.MaxConns, EncryptionKey: o.EncryptionKey})
	} else {
		s, err = sqlite.Open(ctx, dsn, sqlite.Options{Sync: o.Sync, Checkpoints: o.Checkpoints, WALLimit: o.WALLimit, EncryptionKey: o.EncryptionKey})
	}
	name := redactDSN(dsn)
	switch {
	case errors.Is(err, db.ErrEncryptionKeyRequired):
		return nil, fmt.Errorf("open database %s: %w: set %s to the key they were encrypted with", name, err, encryptionKeyEnv)
	case errors.Is(err, db.ErrEncryptionKeyWrong):
		return nil, fmt.Errorf("open database %s: %w: check %s", name, err, encryptionKeyEnv)
	case err != nil:
		return nil, fmt.Errorf("open database %s: %w", name, err)
	}
	return s, nil
}

// resyncInterval is how often the engine rebuilds its schedule from the store, behind the
// store's notices of due work. On SQLite those see every commit (one process per file); on
// PostgreSQL they travel by LISTEN/NOTIFY, and a short poll covers a lost connection.
func resyncInterval(dsn string) time.Duration {
	if isPostgres(dsn) {
		return 2 * time.Second
	}
	return 30 * time.Second
}
