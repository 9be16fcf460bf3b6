// Command hookrelay is the webhook delivery server: the ingest and management API, the
// delivery engine and the SQLite store in one process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/hookrelay/hookrelay/alert"
	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/sqlite"
	"github.com/hookrelay/hookrelay/delivery"
	"github.com/hookrelay/hookrelay/handlers"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if len(os.Args) > 1 && os.Args[1] == "admin" {
		err = runAdmin(ctx, os.Args[2:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	} else {
		err = run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookrelay:", err)
		os.Exit(1)
	}
}

// run is main without the process: tests call it with their own args, environment and
// output, and stop it by cancelling ctx.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "listen" {
		return runListen(ctx, args[1:], getenv, stdout, stderr)
	}
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger := newLogger(stdout, cfg)
	logger.Info("starting", "version", version, "db", cfg.DBPath, "secrets_encrypted", cfg.EncryptionKey != nil)

	store, err := sqlite.Open(ctx, cfg.DBPath, sqlite.Options{Sync: cfg.Sync, EncryptionKey: cfg.EncryptionKey})
	switch {
	case errors.Is(err, db.ErrEncryptionKeyRequired):
		return fmt.Errorf("open database %s: %w: set %s to the key they were encrypted with", cfg.DBPath, err, encryptionKeyEnv)
	case errors.Is(err, db.ErrEncryptionKeyWrong):
		return fmt.Errorf("open database %s: %w: check %s", cfg.DBPath, err, encryptionKeyEnv)
	case err != nil:
		return fmt.Errorf("open database %s: %w", cfg.DBPath, err)
	}
	defer store.Close()
	if err := createFirstAdmin(ctx, cfg, store, logger); err != nil {
		return fmt.Errorf("create the first admin: %w", err)
	}

	g := newGuard(cfg)
	if cfg.AllowPrivateNetworks {
		logger.Warn("destination guard is off (HOOKRELAY_ALLOW_PRIVATE_NETWORKS=true): deliveries may reach loopback, " +
			"private and link-local addresses; use this for development only")
	}
	engine := delivery.NewEngine(store, delivery.Options{
		Client: delivery.NewClient(delivery.ClientOptions{
			MaxConnsPerHost: cfg.WebhookConcurrency,
			MaxIdleConns:    cfg.Concurrency,
			Control:         g.Control,
			HTTPSOnly:       cfg.HTTPSOnly,
		}),
		Policy:             delivery.Policy{Schedule: cfg.RetrySchedule, Jitter: cfg.RetryJitter},
		Timeout:            cfg.DeliveryTimeout,
		ResponseBodyLimit:  cfg.ResponseBodyLimit,
		Concurrency:        cfg.Concurrency,
		WebhookConcurrency: cfg.WebhookConcurrency,
		UserAgent:          "github.com/hookrelay/hookrelay/" + version,
		Logger:             logger.With("component", "delivery"),
	})
	srv := &handlers.Server{
		DB:            store,
		Logger:        logger.With("component", "http"),
		IngestToken:   cfg.IngestToken,
		AdminToken:    cfg.AdminToken,
		MaxEventBytes: cfg.MaxEventBytes,
		MaxBatchBytes: cfg.MaxBatchBytes,
		Version:       version,

		MaxBatchEvents:          cfg.MaxBatchEvents,
		MaxAdminBodyBytes:       cfg.MaxAdminBodyBytes,
		MaxURLLength:            cfg.MaxURLLength,
		MaxEventTypes:           cfg.MaxEventTypes,
		MaxDescriptionLength:    cfg.MaxDescriptionLength,
		MaxWorkflowIDLength:     cfg.MaxWorkflowIDLength,
		MaxIdempotencyKeyLength: cfg.MaxIdempotencyKeyLength,
		CheckURL:                g.CheckURL,
	}

	// Bind before serving so that a taken port fails now, and ":0" reports the real port.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	baseURL := cfg.BaseURL
	if baseURL == "" { // the bound address, so that links work with port 0 too
		baseURL = "http://" + ln.Addr().String()
	}
	if srv.UI, err = uiConfig(ctx, cfg, store, baseURL); err != nil {
		return err
	}
	alerts := alert.NewSender(store, alert.Options{
		Mailer:     cfg.Alert.mailer(),
		Recipients: alertRecipients(cfg.Alert.Emails, store),
		Window:     cfg.Alert.Window,
		BaseURL:    baseURL,
		Logger:     logger.With("component", "alert"),
	})
	srv.AlertEmail = alerts
	hs := newHTTPServer(cfg, srv.Routes(), logger)
	logger.Info("listening on http://" + ln.Addr().String())
	logger.Info("admin UI at " + baseURL + "/")

	// A failing listener must stop the engine too, so everything hangs off one cancel.
	ctx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	var wg sync.WaitGroup
	if err := startPprof(ctx, cfg.PprofAddr, &wg, logger); err != nil {
		return err
	}
	wg.Go(func() {
		if err := engine.Run(ctx); err != nil {
			logger.Error("delivery engine stopped", "err", err)
		}
	})
	wg.Go(func() {
		if err := alerts.Run(ctx); err != nil {
			logger.Error("alert sender stopped", "err", err)
		}
	})
	serveErr := make(chan error, 1)
	wg.Go(func() {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	})

	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("serve http: %w", err)
		cancelRun()
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err = errors.Join(err, hs.Shutdown(sctx))
	wg.Wait() // the engine returns once its in-flight attempts are recorded
	logger.Info("stopped")
	return err
}

// alertRecipients returns who gets failure alerts: HOOKRELAY_ALERT_EMAILS when set, otherwise
// every admin user.
func alertRecipients(static []string, store *sqlite.DB) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		if len(static) > 0 {
			return static, nil
		}
		// Read at each call, so an admin added with `hookrelay admin create` gets the next alert.
		return store.ListUserEmails(ctx)
	}
}

func newLogger(w io.Writer, cfg Config) *slog.Logger {
	o := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}
