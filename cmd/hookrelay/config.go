package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/sqlite"
	"github.com/hookrelay/hookrelay/delivery"
)

// Config is every setting of the server. Each is a flag (--name) whose default comes from
// the environment variable HOOKRELAY_NAME (dashes become underscores).
type Config struct {
	Addr                 string
	AddrFile             string // "": none
	DBPath               string // a SQLite file or a postgres:// URL
	DBMaxConns           int
	IngestToken          string
	AdminToken           string
	IngestTokenFile      string
	AdminTokenFile       string
	EncryptionKey        []byte // nil: webhook secrets are stored in plaintext
	EncryptionKeyFile    string
	RetrySchedule        []time.Duration
	RetryJitter          float64
	RetryAfterMax        time.Duration
	DisableAfter         time.Duration
	Retention            time.Duration // 0 keeps events, deliveries, attempts and alerts
	IdempotencyTTL       time.Duration // 0 keeps idempotency keys
	PruneInterval        time.Duration
	DeliveryTimeout      time.Duration
	ResponseBodyLimit    int64
	MaxEventBytes        int64
	MaxBatchBytes        int64
	AllowPrivateNetworks bool
	Concurrency          int
	WebhookConcurrency   int
	Sync                 string
	Checkpoints          string
	WALLimit             int64
	LogLevel             slog.Level
	LogFormat            string
	Hardening
	Alert AlertConfig
	// BaseURL is where admins reach this server: links in alert emails, the admin UI's
	// trusted origin and Secure cookies when https. Empty: http:// + the bound address.
	BaseURL string

	// Admin UI (see ui.go).
	AdminEmail            string
	AdminPassword         string
	PasswordCost          int
	SessionTTL            time.Duration
	SessionKey            string
	SignInLimitPerIP      int
	SignInLimitPerAccount int
	SignInLimitWindow     time.Duration
	PprofAddr             string

	// Metrics and readiness (metrics.go).
	MetricsAddr       string // "": no separate listener
	MetricsToken      string // "": only the admin token opens /metrics on the main address
	MetricsTokenFile  string
	MetricsPerWebhook bool
	ReadyEngineStall  time.Duration
}

// setting describes one flag/env pair for parsing and for the usage text.
type setting struct {
	name, def, usage string
	set              func(cfg *Config, v string) error
}

func settings() []setting {
	all := []setting{
		{"addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)", func(c *Config, v string) error {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return errors.New("want host:port, e.g. 127.0.0.1:8080")
			}
			c.Addr = v
			return nil
		}},
		{"addr-file", "", "once the server is ready, write the address it listens on (host:port) to this file, and remove it at stop; scripts and tests wait for it instead of reading the log", func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			if fi, err := os.Stat(filepath.Dir(v)); err != nil || !fi.IsDir() {
				return fmt.Errorf("the directory of %s does not exist", v)
			}
			c.AddrFile = v
			return nil
		}},
		{"db", "hookrelay.db", "the store: a SQLite file (created if missing) or a postgres:// URL", func(c *Config, v string) error {
			if v == "" {
				return errors.New("must not be empty")
			}
			if isPostgres(v) {
				if _, err := url.Parse(v); err != nil {
					return errors.New("want a URL such as postgres://user:password@host:5432/hookrelay")
				}
			}
			c.DBPath = v
			return nil
		}},
		{"db-max-conns", "20", "PostgreSQL: most connections of this instance's pool (one more listens for other instances' notices)", func(c *Config, v string) error {
			return positiveInt(&c.DBMaxConns, v)
		}},
		// The tokens are checked in parseConfig, once the *-token-file settings are read.
		{"ingest-token", "", "bearer token for the ingest API (POST /api/v1/events); required (or --ingest-token-file), at least 16 characters", func(c *Config, v string) error {
			c.IngestToken = v
			return nil
		}},
		{"ingest-token-file", "", "file holding the ingest token (surrounding whitespace ignored), instead of --ingest-token", func(c *Config, v string) error {
			c.IngestTokenFile = v
			return nil
		}},
		{"admin-token", "", "bearer token for the management API; required (or --admin-token-file), at least 16 characters", func(c *Config, v string) error {
			c.AdminToken = v
			return nil
		}},
		{"admin-token-file", "", "file holding the admin token (surrounding whitespace ignored), instead of --admin-token", func(c *Config, v string) error {
			c.AdminTokenFile = v
			return nil
		}},
		{"encryption-key-file", "", "file holding the webhook secret encryption key, instead of the environment variable HOOKRELAY_ENCRYPTION_KEY", func(c *Config, v string) error {
			c.EncryptionKeyFile = v
			return nil
		}},
		{"retry-schedule", "1m,5m,30m,2h,12h,24h", "delays between attempts after a failure; one attempt more than delays in all", func(c *Config, v string) error {
			s, err := delivery.ParseSchedule(v)
			c.RetrySchedule = s
			return err
		}},
		{"retry-jitter", "0.1", "spread each retry delay by up to ± this fraction (0 disables, at most 1)", func(c *Config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				return errors.New("want a number from 0 to 1")
			}
			c.RetryJitter = f
			return nil
		}},
		{"retry-after-max", "24h", "longest delay a receiver's Retry-After (on a 429 or 503) may put before the next attempt; 0 ignores Retry-After", func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return errors.New("want a duration of 0 or more, like 24h")
			}
			c.RetryAfterMax = d
			return nil
		}},
		{"retention", "2160h", "delete an event whose deliveries are all final, with its deliveries and attempts, once its newest attempt is this old (and sent alerts as old); 0 keeps everything", func(c *Config, v string) error {
			return nonNegativeDuration(&c.Retention, v, "2160h")
		}},
		{"idempotency-ttl", "24h", "how long an idempotency key is honoured at least; the pruner forgets it after that; 0 keeps keys forever", func(c *Config, v string) error {
			return nonNegativeDuration(&c.IdempotencyTTL, v, "24h")
		}},
		{"prune-interval", "1m", "how often the pruner looks for what retention deletes", func(c *Config, v string) error {
			return positiveDuration(&c.PruneInterval, v)
		}},
		{"disable-after", "120h", "disable a webhook with failed attempts and no successful one for this long, and email the administrators; 0 never does (a 410 Gone answer disables it at once)", func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return errors.New("want a duration of 0 or more, like 120h")
			}
			c.DisableAfter = d
			return nil
		}},
		{"delivery-timeout", "15s", "time limit of one delivery attempt (connect, send, read the answer)", func(c *Config, v string) error {
			return positiveDuration(&c.DeliveryTimeout, v)
		}},
		{"response-body-limit", "16384", "bytes of each response body kept with the attempt", func(c *Config, v string) error {
			return positiveInt64(&c.ResponseBodyLimit, v)
		}},
		{"max-event-bytes", "262144", "largest accepted body of POST /api/v1/events, and of one event in a batch", func(c *Config, v string) error {
			return positiveInt64(&c.MaxEventBytes, v)
		}},
		{"max-batch-bytes", "4194304", "largest accepted body of POST /api/v1/events/batch", func(c *Config, v string) error {
			return positiveInt64(&c.MaxBatchBytes, v)
		}},
		{"allow-private-networks", "false", "turn the destination guard off: deliver to loopback, private and link-local addresses too (development only)", func(c *Config, v string) error {
			return parseBool(&c.AllowPrivateNetworks, v)
		}},
		{"concurrency", "512", "delivery attempts in flight over all webhooks", func(c *Config, v string) error {
			return positiveInt(&c.Concurrency, v)
		}},
		{"webhook-concurrency", "32", "delivery attempts in flight to one webhook", func(c *Config, v string) error {
			return positiveInt(&c.WebhookConcurrency, v)
		}},
		{"sync", "normal", "SQLite durability: normal (commits survive a process crash) or full (fsync every commit group)", func(c *Config, v string) error {
			if v != "normal" && v != "full" {
				return errors.New("want normal or full")
			}
			c.Sync = v
			return nil
		}},
		{"wal-limit", "67108864", "SQLite: bytes the write-ahead log file is cut back to after each checkpoint, so a burst does not leave it large", func(c *Config, v string) error {
			return positiveInt64(&c.WALLimit, v)
		}},
		{"checkpoints", "writer", "SQLite: who copies the write-ahead log into the database file: writer (in the commit that fills the log; the writer waits) or background (a connection of its own; lower ingest latency at a steady rate, higher when the CPU is saturated)", func(c *Config, v string) error {
			if v != sqlite.CheckpointWriter && v != sqlite.CheckpointBackground {
				return errors.New("want writer or background")
			}
			c.Checkpoints = v
			return nil
		}},
		{"log-level", "info", "debug, info, warn or error", func(c *Config, v string) error {
			return c.LogLevel.UnmarshalText([]byte(v))
		}},
		{"log-format", "text", "text or json", func(c *Config, v string) error {
			if v != "text" && v != "json" {
				return errors.New("want text or json")
			}
			c.LogFormat = v
			return nil
		}},
		{"base-url", "", "URL where admins reach this server: links in alert emails, the admin UI's origin, Secure cookies when https (default http:// + the listen address)", func(c *Config, v string) error {
			return parseBaseURL(&c.BaseURL, v)
		}},
		{"pprof-addr", "", "serve runtime profiles (net/http/pprof) on this host:port, e.g. 127.0.0.1:6060; empty: off", func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			if _, _, err := net.SplitHostPort(v); err != nil {
				return errors.New("want host:port, e.g. 127.0.0.1:6060, or empty")
			}
			c.PprofAddr = v
			return nil
		}},
	}
	all = append(all, hardeningSettings()...)
	all = append(all, opsSettings()...)
	return append(all, alertSettings()...)
}

// allSettings is every setting: the server's and the admin UI's.
func allSettings() []setting { return append(settings(), uiSettings()...) }

// envName is the environment variable behind a flag.
func envName(flagName string) string {
	return "HOOKRELAY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseConfig reads flags over environment defaults and validates everything, so that a bad
// setting stops the process before anything is opened, with a message naming the setting.
// Asked for help, it prints the settings to stdout and returns flag.ErrHelp.
func parseConfig(args []string, getenv func(string) string, stdout io.Writer) (Config, error) {
	fs := flag.NewFlagSet("hookrelay serve", flag.ContinueOnError)
	all := allSettings()
	values := make([]*string, len(all))
	for i, s := range all {
		// The documented default, not the environment's value: --help must not print a
		// token or password from the environment.
		values[i] = fs.String(s.name, s.def, s.usage+" ("+envName(s.name)+")")
	}
	if err := parseFlags(fs, args, serveUsage, stdout); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, usageError{fmt.Errorf("unexpected argument %q (see 'hookrelay serve --help')", fs.Arg(0))}
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	var cfg Config
	var errs []error
	for i, s := range all {
		v := *values[i]
		if e, ok := lookup(getenv, envName(s.name)); ok && !onCommandLine[s.name] {
			v = e
		}
		if err := s.set(&cfg, strings.TrimSpace(v)); err != nil {
			errs = append(errs, fmt.Errorf("invalid %s (--%s): %w", envName(s.name), s.name, err))
		}
	}
	errs = append(errs, resolveSecrets(&cfg, getenv)...)
	errs = append(errs, resolveMetricsToken(&cfg)...)
	if cfg.IngestToken != "" && cfg.IngestToken == cfg.AdminToken {
		errs = append(errs, errors.New("invalid HOOKRELAY_ADMIN_TOKEN (--admin-token): must differ from the ingest token"))
	}
	errs = append(errs, cfg.Alert.finish(getenv)...)
	errs = append(errs, checkUIConfig(cfg)...)
	return cfg, errors.Join(errs...)
}

const serveUsage = `Usage: hookrelay [serve] [flags]

Runs the webhook delivery server: the ingest and management API, the admin UI and the
delivery engine, over one SQLite database. It stops cleanly on SIGINT or SIGTERM.

Every flag can be set instead by the environment variable in parentheses (the flag wins).
HOOKRELAY_ENCRYPTION_KEY, the key that encrypts webhook secrets, is an environment variable
only (or --encryption-key-file), so that it never shows in the process list.
`

func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// encryptionKeyEnv is the only setting without a flag: a key on the command line would show
// in the process list. HOOKRELAY_ENCRYPTION_KEY_FILE (--encryption-key-file) is the other way
// to give it.
const encryptionKeyEnv = "HOOKRELAY_ENCRYPTION_KEY"

// resolveSecrets reads the tokens and the encryption key, each given as a value or as a file
// (never both), and checks them. Messages name the setting and never contain a secret.
func resolveSecrets(cfg *Config, getenv func(string) string) []error {
	var errs []error
	for _, tok := range []struct {
		name  string // the value's setting; the file's is name + "-file"
		value *string
		file  string
	}{
		{"ingest-token", &cfg.IngestToken, cfg.IngestTokenFile},
		{"admin-token", &cfg.AdminToken, cfg.AdminTokenFile},
	} {
		v, err := valueOrFile(*tok.value, tok.file, envName(tok.name))
		if err != nil {
			errs = append(errs, fmt.Errorf("invalid %s (--%s-file): %w", envName(tok.name+"-file"), tok.name, err))
			continue
		}
		*tok.value = v
		if err := checkToken(v); err != nil {
			errs = append(errs, fmt.Errorf("invalid %s (--%s): %w", envName(tok.name), tok.name, err))
		}
	}
	key, err := encryptionKey(getenv, cfg.EncryptionKeyFile)
	if err != nil {
		return append(errs, err)
	}
	cfg.EncryptionKey = key
	return errs
}

// encryptionKey reads the webhook secret encryption key from HOOKRELAY_ENCRYPTION_KEY or
// from file (HOOKRELAY_ENCRYPTION_KEY_FILE); nil when neither is set.
func encryptionKey(getenv func(string) string, file string) ([]byte, error) {
	raw, err := valueOrFile(strings.TrimSpace(getenv(encryptionKeyEnv)), file, encryptionKeyEnv)
	if err != nil {
		return nil, fmt.Errorf("invalid %s_FILE (--encryption-key-file): %w", encryptionKeyEnv, err)
	}
	if raw == "" {
		return nil, nil
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) != db.EncryptionKeySize {
		n := ""
		if err == nil {
			n = fmt.Sprintf(", got %d bytes", len(key))
		}
		return nil, fmt.Errorf("invalid %s: want the base64 encoding of %d random bytes, e.g. from `openssl rand -base64 32`%s",
			encryptionKeyEnv, db.EncryptionKeySize, n)
	}
	return key, nil
}

// valueOrFile returns value, or the trimmed content of file when one is named. Setting both
// is an error: which one wins would be a guess.
func valueOrFile(value, file, valueName string) (string, error) {
	if file == "" {
		return value, nil
	}
	if value != "" {
		return "", fmt.Errorf("%s is set too; give the value or the file, not both", valueName)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s is empty", file)
	}
	return v, nil
}

func checkToken(v string) error {
	if v == "" {
		return errors.New("required (see README: Quick start)")
	}
	if len(v) < 16 {
		return errors.New("must be at least 16 characters")
	}
	return nil
}

// nonNegativeDuration parses a duration of 0 or more (0 turns the feature off).
func nonNegativeDuration(dst *time.Duration, v, example string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return fmt.Errorf("want a duration of 0 or more, like %s", example)
	}
	*dst = d
	return nil
}

func positiveDuration(dst *time.Duration, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return errors.New("want a positive duration such as 15s")
	}
	*dst = d
	return nil
}

func positiveInt64(dst *int64, v string) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return errors.New("want a positive whole number")
	}
	*dst = n
	return nil
}

func positiveInt(dst *int, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return errors.New("want a positive whole number")
	}
	*dst = n
	return nil
}
