package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startRun runs the server in-process on a free port and returns its base URL, a cancel
// that stops it, and a channel that yields run's result.
func startRun(t *testing.T, args []string, e map[string]string) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, args, env(e), pw, io.Discard)
		pw.Close()
		done <- err
	}()
	re := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	sc := bufio.NewScanner(pr)
	var url string
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
			break
		}
	}
	go io.Copy(io.Discard, pr) // keep the logger unblocked
	if url == "" {
		cancel()
		t.Fatalf("server did not report its address: %v", <-done)
	}
	t.Cleanup(cancel)
	return url, cancel, done
}

func TestRunServesAndStopsCleanly(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "hookrelay.db")
	url, cancel, done := startRun(t, []string{"--addr", "127.0.0.1:0", "--db", dbPath}, validEnv)

	resp, err := http.Get(url + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	req, _ := http.NewRequest("POST", url+"/api/v1/events", strings.NewReader(`{"eventType":"a.b","data":{}}`))
	req.Header.Set("Authorization", "Bearer "+validEnv["HOOKRELAY_INGEST_TOKEN"])
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)

	cancel()
	require.NoError(t, <-done, "a signal-style cancel is a clean stop")
	_, err = os.Stat(dbPath)
	assert.NoError(t, err, "the database file was created")
}

func TestRunRejectsBadSettingsBeforeOpeningAnything(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "hookrelay.db")
	err := run(t.Context(), []string{"--db", dbPath, "--retry-jitter", "7"}, env(validEnv), io.Discard, io.Discard)
	require.ErrorContains(t, err, "HOOKRELAY_RETRY_JITTER")
	_, statErr := os.Stat(dbPath)
	assert.True(t, os.IsNotExist(statErr), "no database is created when settings are bad")
}
