//go:build e2e

// Package e2e tests the real hookrelay binary from the outside: built once, started per test
// on 127.0.0.1:0 with a temporary database, driven over HTTP (and, for the admin UI, a
// real browser).
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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
	code := m.Run()
	stopBrowser()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is one running hookrelay process.
type server struct {
	URL    string
	DBPath string
	cmd    *exec.Cmd
	mu     sync.Mutex
	log    bytes.Buffer
	exited chan struct{}
}

var listeningRE = regexp.MustCompile(`listening on (http://[0-9.:]+)`)

// startServer runs the binary on a free port with a database in dbPath (a fresh one in
// t.TempDir when empty) and the given extra environment (later entries win), and stops it
// when the test ends. Every server has the admin adminEmail / adminPassword.
func startServer(t *testing.T, dbPath string, env ...string) *server {
	t.Helper()
	if dbPath == "" {
		dbPath = filepath.Join(t.TempDir(), "hookrelay.db")
	}
	s := &server{DBPath: dbPath, exited: make(chan struct{})}
	s.cmd = exec.Command(binary, "--addr", "127.0.0.1:0", "--db", dbPath)
	s.cmd.Env = append(os.Environ(),
		"HOOKRELAY_INGEST_TOKEN="+ingestToken,
		"HOOKRELAY_ADMIN_TOKEN="+adminToken,
		"HOOKRELAY_ALLOW_PRIVATE_NETWORKS=true",
		"HOOKRELAY_RETRY_SCHEDULE=200ms",
		"HOOKRELAY_RETRY_JITTER=0",
		"HOOKRELAY_ADMIN_EMAIL="+adminEmail,
		"HOOKRELAY_ADMIN_PASSWORD="+adminPassword,
		"HOOKRELAY_PASSWORD_COST=4", // bcrypt is slow in a -race binary
	)
	s.cmd.Env = append(s.cmd.Env, env...)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = s.cmd.Stdout
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start hookrelay: %v", err)
	}
	found := make(chan string, 1)
	go func() {
		defer close(s.exited)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.log.WriteString(line + "\n")
			s.mu.Unlock()
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		s.cmd.Wait()
	}()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("hookrelay output:\n%s", s.output())
		}
	})
	select {
	case s.URL = <-found:
	case <-s.exited:
		t.Fatalf("hookrelay exited before listening:\n%s", s.output())
	case <-time.After(30 * time.Second):
		t.Fatalf("hookrelay did not report its address:\n%s", s.output())
	}
	return s
}

func (s *server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop(t *testing.T) {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		t.Errorf("hookrelay did not stop within 30s of SIGTERM")
	}
}

// kill stops the process at once, as a crash would.
func (s *server) kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

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
