package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/serverproc"
)

// Tokens of the server under test. It listens on 127.0.0.1 only and lives for one scenario.
const (
	ingestToken = "bench-ingest-token-0123456789"
	adminToken  = "bench-admin-token-0123456789"
)

// server is one hookrelay process with its own database in dir.
type server struct {
	URL     string
	Pid     int
	LogPath string

	proc   *serverproc.Process
	client *http.Client
}

// startServer runs binary on 127.0.0.1:0 with a fresh database in dir and the given
// HOOKRELAY_* settings (later entries win). Its output goes to dir/hookrelay.log.
func startServer(ctx context.Context, binary, dir string, client *http.Client, env []string) (*server, error) {
	s := &server{client: client, LogPath: filepath.Join(dir, "hookrelay.log")}
	logFile, err := os.Create(s.LogPath)
	if err != nil {
		return nil, fmt.Errorf("create server log: %w", err)
	}
	p, err := serverproc.Start(ctx, serverproc.Options{
		Binary: binary,
		Env: serverEnv(os.Environ(), append([]string{
			"HOOKRELAY_ADDR=127.0.0.1:0",
			"HOOKRELAY_DB=" + filepath.Join(dir, "hookrelay.db"),
			"HOOKRELAY_INGEST_TOKEN=" + ingestToken,
			"HOOKRELAY_ADMIN_TOKEN=" + adminToken,
			"HOOKRELAY_ALLOW_PRIVATE_NETWORKS=true",
		}, env...)),
		AddrFile: filepath.Join(dir, "hookrelay.addr"),
		Output:   logFile, // the request log; kept on disk, read only when something fails
	})
	if err != nil {
		logFile.Close()
		return nil, err
	}
	s.proc, s.URL, s.Pid = p, p.URL, p.Pid()
	go func() { // owned by the process: closes the log once its output has ended
		<-p.Exited()
		logFile.Close()
	}()
	return s, nil
}

// serverEnv drops HOOKRELAY_* settings inherited from the caller's environment, so that a
// run measures what the harness says, then adds set.
func serverEnv(environ, set []string) []string {
	var out []string
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "HOOKRELAY_") {
			out = append(out, kv)
		}
	}
	return append(out, set...)
}

// stop sends SIGTERM and waits for a clean exit; the server finishes attempts in flight
// first, so this may take up to its delivery timeout.
func (s *server) stop() error {
	if !s.alive() {
		return fmt.Errorf("hookrelay exited early with %s (log: %s)", s.proc.State(), s.LogPath)
	}
	if err := s.proc.Stop(60 * time.Second); err != nil {
		return fmt.Errorf("%w (log: %s)", err, s.LogPath)
	}
	if st := s.proc.State(); !st.Success() {
		return fmt.Errorf("hookrelay stopped with %s (log: %s)", st, s.LogPath)
	}
	return nil
}

func (s *server) kill() { s.proc.Kill() }

// alive reports whether the process is still running.
func (s *server) alive() bool { return s.proc.State() == nil }

// api calls the management API with the admin token and decodes the answer into out.
func (s *server) api(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// createWebhook subscribes url to every event type and returns the webhook id.
func (s *server) createWebhook(ctx context.Context, url, secret string) (string, error) {
	return s.subscribe(ctx, url, secret, "*")
}

// subscribe subscribes url to the event types of patterns and returns the webhook id.
func (s *server) subscribe(ctx context.Context, url, secret string, patterns ...string) (string, error) {
	var w struct{ ID string }
	err := s.api(ctx, http.MethodPost, "/api/v1/webhooks", map[string]any{
		"url": url, "eventTypes": patterns, "secret": secret, "description": "bench",
	}, &w)
	if err == nil && w.ID == "" {
		err = errors.New("create webhook: answer without id")
	}
	return w.ID, err
}

// stats reads the server's CPU time and memory now.
func (s *server) stats() (time.Duration, memory, error) {
	cpu, err := processCPU(s.Pid)
	if err != nil {
		return 0, memory{}, err
	}
	m, err := processMemory(s.Pid)
	return cpu, m, err
}
