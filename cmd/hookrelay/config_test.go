package main

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

var validEnv = map[string]string{
	"HOOKRELAY_INGEST_TOKEN": "ingest-token-0123456789",
	"HOOKRELAY_ADMIN_TOKEN":  "admin-token-0123456789",
}

func with(base map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := parseConfig(nil, env(validEnv), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8080", cfg.Addr)
	assert.Equal(t, "hookrelay.db", cfg.DBPath)
	assert.Equal(t, []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 12 * time.Hour, 24 * time.Hour}, cfg.RetrySchedule)
	assert.Equal(t, 0.1, cfg.RetryJitter)
	assert.Equal(t, 15*time.Second, cfg.DeliveryTimeout)
	assert.Equal(t, int64(16384), cfg.ResponseBodyLimit)
	assert.Equal(t, int64(262144), cfg.MaxEventBytes)
	assert.False(t, cfg.AllowPrivateNetworks)
	assert.Equal(t, 512, cfg.Concurrency)
	assert.Equal(t, 32, cfg.WebhookConcurrency)
	assert.Equal(t, "normal", cfg.Sync)
	assert.Equal(t, slog.LevelInfo, cfg.LogLevel)
	assert.Equal(t, 2160*time.Hour, cfg.Retention)
	assert.Equal(t, 24*time.Hour, cfg.IdempotencyTTL)
	assert.Equal(t, time.Minute, cfg.PruneInterval)
}

func TestConfigEnvAndFlags(t *testing.T) {
	t.Parallel()
	e := with(validEnv,
		"HOOKRELAY_ADDR", "0.0.0.0:9999",
		"HOOKRELAY_RETRY_SCHEDULE", "10s, 1m",
		"HOOKRELAY_RETRY_JITTER", "0",
		"HOOKRELAY_ALLOW_PRIVATE_NETWORKS", "true",
		"HOOKRELAY_DELIVERY_TIMEOUT", "3s",
		"HOOKRELAY_RETENTION", "0",
		"HOOKRELAY_IDEMPOTENCY_TTL", "72h",
		"HOOKRELAY_PRUNE_INTERVAL", "10s",
	)
	cfg, err := parseConfig([]string{"--addr", "127.0.0.1:0", "--response-body-limit=10"}, env(e), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:0", cfg.Addr, "the flag wins over the environment")
	assert.Equal(t, []time.Duration{10 * time.Second, time.Minute}, cfg.RetrySchedule)
	assert.Zero(t, cfg.RetryJitter)
	assert.True(t, cfg.AllowPrivateNetworks)
	assert.Equal(t, 3*time.Second, cfg.DeliveryTimeout)
	assert.Equal(t, int64(10), cfg.ResponseBodyLimit)
	assert.Zero(t, cfg.Retention, "0 keeps everything")
	assert.Equal(t, 72*time.Hour, cfg.IdempotencyTTL)
	assert.Equal(t, 10*time.Second, cfg.PruneInterval)
}

func TestConfigErrorsNameTheSetting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"missing ingest token", with(validEnv, "HOOKRELAY_INGEST_TOKEN", ""), nil, "HOOKRELAY_INGEST_TOKEN (--ingest-token): required"},
		{"short admin token", with(validEnv, "HOOKRELAY_ADMIN_TOKEN", "short"), nil, "HOOKRELAY_ADMIN_TOKEN (--admin-token): must be at least 16"},
		{"same tokens", with(validEnv, "HOOKRELAY_ADMIN_TOKEN", validEnv["HOOKRELAY_INGEST_TOKEN"]), nil, "must differ"},
		{"bad schedule", with(validEnv, "HOOKRELAY_RETRY_SCHEDULE", "1m,soon"), nil, `HOOKRELAY_RETRY_SCHEDULE (--retry-schedule): "soon" is not a duration`},
		{"negative delay", validEnv, []string{"--retry-schedule", "1m,-5m"}, "HOOKRELAY_RETRY_SCHEDULE"},
		{"jitter above 1", with(validEnv, "HOOKRELAY_RETRY_JITTER", "1.5"), nil, "HOOKRELAY_RETRY_JITTER (--retry-jitter)"},
		{"jitter not a number", with(validEnv, "HOOKRELAY_RETRY_JITTER", "lots"), nil, "HOOKRELAY_RETRY_JITTER"},
		{"timeout zero", with(validEnv, "HOOKRELAY_DELIVERY_TIMEOUT", "0s"), nil, "HOOKRELAY_DELIVERY_TIMEOUT (--delivery-timeout)"},
		{"body limit words", with(validEnv, "HOOKRELAY_RESPONSE_BODY_LIMIT", "16k"), nil, "HOOKRELAY_RESPONSE_BODY_LIMIT"},
		{"event bytes negative", with(validEnv, "HOOKRELAY_MAX_EVENT_BYTES", "-1"), nil, "HOOKRELAY_MAX_EVENT_BYTES"},
		{"addr without port", with(validEnv, "HOOKRELAY_ADDR", "localhost"), nil, "HOOKRELAY_ADDR (--addr)"},
		{"addr file in no directory", validEnv, []string{"--addr-file", "/nonexistent/dir/addr"}, "HOOKRELAY_ADDR_FILE (--addr-file): the directory of /nonexistent/dir/addr does not exist"},
		{"private networks not bool", with(validEnv, "HOOKRELAY_ALLOW_PRIVATE_NETWORKS", "maybe"), nil, "HOOKRELAY_ALLOW_PRIVATE_NETWORKS"},
		{"concurrency zero", validEnv, []string{"--concurrency", "0"}, "HOOKRELAY_CONCURRENCY (--concurrency)"},
		{"sync mode", with(validEnv, "HOOKRELAY_SYNC", "sometimes"), nil, "HOOKRELAY_SYNC"},
		{"checkpoint mode", with(validEnv, "HOOKRELAY_CHECKPOINTS", "sometimes"), nil, "HOOKRELAY_CHECKPOINTS"},
		{"log level", with(validEnv, "HOOKRELAY_LOG_LEVEL", "loud"), nil, "HOOKRELAY_LOG_LEVEL"},
		{"negative retention", with(validEnv, "HOOKRELAY_RETENTION", "-1h"), nil, "HOOKRELAY_RETENTION (--retention): want a duration of 0 or more"},
		{"ttl in days", with(validEnv, "HOOKRELAY_IDEMPOTENCY_TTL", "1d"), nil, "HOOKRELAY_IDEMPOTENCY_TTL (--idempotency-ttl)"},
		{"prune interval zero", with(validEnv, "HOOKRELAY_PRUNE_INTERVAL", "0s"), nil, "HOOKRELAY_PRUNE_INTERVAL (--prune-interval)"},
		{"unknown flag", validEnv, []string{"--colour"}, "flag provided but not defined: -colour"},
		{"stray argument", validEnv, []string{"serve"}, `unexpected argument "serve"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig(tc.args, env(tc.env), io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestConfigReportsEveryBadSetting(t *testing.T) {
	t.Parallel()
	_, err := parseConfig(nil, env(with(validEnv, "HOOKRELAY_RETRY_JITTER", "2", "HOOKRELAY_SYNC", "x")), io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HOOKRELAY_RETRY_JITTER")
	assert.Contains(t, err.Error(), "HOOKRELAY_SYNC")
}
