package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func newEncryptionKey() string {
	k := make([]byte, 32)
	rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

func TestTokensFromFiles(t *testing.T) {
	t.Parallel()
	ingest := writeFile(t, "  ingest-token-from-a-file\n")
	admin := writeFile(t, "admin-token-from-a-file\r\n")
	cfg, err := parseConfig([]string{"--admin-token-file", admin}, env(map[string]string{"HOOKRELAY_INGEST_TOKEN_FILE": ingest}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "ingest-token-from-a-file", cfg.IngestToken, "surrounding whitespace is trimmed")
	assert.Equal(t, "admin-token-from-a-file", cfg.AdminToken)
}

func TestSecretSettingErrors(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nope")
	empty := writeFile(t, "\n")
	short := writeFile(t, "short")
	goodKey := newEncryptionKey()
	shortKey := base64.StdEncoding.EncodeToString(make([]byte, 16))
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		want    string
		secrets []string // must not appear in the message
	}{
		{"token and token file", with(validEnv, "HOOKRELAY_INGEST_TOKEN_FILE", writeFile(t, "ingest-token-from-a-file")), nil,
			"invalid HOOKRELAY_INGEST_TOKEN_FILE (--ingest-token-file): HOOKRELAY_INGEST_TOKEN is set too", []string{"ingest-token-0123456789", "ingest-token-from-a-file"}},
		{"unreadable token file", with(validEnv, "HOOKRELAY_ADMIN_TOKEN", ""), []string{"--admin-token-file", missing},
			"invalid HOOKRELAY_ADMIN_TOKEN_FILE (--admin-token-file): read: open " + missing, nil},
		{"empty token file", with(validEnv, "HOOKRELAY_ADMIN_TOKEN", "", "HOOKRELAY_ADMIN_TOKEN_FILE", empty), nil,
			"invalid HOOKRELAY_ADMIN_TOKEN_FILE (--admin-token-file): " + empty + " is empty", nil},
		{"short token in a file", with(validEnv, "HOOKRELAY_ADMIN_TOKEN", "", "HOOKRELAY_ADMIN_TOKEN_FILE", short), nil,
			"invalid HOOKRELAY_ADMIN_TOKEN (--admin-token): must be at least 16 characters", []string{"short"}},
		{"key not base64", with(validEnv, "HOOKRELAY_ENCRYPTION_KEY", "correct horse battery staple"), nil,
			"invalid HOOKRELAY_ENCRYPTION_KEY: want the base64 encoding of 32 random bytes", []string{"horse"}},
		{"key too short", with(validEnv, "HOOKRELAY_ENCRYPTION_KEY", shortKey), nil,
			"invalid HOOKRELAY_ENCRYPTION_KEY: want the base64 encoding of 32 random bytes, e.g. from `openssl rand -base64 32`, got 16 bytes", []string{shortKey}},
		{"key and key file", with(validEnv, "HOOKRELAY_ENCRYPTION_KEY", goodKey), []string{"--encryption-key-file", writeFile(t, goodKey)},
			"invalid HOOKRELAY_ENCRYPTION_KEY_FILE (--encryption-key-file): HOOKRELAY_ENCRYPTION_KEY is set too", []string{goodKey}},
		{"unreadable key file", with(validEnv, "HOOKRELAY_ENCRYPTION_KEY_FILE", missing), nil,
			"invalid HOOKRELAY_ENCRYPTION_KEY_FILE (--encryption-key-file): read: open " + missing, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig(tc.args, env(tc.env), io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			for _, s := range tc.secrets {
				assert.NotContains(t, err.Error(), s, "the message repeats a secret")
			}
		})
	}
}

func TestEncryptionKeySettings(t *testing.T) {
	t.Parallel()
	key := newEncryptionKey()
	want, _ := base64.StdEncoding.DecodeString(key)
	cfg, err := parseConfig(nil, env(with(validEnv, "HOOKRELAY_ENCRYPTION_KEY", key)), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, want, cfg.EncryptionKey)
	cfg, err = parseConfig([]string{"--encryption-key-file", writeFile(t, key+"\n")}, env(validEnv), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, want, cfg.EncryptionKey)
	cfg, err = parseConfig(nil, env(validEnv), io.Discard)
	require.NoError(t, err)
	assert.Nil(t, cfg.EncryptionKey, "no key: secrets are stored as they are")
}

// syncBuffer collects a server's whole output and reports the address it listens on.
type syncBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	listening chan string // receives the base URL once
	found     bool
}

var listeningRE = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if !b.found {
		if m := listeningRE.FindStringSubmatch(b.buf.String()); m != nil {
			b.found = true
			b.listening <- m[1]
		}
	}
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// server is an in-process hookrelay whose whole output is kept.
type server struct {
	url  string
	out  *syncBuffer
	stop func() error
}

func startCapturing(t *testing.T, args []string, e map[string]string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{listening: make(chan string, 1)}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, env(e), out, out) }()
	var once sync.Once
	var stopErr error
	s := &server{out: out, stop: func() error {
		once.Do(func() { cancel(); stopErr = <-done })
		return stopErr
	}}
	select {
	case s.url = <-out.listening:
	case err := <-done:
		cancel()
		t.Fatalf("server stopped before listening: %v\n%s", err, out)
	}
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *server) call(t *testing.T, method, path, token, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		require.NoError(t, json.Unmarshal(b, out), "%s", b)
	}
	return resp.StatusCode
}

// TestNothingSecretIsLogged runs a server at debug level through a webhook's life (create,
// rotate, deliver, a refused token, a bad request) and looks for every secret in its output.
func TestNothingSecretIsLogged(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 4)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		w.WriteHeader(http.StatusInternalServerError) // a failure gets logged with more detail
	}))
	defer rcv.Close()
	key := newEncryptionKey()
	e := with(validEnv, "HOOKRELAY_ENCRYPTION_KEY", key, "HOOKRELAY_ALLOW_PRIVATE_NETWORKS", "true",
		"HOOKRELAY_LOG_LEVEL", "debug", "HOOKRELAY_RETRY_SCHEDULE", "1h")
	s := startCapturing(t, []string{"--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "h.db")}, e)
	admin, ingest := validEnv["HOOKRELAY_ADMIN_TOKEN"], validEnv["HOOKRELAY_INGEST_TOKEN"]

	var wh struct{ ID, Secret string }
	require.Equal(t, 201, s.call(t, "POST", "/api/v1/webhooks", admin, `{"url":"`+rcv.URL+`","eventTypes":["*"]}`, &wh))
	var rotated struct{ Secret string }
	require.Equal(t, 200, s.call(t, "POST", "/api/v1/webhooks/"+wh.ID+"/secret/rotate", admin, "", &rotated))
	require.Equal(t, 202, s.call(t, "POST", "/api/v1/events", ingest, `{"eventType":"a.b","data":{}}`, nil))
	h := <-got
	require.Equal(t, 403, s.call(t, "GET", "/api/v1/webhooks", ingest, "", nil))
	require.Equal(t, 401, s.call(t, "GET", "/api/v1/webhooks", "hrk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "", nil))
	var apiKey struct{ Key string }
	require.Equal(t, 201, s.call(t, "POST", "/api/v1/api-keys", admin, `{"name":"ci","role":"viewer"}`, &apiKey))
	require.Equal(t, 200, s.call(t, "GET", "/api/v1/webhooks", apiKey.Key, "", nil))
	require.Equal(t, 403, s.call(t, "POST", "/api/v1/events", apiKey.Key, `{"eventType":"a.b","data":{}}`, nil))
	require.Equal(t, 400, s.call(t, "POST", "/api/v1/webhooks/"+wh.ID+"/secret/rotate", admin, `{"secret":"`+rotated.Secret+`"}`, nil))
	require.NoError(t, s.stop())

	out := s.out.String()
	require.Contains(t, out, "http request", "the output holds the request log")
	for name, secret := range map[string]string{
		"admin token": admin, "ingest token": ingest, "encryption key": key, "api key": apiKey.Key,
		"first secret": wh.Secret, "first key": strings.TrimPrefix(wh.Secret, "whsec_"),
		"rotated secret": rotated.Secret, "rotated key": strings.TrimPrefix(rotated.Secret, "whsec_"),
		"signature": strings.Fields(h.Get("webhook-signature"))[0],
	} {
		assert.NotContains(t, out, secret, "the %s appears in the output", name)
	}
}

func TestRestartNeedsTheSameEncryptionKey(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "h.db")
	args := []string{"--addr", "127.0.0.1:0", "--db", dbPath}
	key := newEncryptionKey()
	s := startCapturing(t, args, with(validEnv, "HOOKRELAY_ENCRYPTION_KEY", key))
	var wh struct{ ID, Secret string }
	require.Equal(t, 201, s.call(t, "POST", "/api/v1/webhooks", validEnv["HOOKRELAY_ADMIN_TOKEN"], `{"url":"https://a.test/","eventTypes":["*"]}`, &wh))
	require.NoError(t, s.stop())

	err := run(t.Context(), args, env(validEnv), io.Discard, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "encrypted webhook secrets, but no encryption key was given: set HOOKRELAY_ENCRYPTION_KEY")
	err = run(t.Context(), args, env(with(validEnv, "HOOKRELAY_ENCRYPTION_KEY", newEncryptionKey())), io.Discard, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "encrypted with another key: check HOOKRELAY_ENCRYPTION_KEY")

	s = startCapturing(t, args, with(validEnv, "HOOKRELAY_ENCRYPTION_KEY_FILE", writeFile(t, key)))
	var sec struct{ Secret string }
	require.Equal(t, 200, s.call(t, "GET", "/api/v1/webhooks/"+wh.ID+"/secret", validEnv["HOOKRELAY_ADMIN_TOKEN"], "", &sec))
	assert.Equal(t, wh.Secret, sec.Secret)
}

func TestRunWithTokensFromFiles(t *testing.T) {
	t.Parallel()
	ingest, admin := "ingest-token-in-a-file-0123", "admin-token-in-a-file-0123"
	e := map[string]string{"HOOKRELAY_INGEST_TOKEN_FILE": writeFile(t, ingest+"\n"), "HOOKRELAY_ADMIN_TOKEN_FILE": writeFile(t, admin+"\n")}
	s := startCapturing(t, []string{"--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "h.db")}, e)
	assert.Equal(t, 202, s.call(t, "POST", "/api/v1/events", ingest, `{"eventType":"a.b","data":{}}`, nil))
	assert.Equal(t, 200, s.call(t, "GET", "/api/v1/webhooks", admin, "", nil))
	assert.Equal(t, 403, s.call(t, "GET", "/api/v1/webhooks", ingest, "", nil), "the ingest token opens only the ingest routes")
	assert.Equal(t, 401, s.call(t, "GET", "/api/v1/webhooks", ingest+"x", "", nil))
}
