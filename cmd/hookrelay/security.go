package main

import (
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/hookrelay/hookrelay/guard"
)

// Hardening is the part of Config that bounds what the server accepts and where deliveries
// may go (README: Security).
type Hardening struct {
	// AllowedCIDRs may be reached by deliveries although the destination guard refuses
	// private addresses.
	AllowedCIDRs []netip.Prefix
	// HTTPSOnly refuses http:// webhook URLs when they are saved and when they are delivered.
	HTTPSOnly bool

	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int

	MaxBatchEvents          int
	MaxAdminBodyBytes       int64
	MaxURLLength            int
	MaxEventTypes           int
	MaxDescriptionLength    int
	MaxWorkflowIDLength     int
	MaxIdempotencyKeyLength int
	MaxCustomHeaders        int
	MaxCustomHeaderBytes    int
}

// hardeningSettings are the settings of the destination guard, the HTTP server's timeouts
// and the API's input limits.
func hardeningSettings() []setting {
	h := func(c *Config) *Hardening { return &c.Hardening }
	return []setting{
		{"allowed-cidrs", "", "comma-separated CIDR ranges deliveries may reach although the destination guard refuses private addresses, e.g. 10.1.0.0/16,fd00:1::/48", func(c *Config, v string) error {
			p, err := guard.ParseCIDRs(v)
			h(c).AllowedCIDRs = p
			return err
		}},
		{"https-only", "false", "refuse http:// webhook URLs, when saved and when delivered", func(c *Config, v string) error {
			return parseBool(&h(c).HTTPSOnly, v)
		}},
		{"read-header-timeout", "10s", "time a client has to send the request headers", func(c *Config, v string) error {
			return positiveDuration(&h(c).ReadHeaderTimeout, v)
		}},
		{"read-timeout", "60s", "time a client has to send a whole request, body included", func(c *Config, v string) error {
			return positiveDuration(&h(c).ReadTimeout, v)
		}},
		{"write-timeout", "60s", "time to answer a request, from the end of its headers", func(c *Config, v string) error {
			return positiveDuration(&h(c).WriteTimeout, v)
		}},
		{"idle-timeout", "120s", "how long an idle keep-alive connection stays open", func(c *Config, v string) error {
			return positiveDuration(&h(c).IdleTimeout, v)
		}},
		{"max-header-bytes", "65536", "largest request header block (request line and headers) in bytes; larger gets 431", func(c *Config, v string) error {
			return positiveInt(&h(c).MaxHeaderBytes, v)
		}},
		{"max-batch-events", "100", "most events in one POST /api/v1/events/batch", func(c *Config, v string) error {
			return positiveInt(&h(c).MaxBatchEvents, v)
		}},
		{"max-admin-body-bytes", "65536", "largest body of a management API request (webhook create and edit)", func(c *Config, v string) error {
			return positiveInt64(&h(c).MaxAdminBodyBytes, v)
		}},
		{"max-url-length", "2048", "longest webhook URL in bytes", func(c *Config, v string) error {
			return positiveInt(&h(c).MaxURLLength, v)
		}},
		{"max-event-types", "64", "most event-type patterns one webhook may list", func(c *Config, v string) error {
			return positiveInt(&h(c).MaxEventTypes, v)
		}},
		{"max-description-length", "1024", "longest webhook description in characters", func(c *Config, v string) error {
			return positiveInt(&h(c).MaxDescriptionLength, v)
		}},
		{"max-workflow-id-length", "256", "longest workflowId of an event in characters", func(c *Config, v string) error {
			return positiveInt(&h(c).MaxWorkflowIDLength, v)
		}},
		{"max-idempotency-key-length", "255", "longest idempotency key in characters", func(c *Config, v string) error {
			return positiveInt(&h(c).MaxIdempotencyKeyLength, v)
		}},
		{"max-custom-headers", "20", "most custom headers one webhook may send", func(c *Config, v string) error {
			return positiveInt(&h(c).MaxCustomHeaders, v)
		}},
		{"max-custom-header-bytes", "1024", "longest value of a webhook's custom header, in bytes", func(c *Config, v string) error {
			return positiveInt(&h(c).MaxCustomHeaderBytes, v)
		}},
	}
}

func parseBool(dst *bool, v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return errors.New("want true or false")
	}
	*dst = b
	return nil
}

// newGuard is the destination guard the settings describe.
func newGuard(cfg Config) *guard.Guard {
	return &guard.Guard{AllowPrivate: cfg.AllowPrivateNetworks, Allowed: cfg.AllowedCIDRs, HTTPSOnly: cfg.HTTPSOnly}
}

// newHTTPServer is the HTTP server with the configured timeouts and header limit, so that a
// slow or oversized client cannot hold a connection or memory for long.
func newHTTPServer(cfg Config, h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}
