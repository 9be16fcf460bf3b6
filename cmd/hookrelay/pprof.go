package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"
)

// startPprof serves the runtime profiles of net/http/pprof on their own listener at addr,
// until ctx ends, when addr is set. They are off by default and never on the API's address:
// profiles expose internals, so bind addr to loopback. The bench harness (make bench) uses
// it to take a CPU profile of the server under load.
func startPprof(ctx context.Context, addr string, wg *sync.WaitGroup, logger *slog.Logger) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for pprof on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	logger.Info("pprof listening on http://" + ln.Addr().String() + "/debug/pprof/")
	wg.Go(func() {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			logger.Error("serve pprof", "err", err)
		}
	})
	wg.Go(func() {
		<-ctx.Done()
		hs.Close() // a profile in progress is cut short; nothing durable depends on it
	})
	return nil
}
