package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/hookrelay/hookrelay/alert"
	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/sqlite"
	"github.com/hookrelay/hookrelay/delivery"
	"github.com/hookrelay/hookrelay/handlers"
)

// store is what the server wires together: every consumer's view of one store, and what the
// commands need besides.
type store interface {
	handlers.Store
	delivery.Queue
	alert.Outbox
	Close() error
	Setting(ctx context.Context, key string, value []byte) ([]byte, error)
	CountUsers(ctx context.Context) (int, error)
	CreateFirstUser(ctx context.Context, email, passwordHash string) (bool, error)
	CreateUser(ctx context.Context, email, passwordHash string) (db.User, error)
	ListUserEmails(ctx context.Context) ([]string, error)
}

// storeOptions are the settings a store is opened with.
type storeOptions struct {
	Sync          string
	EncryptionKey []byte
}

// openStore opens (creating and migrating as needed) the store that dsn names, and explains
// the errors an operator can fix.
func openStore(ctx context.Context, dsn string, o storeOptions) (store, error) {
	s, err := sqlite.Open(ctx, dsn, sqlite.Options{Sync: o.Sync, EncryptionKey: o.EncryptionKey})
	switch {
	case errors.Is(err, db.ErrEncryptionKeyRequired):
		return nil, fmt.Errorf("open database %s: %w: set %s to the key they were encrypted with", dsn, err, encryptionKeyEnv)
	case errors.Is(err, db.ErrEncryptionKeyWrong):
		return nil, fmt.Errorf("open database %s: %w: check %s", dsn, err, encryptionKeyEnv)
	case err != nil:
		return nil, fmt.Errorf("open database %s: %w", dsn, err)
	}
	return s, nil
}
