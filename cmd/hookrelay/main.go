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

	"hookrelay/db"
	"hookrelay/delivery"
	"hookrelay/handlers"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
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
	logger.Info("starting", "version", version, "db", cfg.DBPath)

	store, err := db.Open(ctx, cfg.DBPath, db.Options{Sync: cfg.Sync})
	if err != nil {
		return fmt.Errorf("open database %s: %w", cfg.DBPath, err)
	}
	defer store.Close()

	engine := delivery.NewEngine(store, delivery.Options{
		Policy:             delivery.Policy{Schedule: cfg.RetrySchedule, Jitter: cfg.RetryJitter},
		Timeout:            cfg.DeliveryTimeout,
		ResponseBodyLimit:  cfg.ResponseBodyLimit,
		Concurrency:        cfg.Concurrency,
		WebhookConcurrency: cfg.WebhookConcurrency,
		UserAgent:          "hookrelay/" + version,
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
	}

	// Bind before serving so that a taken port fails now, and ":0" reports the real port.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	hs := &http.Server{
		Handler:           srv.Routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("listening on http://" + ln.Addr().String())

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

func newLogger(w io.Writer, cfg Config) *slog.Logger {
	o := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}
