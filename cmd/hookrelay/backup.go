package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/hookrelay/hookrelay/db/sqlite"
)

const backupUsage = `Usage: hookrelay backup --to FILE [--db FILE]

Writes a consistent copy of the SQLite database to FILE, a new file, while servers keep
using the database: the copy holds every commit made before it began and none after, and
it does not stop ingest or deliveries. It never overwrites a file.

Restore by stopping the server and putting the copy in the database's place (with no
-wal or -shm file beside it), or by starting a server with --db FILE. Webhook secrets are
copied encrypted: keep HOOKRELAY_ENCRYPTION_KEY with the backups, or the copy's webhooks
cannot be delivered to.

For PostgreSQL use pg_dump instead (docs/operating.md, Backups).
`

// runBackup is `hookrelay backup --to FILE`.
func runBackup(ctx context.Context, args []string, p process) error {
	fs := flag.NewFlagSet("hookrelay backup", flag.ContinueOnError)
	dbDefault := "hookrelay.db"
	if v := p.getenv("HOOKRELAY_DB"); v != "" {
		dbDefault = v
	}
	dbPath := fs.String("db", dbDefault, "the database to back up (HOOKRELAY_DB)")
	to := fs.String("to", "", "the backup file to write; it must not exist (required)")
	if err := parseFlags(fs, args, backupUsage, p.stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (see 'hookrelay backup --help')", fs.Arg(0))}
	}
	if *to == "" {
		return usageError{errors.New("missing --to FILE (see 'hookrelay backup --help')")}
	}
	if isPostgres(strings.ToLower(*dbPath)) {
		// The URL is not repeated: it may hold a password.
		return errors.New("backup copies SQLite databases; for PostgreSQL use pg_dump, e.g. " +
			"pg_dump --format=custom --file=hookrelay.dump \"$HOOKRELAY_DB\" (docs/operating.md, Backups)")
	}
	err := sqlite.Backup(ctx, *dbPath, *to)
	switch {
	case errors.Is(err, sqlite.ErrBackupExists):
		return fmt.Errorf("%s exists already: a backup never overwrites a file; choose a new name", *to)
	case errors.Is(err, os.ErrNotExist) && !exists(*dbPath):
		return fmt.Errorf("no database at %s: set --db or HOOKRELAY_DB to the server's database", *dbPath)
	case err != nil:
		return err
	}
	fi, err := os.Stat(*to)
	if err != nil {
		return fmt.Errorf("read the backup: %w", err)
	}
	fmt.Fprintf(p.stdout, "backed up %s to %s (%d bytes)\n", *dbPath, *to, fi.Size())
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
