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

// listenPprof binds addr for the runtime profiles, or returns nil when addr is empty. It
// runs before the database is opened, with the API's listener, so that a taken port fails
// first.
func listenPprof(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for pprof on %s: %w", addr, err)
	}
	return ln, nil
}

// servePprof serves the runtime profiles of net/http/pprof on ln, their own listener, until
// ctx ends; with ln nil it does nothing. They are off by default and never on the API's
// address: profiles expose internals, so bind them to loopback. The bench harness
// (make bench) uses them to take a CPU profile of the server under load.
func servePprof(ctx context.Context, ln net.Listener, wg *sync.WaitGroup, logger *slog.Logger) {
	if ln == nil {
		return
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
}
