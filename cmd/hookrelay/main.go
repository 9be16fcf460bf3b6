// Command hookrelay is the webhook delivery server: the ingest and management API, the
// delivery engine and the SQLite store in one process.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hookrelay/hookrelay/alert"
	"github.com/hookrelay/hookrelay/delivery"
	"github.com/hookrelay/hookrelay/handlers"
	"github.com/hookrelay/hookrelay/metrics"
	"github.com/hookrelay/hookrelay/retention"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, os.Args[1:], process{getenv: os.Getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr})
	stop()
	os.Exit(code)
}

// run is `hookrelay serve` without the process: tests call it with their own args,
// environment and output, and stop it by cancelling ctx.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, _ io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	logger := newLogger(stdout, cfg)
	logger.Info("starting", "version", version, "commit", currentBuild().Commit, "db", redactDSN(cfg.DBPath), "secrets_encrypted", cfg.EncryptionKey != nil)

	// Bind first: a taken port fails now, before the database file is created or migrated,
	// and ":0" reports the real port.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	pprofLn, err := listenPprof(cfg.PprofAddr)
	if err != nil {
		return err
	}
	if pprofLn != nil {
		defer pprofLn.Close()
	}
	metricsLn, err := listenMetrics(cfg.MetricsAddr)
	if err != nil {
		return err
	}
	if metricsLn != nil {
		defer metricsLn.Close()
	}

	store, err := openStore(ctx, cfg.DBPath, storeOptions{Sync: cfg.Sync, Checkpoints: cfg.Checkpoints, WALLimit: cfg.WALLimit, MaxConns: cfg.DBMaxConns, EncryptionKey: cfg.EncryptionKey})
	if err != nil {
		return err
	}
	defer store.Close()
	if err := createFirstAdmin(ctx, cfg, store, logger); err != nil {
		return fmt.Errorf("create the first admin: %w", err)
	}

	// One registry per server, made here and handed down: no component registers anything
	// globally, and each reports through its own small interface.
	reg := metrics.NewRegistry()
	meters, err := metrics.New(reg, metrics.Options{Version: version, PerWebhook: cfg.MetricsPerWebhook, Queue: store})
	if err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	metricsHandler := metrics.Handler(reg, slog.NewLogLogger(logger.With("component", "metrics").Handler(), slog.LevelError))

	g := newGuard(cfg)
	if cfg.AllowPrivateNetworks {
		logger.Warn("destination guard is off (HOOKRELAY_ALLOW_PRIVATE_NETWORKS=true): deliveries may reach loopback, " +
			"private and link-local addresses; use this for development only")
	}
	// One name per process among the instances sharing the store, for the leases of the
	// work that runs on one instance at a time (the rescuer, the pruner).
	instance := instanceName()
	logger.Info("instance", "instance", instance)
	engine := delivery.NewEngine(store, delivery.Options{
		Instance:       instance,
		ResyncInterval: resyncInterval(cfg.DBPath),
		Client: delivery.NewClient(delivery.ClientOptions{
			MaxConnsPerHost: cfg.WebhookConcurrency,
			MaxIdleConns:    cfg.Concurrency,
			Control:         g.Control,
			HTTPSOnly:       cfg.HTTPSOnly,
		}),
		Policy:             delivery.Policy{Schedule: cfg.RetrySchedule, Jitter: cfg.RetryJitter, RetryAfterMax: cfg.RetryAfterMax},
		DisableAfter:       cfg.DisableAfter,
		Timeout:            cfg.DeliveryTimeout,
		ResponseBodyLimit:  cfg.ResponseBodyLimit,
		Concurrency:        cfg.Concurrency,
		WebhookConcurrency: cfg.WebhookConcurrency,
		UserAgent:          "github.com/hookrelay/hookrelay/" + version,
		Logger:             logger.With("component", "delivery"),
		Metrics:            meters,
	})
	pruner := retention.New(store, retention.Options{
		Retention:      cfg.Retention,
		IdempotencyTTL: cfg.IdempotencyTTL,
		SessionTTL:     cfg.SessionTTL,
		Interval:       cfg.PruneInterval,
		Instance:       instance,
		Logger:         logger.With("component", "retention"),
		Metrics:        meters,
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
		MaxCustomHeaders:        cfg.MaxCustomHeaders,
		MaxCustomHeaderBytes:    cfg.MaxCustomHeaderBytes,
		CheckURL:                g.CheckURL,

		Metrics:        meters,
		MetricsHandler: metricsHandler,
		MetricsToken:   cfg.MetricsToken,
		Engine:         engine,
		EngineStall:    cfg.ReadyEngineStall,
	}
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
		Metrics:    meters,
	})
	srv.AlertEmail = alerts
	hs := newHTTPServer(cfg, srv.Routes(), logger)
	logger.Info("listening on http://" + ln.Addr().String())
	logger.Info("admin UI at " + baseURL + "/")
	// Everything is set up and the socket is bound: connections from now on wait in its
	// backlog until Serve accepts them a moment later, so the server counts as ready.
	if cfg.AddrFile != "" {
		if err := writeAddrFile(cfg.AddrFile, ln.Addr().String()); err != nil {
			return err
		}
		defer os.Remove(cfg.AddrFile) // a file left behind would announce a server that is gone
	}

	// A failing listener must stop the engine too, so everything hangs off one cancel.
	ctx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	var wg sync.WaitGroup
	servePprof(ctx, pprofLn, &wg, logger)
	serveMetrics(ctx, metricsLn, metricsHandler, &wg, logger)
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
	wg.Go(func() {
		if err := pruner.Run(ctx); err != nil {
			logger.Error("pruner stopped", "err", err)
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
func alertRecipients(static []string, store store) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		if len(static) > 0 {
			return static, nil
		}
		// Read at each call, so an admin added with `hookrelay admin create` gets the next alert.
		return store.ListUserEmails(ctx)
	}
}

// writeAddrFile writes addr to path atomically (a temporary file renamed over it), so whoever
// waits for the file reads the whole address or nothing.
func writeAddrFile(path, addr string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write the address file: %w", err)
	}
	_, err = f.WriteString(addr + "\n")
	err = errors.Join(err, f.Chmod(0o644), f.Close())
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write the address file %s: %w", path, err)
	}
	return nil
}

func newLogger(w io.Writer, cfg Config) *slog.Logger {
	o := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// instanceName names this process: host and pid for whoever reads the leases, and random
// bits so that a restarted process with the same pid is not taken for its predecessor.
func instanceName() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), rand.Text()[:8])
}
