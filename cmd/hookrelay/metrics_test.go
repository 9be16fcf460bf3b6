package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/internal/pgtest"
)

func TestMetricsSettings(t *testing.T) {
	t.Parallel()
	cfg, err := parseConfig(nil, env(validEnv), io.Discard)
	require.NoError(t, err)
	assert.Empty(t, cfg.MetricsAddr)
	assert.Empty(t, cfg.MetricsToken)
	assert.False(t, cfg.MetricsPerWebhook)
	assert.Equal(t, 2*time.Minute, cfg.ReadyEngineStall)

	file := filepath.Join(t.TempDir(), "metrics-token")
	require.NoError(t, os.WriteFile(file, []byte("  metrics-token-from-a-file\n"), 0o600))
	cfg, err = parseConfig([]string{"--metrics-addr", "127.0.0.1:9464", "--metrics-per-webhook", "true", "--ready-engine-stall", "30s"},
		env(with(validEnv, "HOOKRELAY_METRICS_TOKEN_FILE", file)), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9464", cfg.MetricsAddr)
	assert.Equal(t, "metrics-token-from-a-file", cfg.MetricsToken)
	assert.True(t, cfg.MetricsPerWebhook)
	assert.Equal(t, 30*time.Second, cfg.ReadyEngineStall)

	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"address without a port", with(validEnv, "HOOKRELAY_METRICS_ADDR", "9464"), "HOOKRELAY_METRICS_ADDR (--metrics-addr)"},
		{"short token", with(validEnv, "HOOKRELAY_METRICS_TOKEN", "short"), "HOOKRELAY_METRICS_TOKEN (--metrics-token): must be at least 16"},
		{"the ingest token", with(validEnv, "HOOKRELAY_METRICS_TOKEN", validEnv["HOOKRELAY_INGEST_TOKEN"]), "must differ from the ingest token"},
		{"token and file", with(validEnv, "HOOKRELAY_METRICS_TOKEN", "metrics-token-0123456789", "HOOKRELAY_METRICS_TOKEN_FILE", file), "HOOKRELAY_METRICS_TOKEN_FILE"},
		{"missing file", with(validEnv, "HOOKRELAY_METRICS_TOKEN_FILE", file+".gone"), "HOOKRELAY_METRICS_TOKEN_FILE"},
		{"per webhook not a bool", with(validEnv, "HOOKRELAY_METRICS_PER_WEBHOOK", "yes please"), "HOOKRELAY_METRICS_PER_WEBHOOK"},
		{"stall not a duration", with(validEnv, "HOOKRELAY_READY_ENGINE_STALL", "0"), "HOOKRELAY_READY_ENGINE_STALL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig(nil, env(tc.env), io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "metrics-token-from-a-file", "a secret is never in a message")
		})
	}
}

// startRunLogging runs the server in-process like startRun, and also returns the first
// submatch of re in its log.
func startRunLogging(t *testing.T, args []string, e map[string]string, re *regexp.Regexp) (url, match string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, args, env(e), pw, io.Discard)
		pw.Close()
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	main := regexp.MustCompile(`"listening on (http://127\.0\.0\.1:\d+)"`)
	sc := bufio.NewScanner(pr)
	for sc.Scan() && (url == "" || match == "") {
		if m := main.FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
		}
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			match = m[1]
		}
	}
	go io.Copy(io.Discard, pr)
	require.NotEmpty(t, url, "the server did not report its address")
	require.NotEmpty(t, match, "the log has no %s", re)
	return url, match
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestServerServesMetricsOnBothAddresses(t *testing.T) {
	t.Parallel()
	e := with(validEnv, "HOOKRELAY_METRICS_TOKEN", "metrics-token-0123456789")
	url, metricsURL := startRunLogging(t, []string{"--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
		"--db", filepath.Join(t.TempDir(), "hookrelay.db")}, e, regexp.MustCompile(`metrics listening on (http://[0-9.:]+/metrics)`))

	code, body := get(t, metricsURL, "")
	assert.Equal(t, http.StatusOK, code, "the separate address needs no token")
	for _, want := range []string{`hookrelay_build_info{version="dev"} 1`, `hookrelay_deliveries{status="pending"} 0`,
		"go_goroutines", "process_cpu_seconds_total"} {
		assert.Contains(t, body, want)
	}
	code, _ = get(t, strings.TrimSuffix(metricsURL, "/metrics")+"/api/v1/webhooks", e["HOOKRELAY_ADMIN_TOKEN"])
	assert.Equal(t, http.StatusNotFound, code, "the separate address serves the metrics only")

	code, _ = get(t, url+"/metrics", "")
	assert.Equal(t, http.StatusUnauthorized, code)
	code, _ = get(t, url+"/metrics", e["HOOKRELAY_INGEST_TOKEN"])
	assert.Equal(t, http.StatusForbidden, code, "the ingest token's role does not read")
	for _, tok := range []string{e["HOOKRELAY_ADMIN_TOKEN"], e["HOOKRELAY_METRICS_TOKEN"]} {
		code, body = get(t, url+"/metrics", tok)
		assert.Equal(t, http.StatusOK, code)
		assert.Contains(t, body, "hookrelay_events_ingested_total 0")
	}

	// /readyz checks the real engine, which turns.
	code, body = get(t, url+"/readyz", "")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `"checks":{"database":"ok","engine":"ok"}`)
}

func TestATakenMetricsAddressFailsBeforeTheDatabaseIsOpened(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	dbPath := filepath.Join(t.TempDir(), "hookrelay.db")
	err = run(t.Context(), []string{"--addr", "127.0.0.1:0", "--metrics-addr", ln.Addr().String(), "--db", dbPath},
		env(validEnv), io.Discard, io.Discard)
	require.ErrorContains(t, err, "listen for metrics on "+ln.Addr().String())
	_, statErr := os.Stat(dbPath)
	assert.True(t, os.IsNotExist(statErr), "no database is created when a port is taken")
}

// On PostgreSQL too the gauges come from the store and /readyz checks the engine.
func TestMetricsAndReadinessOnPostgres(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("webhook-id")
	}))
	defer rcv.Close()
	s := startCapturing(t, []string{"--addr", "127.0.0.1:0", "--db", pgtest.URL(t)},
		with(validEnv, "HOOKRELAY_ALLOW_PRIVATE_NETWORKS", "true"))
	admin, ingest := validEnv["HOOKRELAY_ADMIN_TOKEN"], validEnv["HOOKRELAY_INGEST_TOKEN"]
	require.Equal(t, 201, s.call(t, "POST", "/api/v1/webhooks", admin, `{"url":"`+rcv.URL+`","eventTypes":["*"]}`, nil))
	require.Equal(t, 202, s.call(t, "POST", "/api/v1/events", ingest, `{"eventType":"a.b","data":{}}`, nil))
	<-got

	code, body := get(t, s.url+"/metrics", admin)
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{"\nhookrelay_events_ingested_total 1\n", `hookrelay_deliveries{status="failed"} 0`,
		"hookrelay_oldest_due_delivery_age_seconds "} {
		assert.Contains(t, body, want)
	}
	code, body = get(t, s.url+"/readyz", "")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `"checks":{"database":"ok","engine":"ok"}`)
}
