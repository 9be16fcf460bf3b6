package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPprofAddrIsOffByDefaultAndValidated(t *testing.T) {
	t.Parallel()
	cfg, err := parseConfig(nil, env(validEnv), io.Discard)
	require.NoError(t, err)
	assert.Empty(t, cfg.PprofAddr)

	cfg, err = parseConfig(nil, env(with(validEnv, "HOOKRELAY_PPROF_ADDR", "127.0.0.1:6060")), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:6060", cfg.PprofAddr)

	_, err = parseConfig([]string{"--pprof-addr", "6060"}, env(validEnv), io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HOOKRELAY_PPROF_ADDR (--pprof-addr)")
}

func TestServePprofServesProfilesUntilCancelled(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	ln, err := listenPprof("127.0.0.1:0")
	require.NoError(t, err)
	servePprof(ctx, ln, &wg, logger)
	mu.Lock()
	m := regexp.MustCompile(`pprof listening on (http://[0-9.:]+)/debug/pprof/`).FindStringSubmatch(logs.String())
	mu.Unlock()
	require.NotNil(t, m, "log: %s", logs.String())

	resp, err := http.Get(m[1] + "/debug/pprof/cmdline")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.NotEmpty(t, body)

	cancel()
	wg.Wait()
	_, err = http.Get(m[1] + "/debug/pprof/cmdline")
	assert.Error(t, err, "the listener closes with the context")
}

func TestStartPprofOffWhenEmpty(t *testing.T) {
	t.Parallel()
	ln, err := listenPprof("")
	require.NoError(t, err)
	assert.Nil(t, ln)
	var wg sync.WaitGroup
	servePprof(t.Context(), ln, &wg, slog.New(slog.DiscardHandler))
	wg.Wait() // nothing was started
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
