package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/handlers"
)

// userCommands is the table of `hookrelay user`.
func userCommands() []command {
	return []command{
		{name: "create", summary: "add a user of the web UI with a role (password from stdin, or asked twice on a terminal)", run: runUserCreate},
		{name: "list", summary: "list the users of the web UI with their roles", run: runUserList},
	}
}

const userCreateUsage = `Usage: hookrelay user create --email E --role viewer|operator|admin [--db FILE|URL] [--password-cost N] [--must-change-password]

Adds a user of the web UI to the database, which need not be in use by a running server.
The password is read from standard input (its first line) or, on a terminal, asked twice.
Roles: a viewer sees everything except signing secrets and changes nothing; an operator may
also retry, send test events and enable or disable webhooks; an admin may do everything.
The audit log records the user as created by this command.
`

func runUserCreate(ctx context.Context, args []string, p process) error {
	return createUserCommand(ctx, "hookrelay user create", userCreateUsage, args, p, "")
}

// storeFlags adds the flags every user command has: the store, from HOOKRELAY_DB by default.
func storeFlags(fs *flag.FlagSet, p process) *string {
	dbDefault := "hookrelay.db"
	if v := p.getenv("HOOKRELAY_DB"); v != "" {
		dbDefault = v
	}
	return fs.String("db", dbDefault, "the store: a SQLite file or a postgres:// URL (HOOKRELAY_DB)")
}

// openCommandStore opens the store a command names, with the encryption key the server
// would use (a store with encrypted secrets opens only with it).
func openCommandStore(ctx context.Context, dsn string, p process) (store, error) {
	key, err := encryptionKey(p.getenv, p.getenv(encryptionKeyEnv+"_FILE"))
	if err != nil {
		return nil, err
	}
	return openStore(ctx, dsn, storeOptions{EncryptionKey: key})
}

// createUserCommand is `user create` and `admin create` (role fixed to admin, no --role).
func createUserCommand(ctx context.Context, path, usage string, args []string, p process, fixed db.Role) error {
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	email := fs.String("email", "", "the user's email (required)")
	roleFlag := new(string)
	if fixed == "" {
		roleFlag = fs.String("role", "", "viewer, operator or admin (required)")
	}
	dbPath := storeFlags(fs, p)
	costDefault := "10"
	if v := p.getenv("HOOKRELAY_PASSWORD_COST"); v != "" {
		costDefault = v
	}
	costFlag := fs.String("password-cost", costDefault, "bcrypt cost of the password hash (HOOKRELAY_PASSWORD_COST)")
	mustChange := new(bool)
	if fixed == "" {
		mustChange = fs.Bool("must-change-password", false, "make the user choose their own password at first sign-in")
	}
	if err := parseFlags(fs, args, usage, p.stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (see '%s --help')", fs.Arg(0), path)}
	}
	role := fixed
	if role == "" {
		if *roleFlag == "" {
			return usageError{fmt.Errorf("--role is required: viewer, operator or admin (see '%s --help')", path)}
		}
		r, err := db.ParseRole(*roleFlag, true)
		if err != nil {
			return fmt.Errorf("invalid --role: %w", err)
		}
		role = r
	}
	var cost int
	if err := passwordCost(&cost, *costFlag); err != nil {
		return fmt.Errorf("invalid --password-cost: %w", err)
	}
	if err := handlers.ValidateEmail(*email); err != nil {
		return fmt.Errorf("invalid --email: %w", err)
	}
	password, err := readPassword(p.stdin, p.stderr)
	if err != nil {
		return err
	}
	hash, err := handlers.HashPassword(password, cost)
	if err != nil {
		return fmt.Errorf("invalid password: %w", err)
	}
	s, err := openCommandStore(ctx, *dbPath, p)
	if err != nil {
		return err
	}
	defer s.Close()
	u, err := s.AddUser(ctx, db.NewUser{Email: *email, PasswordHash: hash, Role: role, MustChangePassword: *mustChange})
	if errors.Is(err, db.ErrUserExists) {
		if fixed == db.RoleAdmin {
			return fmt.Errorf("an admin with the email %s already exists", *email)
		}
		return fmt.Errorf("a user with the email %s already exists", *email)
	}
	if err != nil {
		return err
	}
	summary := fmt.Sprintf("email %s; role %s", u.Email, u.Role)
	if u.MustChangePassword {
		summary += "; initial password, to be changed at first sign-in"
	}
	if _, err := s.AppendAudit(ctx, db.NewAuditRecord{Actor: db.Actor{Kind: db.ActorCommand, Name: path},
		Action: db.AuditUserCreate, Target: db.AuditTarget{Kind: db.TargetUser, ID: u.ID}, Summary: summary}); err != nil {
		return fmt.Errorf("created %s %s (%s), but its audit record was not written: %w", u.Role, u.Email, u.ID, err)
	}
	fmt.Fprintf(p.stdout, "created %s %s (%s)\n", u.Role, u.Email, u.ID)
	return nil
}

const userListUsage = `Usage: hookrelay user list [--db FILE|URL]

Lists the users of the web UI, oldest first: email, role, status, when created, id.
`

func runUserList(ctx context.Context, args []string, p process) error {
	fs := flag.NewFlagSet("hookrelay user list", flag.ContinueOnError)
	dbPath := storeFlags(fs, p)
	if err := parseFlags(fs, args, userListUsage, p.stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (see 'hookrelay user list --help')", fs.Arg(0))}
	}
	s, err := openCommandStore(ctx, *dbPath, p)
	if err != nil {
		return err
	}
	defer s.Close()
	users, err := s.ListUsers(ctx)
	if err != nil {
		return err
	}
	if len(users) == 0 {
		fmt.Fprintln(p.stdout, "no users yet: add one with 'hookrelay user create --email E --role admin'")
		return nil
	}
	tw := tabwriter.NewWriter(p.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tROLE\tSTATUS\tCREATED\tID")
	for _, u := range users {
		var status []string
		if u.Disabled {
			status = append(status, "disabled")
		} else {
			status = append(status, "enabled")
		}
		if u.MustChangePassword {
			status = append(status, "must change password")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Email, u.Role, strings.Join(status, ", "), db.FormatTime(u.CreatedAt), u.ID)
	}
	return tw.Flush()
}
