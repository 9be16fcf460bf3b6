package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/hookrelay/hookrelay/db/storecopy"
)

const migrateStoreUsage = `Usage: hookrelay migrate-store --from FILE --to postgres://…

Copies a SQLite database into an empty PostgreSQL database: webhooks (with their encrypted
signing secrets and the old secrets still in their grace period), users, sessions and
settings, and every event, delivery, attempt and alert, pending work included. Stop the
servers on FILE first: the copy is a snapshot taken when it starts. Both databases are
migrated to this version of hookrelay first. The target must be empty; the copy is one
transaction, so a failed copy leaves it empty. Start the servers with the same
HOOKRELAY_ENCRYPTION_KEY afterwards (the secrets are copied encrypted).
`

// runMigrateStore is `hookrelay migrate-store`.
func runMigrateStore(ctx context.Context, args []string, p process) error {
	fs := flag.NewFlagSet("hookrelay migrate-store", flag.ContinueOnError)
	from := fs.String("from", "", "the SQLite database file to copy from (required)")
	to := fs.String("to", "", "the postgres:// URL of the empty database to copy to (required)")
	if err := parseFlags(fs, args, migrateStoreUsage, p.stdout); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageError{fmt.Errorf("unexpected argument %q (see 'hookrelay migrate-store --help')", fs.Arg(0))}
	case *from == "" || *to == "":
		return usageError{errors.New("--from and --to are required (see 'hookrelay migrate-store --help')")}
	case isPostgres(*from):
		return usageError{errors.New("--from must be a SQLite file")}
	case !isPostgres(*to):
		return usageError{errors.New("--to must be a postgres:// or postgresql:// URL")}
	}
	key, err := encryptionKey(p.getenv, p.getenv(encryptionKeyEnv+"_FILE"))
	if err != nil {
		return err
	}
	// Opening each store migrates it to this version, so their columns line up, and checks
	// that the key opens the source's secrets.
	for _, dsn := range []string{*from, *to} {
		s, err := openStore(ctx, dsn, storeOptions{EncryptionKey: key, MaxConns: 2})
		if err != nil {
			return err
		}
		if err := s.Close(); err != nil {
			return fmt.Errorf("close %s: %w", redactDSN(dsn), err)
		}
	}
	counts, err := storecopy.Copy(ctx, *from, *to)
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", *from, redactDSN(*to), err)
	}
	// The target opens like a server would open it: its secrets decrypt with the key.
	s, err := openStore(ctx, *to, storeOptions{EncryptionKey: key, MaxConns: 2})
	if err != nil {
		return fmt.Errorf("check the copy: %w", err)
	}
	s.Close()
	fmt.Fprintf(p.stdout, "copied %s to %s:\n", *from, redactDSN(*to))
	tw := tabwriter.NewWriter(p.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, c := range counts {
		fmt.Fprintf(tw, "  %s\t%d\t\n", c.Table, c.Rows)
	}
	return tw.Flush()
}
