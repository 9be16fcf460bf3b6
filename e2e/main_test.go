//go:build e2e

// Package e2e tests the real hookrelay binary from the outside: built once, started per test
// on 127.0.0.1:0 with a temporary database, driven over HTTP (and, for the admin UI, a
// real browser).
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/pgtest"
	"github.com/hookrelay/hookrelay/internal/serverproc"
)

// binary is the hookrelay executable built by TestMain.
var binary string

const (
	ingestToken = "e2e-ingest-token-0123456789"
	adminToken  = "e2e-admin-token-0123456789"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hookrelay-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "hookrelay")
	build := exec.Command("go", "build", "-race", "-o", binary, "../cmd/hookrelay")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build hookrelay:", err)
		os.Exit(1)
	}
	announceSkips()
	code := m.Run()
	stopBrowser()
	code = pgtest.Finish(code)
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is one running hookrelay process.
type server struct {
	URL    string
	DBPath string
	proc   *serverproc.Process
	log    logBuffer
}

// logBuffer keeps a server's whole output; the harness writes while a test reads.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// startServer runs the binary on a free port with a database in dbPath (a fresh one in
// t.TempDir when empty) and the given extra environment (later entries win), and stops it
// when the test ends. Every server has the admin adminEmail / adminPassword.
func startServer(t *testing.T, dbPath string, env ...string) *server {
	t.Helper()
	if dbPath == "" {
		dbPath = filepath.Join(t.TempDir(), "hookrelay.db")
	}
	s := &server{DBPath: dbPath}
	p, err := serverproc.Start(t.Context(), serverproc.Options{
		Binary: binary,
		Args:   []string{"--addr", "127.0.0.1:0", "--db", dbPath},
		Env: append(append(os.Environ(),
			"HOOKRELAY_INGEST_TOKEN="+ingestToken,
			"HOOKRELAY_ADMIN_TOKEN="+adminToken,
			"HOOKRELAY_ALLOW_PRIVATE_NETWORKS=true",
			"HOOKRELAY_RETRY_SCHEDULE=200ms",
			"HOOKRELAY_RETRY_JITTER=0",
			"HOOKRELAY_ADMIN_EMAIL="+adminEmail,
			"HOOKRELAY_ADMIN_PASSWORD="+adminPassword,
			"HOOKRELAY_PASSWORD_COST=4", // bcrypt is slow in a -race binary
		), env...),
		AddrFile: filepath.Join(t.TempDir(), "addr"),
		Output:   &s.log,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.proc, s.URL = p, p.URL
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("hookrelay output:\n%s", s.output())
		}
	})
	return s
}

func (s *server) output() string {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	return s.log.b.String()
}

// stop sends SIGTERM and waits for the process to exit (cleanly or not: tests that care
// check exitCode).
func (s *server) stop(t *testing.T) {
	if err := s.proc.Stop(30 * time.Second); err != nil {
		t.Error(err)
	}
}

// kill stops the process at once, as a crash would.
func (s *server) kill() { s.proc.Kill() }

// pid is the server's process id.
func (s *server) pid() int { return s.proc.Pid() }

// exitCode is the status the stopped server exited with.
func (s *server) exitCode() int { return s.proc.State().ExitCode() }

// api calls the JSON API and decodes the answer into out (when not nil).
func (s *server) api(t *testing.T, method, path, token string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

// eventually polls cond until it holds or the deadline passes. It is for conditions that
// another process makes true; the deadline only guards against a hang.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func trim(s string) string { return strings.TrimSpace(s) }
