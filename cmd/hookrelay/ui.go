package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/handlers"
)

// uiSettings are the admin UI's settings (see settings for the server's).
func uiSettings() []setting {
	return []setting{
		{"admin-email", "", "email of the first admin, created at start when no admin exists (with --admin-password)", func(c *Config, v string) error {
			if v != "" {
				if err := handlers.ValidateEmail(v); err != nil {
					return err
				}
			}
			c.AdminEmail = v
			return nil
		}},
		{"admin-password", "", "password of that first admin; at least 10 characters", func(c *Config, v string) error {
			if v != "" {
				if err := handlers.ValidatePassword(v); err != nil {
					return err
				}
			}
			c.AdminPassword = v
			return nil
		}},
		{"password-cost", "10", "bcrypt cost of admin password hashes (4 to 31); each step doubles the work of checking one", func(c *Config, v string) error {
			return passwordCost(&c.PasswordCost, v)
		}},
		{"session-ttl", "12h", "how long an admin session lasts without activity", func(c *Config, v string) error {
			return positiveDuration(&c.SessionTTL, v)
		}},
		{"session-key", "", "secret that signs session cookies, at least 32 characters; generated once and kept in the database when empty", func(c *Config, v string) error {
			if v != "" && len(v) < 32 {
				return errors.New("must be at least 32 characters (e.g. openssl rand -base64 32)")
			}
			c.SessionKey = v
			return nil
		}},
		{"signin-limit-per-ip", "20", "failed sign-ins allowed from one client address per window", func(c *Config, v string) error {
			return positiveInt(&c.SignInLimitPerIP, v)
		}},
		{"signin-limit-per-account", "5", "failed sign-ins allowed for one email per window", func(c *Config, v string) error {
			return positiveInt(&c.SignInLimitPerAccount, v)
		}},
		{"signin-limit-window", "15m", "window of the sign-in limits; past a limit, sign-in answers 429 until it has passed", func(c *Config, v string) error {
			return positiveDuration(&c.SignInLimitWindow, v)
		}},
	}
}

// checkUIConfig checks settings that depend on each other.
func checkUIConfig(c Config) []error {
	if (c.AdminEmail == "") != (c.AdminPassword == "") {
		return []error{errors.New("invalid HOOKRELAY_ADMIN_EMAIL / HOOKRELAY_ADMIN_PASSWORD: set both or neither")}
	}
	return nil
}

// uiConfig turns the settings into the handlers' UI configuration, reading (or creating
// once) the session key kept in the database.
func uiConfig(ctx context.Context, cfg Config, store store, baseURL string) (handlers.UIConfig, error) {
	key := []byte(cfg.SessionKey)
	if len(key) == 0 {
		fresh := make([]byte, 32)
		rand.Read(fresh)
		var err error
		if key, err = store.Setting(ctx, "session_key", fresh); err != nil {
			return handlers.UIConfig{}, fmt.Errorf("session key: %w", err)
		}
	}
	ui := handlers.UIConfig{
		SessionKey:            key,
		SessionTTL:            cfg.SessionTTL,
		PasswordCost:          cfg.PasswordCost,
		SecureCookies:         strings.HasPrefix(baseURL, "https://"),
		SignInLimitPerIP:      cfg.SignInLimitPerIP,
		SignInLimitPerAccount: cfg.SignInLimitPerAccount,
		SignInLimitWindow:     cfg.SignInLimitWindow,
		UserAgent:             "github.com/hookrelay/hookrelay/" + version,
	}
	if cfg.BaseURL != "" {
		ui.TrustedOrigins = []string{cfg.BaseURL}
	}
	return ui, nil
}

// createFirstAdmin creates the admin from HOOKRELAY_ADMIN_EMAIL/PASSWORD when none exists.
func createFirstAdmin(ctx context.Context, cfg Config, store store, logger *slog.Logger) error {
	n, err := store.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	if cfg.AdminEmail == "" {
		logger.Warn("no admin exists yet: set HOOKRELAY_ADMIN_EMAIL and HOOKRELAY_ADMIN_PASSWORD, or run 'hookrelay admin create --email E'")
		return nil
	}
	hash, err := handlers.HashPassword(cfg.AdminPassword, cfg.PasswordCost) // slow on purpose: only when needed
	if err != nil {
		return err
	}
	created, err := store.CreateFirstUser(ctx, cfg.AdminEmail, hash)
	if err != nil {
		return err
	}
	if created {
		logger.Info("created the first admin from HOOKRELAY_ADMIN_EMAIL", "email", cfg.AdminEmail)
		u, err := store.FindUserByEmail(ctx, cfg.AdminEmail)
		if err != nil {
			return err
		}
		_, err = store.AppendAudit(ctx, db.NewAuditRecord{Actor: db.Actor{Kind: db.ActorCommand, Name: "HOOKRELAY_ADMIN_EMAIL"},
			Action: db.AuditUserCreate, Target: db.AuditTarget{Kind: db.TargetUser, ID: u.ID}, Summary: "email " + u.Email + "; role admin; the first admin"})
		return err
	}
	return nil
}

// adminCommands is the table of `hookrelay admin`.
func adminCommands() []command {
	return []command{
		{name: "create", summary: "add an admin of the web UI (password from stdin, or asked twice on a terminal)", run: runAdminCreate},
	}
}

// runAdmin is `hookrelay admin …`.
func runAdmin(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runIn(ctx, "hookrelay admin", adminCommands(), args, process{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr})
}

const adminCreateUsage = `Usage: hookrelay admin create --email E [--db FILE|URL] [--password-cost N]

Adds an admin of the web UI to the database, which need not be in use by a running server.
It is "hookrelay user create --role admin".
The password is read from standard input (its first line) or, on a terminal, asked twice.
`

// runAdminCreate is `hookrelay admin create --email E`: user create with the role admin.
func runAdminCreate(ctx context.Context, args []string, p process) error {
	return createUserCommand(ctx, "hookrelay admin create", adminCreateUsage, args, p, db.RoleAdmin)
}

// readPassword prompts twice on a terminal, and otherwise reads the first line of stdin.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password given on stdin")
	}
	return line, nil
}

func passwordCost(dst *int, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < bcrypt.MinCost || n > bcrypt.MaxCost {
		return fmt.Errorf("want a whole number from %d to %d", bcrypt.MinCost, bcrypt.MaxCost)
	}
	*dst = n
	return nil
}
