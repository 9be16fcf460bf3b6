package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"hookrelay/delivery"
)

// Config is every setting of the server. Each is a flag (--name) whose default comes from
// the environment variable HOOKRELAY_NAME (dashes become underscores).
type Config struct {
	Addr                 string
	DBPath               string
	IngestToken          string
	AdminToken           string
	RetrySchedule        []time.Duration
	RetryJitter          float64
	DeliveryTimeout      time.Duration
	ResponseBodyLimit    int64
	MaxEventBytes        int64
	MaxBatchBytes        int64
	AllowPrivateNetworks bool
	Concurrency          int
	WebhookConcurrency   int
	Sync                 string
	LogLevel             slog.Level
	LogFormat            string
	PprofAddr            string
}

// setting describes one flag/env pair for parsing and for the usage text.
type setting struct {
	name, def, usage string
	set              func(cfg *Config, v string) error
}

func settings() []setting {
	return []setting{
		{"addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)", func(c *Config, v string) error {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return errors.New("want host:port, e.g. 127.0.0.1:8080")
			}
			c.Addr = v
			return nil
		}},
		{"db", "hookrelay.db", "path of the SQLite database file (created if missing)", func(c *Config, v string) error {
			if v == "" {
				return errors.New("must not be empty")
			}
			c.DBPath = v
			return nil
		}},
		{"ingest-token", "", "bearer token for the ingest API (POST /api/v1/events); required, at least 16 characters", func(c *Config, v string) error {
			c.IngestToken = v
			return checkToken(v)
		}},
		{"admin-token", "", "bearer token for the management API; required, at least 16 characters", func(c *Config, v string) error {
			c.AdminToken = v
			return checkToken(v)
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
		{"allow-private-networks", "false", "deliver to loopback and private addresses (reserved for the destination guard)", func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("want true or false")
			}
			c.AllowPrivateNetworks = b
			return nil
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
}

// envName is the environment variable behind a flag.
func envName(flagName string) string {
	return "HOOKRELAY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseConfig reads flags over environment defaults and validates everything, so that a bad
// setting stops the process before anything is opened, with a message naming the setting.
func parseConfig(args []string, getenv func(string) string, usageOut io.Writer) (Config, error) {
	fs := flag.NewFlagSet("hookrelay", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	all := settings()
	values := make([]*string, len(all))
	for i, s := range all {
		def := s.def
		if v, ok := lookup(getenv, envName(s.name)); ok {
			def = v
		}
		values[i] = fs.String(s.name, def, s.usage+" ("+envName(s.name)+")")
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var cfg Config
	var errs []error
	for i, s := range all {
		if err := s.set(&cfg, strings.TrimSpace(*values[i])); err != nil {
			errs = append(errs, fmt.Errorf("invalid %s (--%s): %w", envName(s.name), s.name, err))
		}
	}
	if cfg.IngestToken != "" && cfg.IngestToken == cfg.AdminToken {
		errs = append(errs, errors.New("invalid HOOKRELAY_ADMIN_TOKEN (--admin-token): must differ from the ingest token"))
	}
	return cfg, errors.Join(errs...)
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
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
