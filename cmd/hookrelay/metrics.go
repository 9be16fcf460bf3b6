package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// opsSettings are the settings of metrics and readiness (docs/operating.md).
func opsSettings() []setting {
	return []setting{
		{"metrics-addr", "", "also serve GET /metrics on this host:port, without authentication (keep it private), e.g. 127.0.0.1:9464; empty: off. The main address serves it to the admin or metrics token", func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			if _, _, err := net.SplitHostPort(v); err != nil {
				return errors.New("want host:port, e.g. 127.0.0.1:9464, or empty")
			}
			c.MetricsAddr = v
			return nil
		}},
		// Checked in resolveSecrets, once the file is read.
		{"metrics-token", "", "bearer token that opens GET /metrics on the main address and nothing else (the admin token opens it too); at least 16 characters", func(c *Config, v string) error {
			c.MetricsToken = v
			return nil
		}},
		{"metrics-token-file", "", "file holding the metrics token (surrounding whitespace ignored), instead of --metrics-token", func(c *Config, v string) error {
			c.MetricsTokenFile = v
			return nil
		}},
		{"metrics-per-webhook", "false", "label the attempt and finished metrics with webhook_id (one set of series per webhook)", func(c *Config, v string) error {
			return parseBool(&c.MetricsPerWebhook, v)
		}},
		{"ready-engine-stall", "2m", "GET /readyz answers 503 when the delivery engine has completed no turn for this long while deliveries are due", func(c *Config, v string) error {
			return positiveDuration(&c.ReadyEngineStall, v)
		}},
	}
}

// resolveMetricsToken reads the optional metrics token, given as a value or a file.
func resolveMetricsToken(cfg *Config) []error {
	v, err := valueOrFile(cfg.MetricsToken, cfg.MetricsTokenFile, envName("metrics-token"))
	if err != nil {
		return []error{fmt.Errorf("invalid %s (--metrics-token-file): %w", envName("metrics-token-file"), err)}
	}
	cfg.MetricsToken = v
	switch {
	case v == "":
		return nil
	case len(v) < 16:
		return []error{errors.New("invalid HOOKRELAY_METRICS_TOKEN (--metrics-token): must be at least 16 characters")}
	case v == cfg.IngestToken:
		return []error{errors.New("invalid HOOKRELAY_METRICS_TOKEN (--metrics-token): must differ from the ingest token")}
	}
	return nil
}

// listenMetrics binds addr for the metrics, or returns nil when addr is empty. It runs
// before the database is opened, with the main listener, so that a taken port fails first.
func listenMetrics(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics on %s: %w", addr, err)
	}
	return ln, nil
}

// serveMetrics serves h at /metrics on ln, its own listener without authentication, until
// ctx ends; with ln nil it does nothing. Whoever can reach the address reads the metrics,
// which name no secret but tell the load and, with per-webhook labels, the webhook ids: bind
// it to loopback or a private network.
func serveMetrics(ctx context.Context, ln net.Listener, h http.Handler, wg *sync.WaitGroup, logger *slog.Logger) {
	if ln == nil {
		return
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	logger.Info("metrics listening on http://" + ln.Addr().String() + "/metrics")
	wg.Go(func() {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			logger.Error("serve metrics", "err", err)
		}
	})
	wg.Go(func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	})
}
