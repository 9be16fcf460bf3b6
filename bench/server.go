package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	"time"
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

	cmd    *exec.Cmd
	client *http.Client
	exited chan struct{}
	mu     sync.Mutex
	head   bytes.Buffer // output before the listening line, for error messages
}

var listeningRE = regexp.MustCompile(`listening on (http://127\.0\.0\.1:[0-9]+)`)

// startServer runs binary on 127.0.0.1:0 with a fresh database in dir and the given
// HOOKRELAY_* settings (later entries win). Its output goes to dir/hookrelay.log.
func startServer(ctx context.Context, binary, dir string, client *http.Client, env []string) (*server, error) {
	s := &server{client: client, exited: make(chan struct{}), LogPath: filepath.Join(dir, "hookrelay.log")}
	s.cmd = exec.Command(binary)
	s.cmd.Env = serverEnv(os.Environ(), append([]string{
		"HOOKRELAY_ADDR=127.0.0.1:0",
		"HOOKRELAY_DB=" + filepath.Join(dir, "hookrelay.db"),
		"HOOKRELAY_INGEST_TOKEN=" + ingestToken,
		"HOOKRELAY_ADMIN_TOKEN=" + adminToken,
		"HOOKRELAY_ALLOW_PRIVATE_NETWORKS=true",
	}, env...))
	logFile, err := os.Create(s.LogPath)
	if err != nil {
		return nil, fmt.Errorf("create server log: %w", err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	s.cmd.Stderr = s.cmd.Stdout
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	s.Pid = s.cmd.Process.Pid
	found := make(chan string, 1)
	go func() { // owned by the process: ends when its output closes, waited for by stop
		defer close(s.exited)
		defer logFile.Close()
		br := bufio.NewReaderSize(stdout, 64<<10)
		for {
			line, err := br.ReadString('\n')
			logFile.WriteString(line)
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				found <- m[1]
				break
			}
			s.mu.Lock()
			s.head.WriteString(line)
			s.mu.Unlock()
			if err != nil {
				break
			}
		}
		io.Copy(logFile, br) // the request log; kept on disk, read only when something fails
		s.cmd.Wait()
	}()
	select {
	case s.URL = <-found:
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("hookrelay exited before listening: %s", s.output())
	case <-time.After(30 * time.Second):
		s.kill()
		return nil, fmt.Errorf("hookrelay did not report its address within 30s: %s", s.output())
	case <-ctx.Done():
		s.kill()
		return nil, ctx.Err()
	}
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

func (s *server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.TrimSpace(s.head.String())
}

// stop sends SIGTERM and waits for a clean exit; the server finishes attempts in flight
// first, so this may take up to its delivery timeout.
func (s *server) stop() error {
	select {
	case <-s.exited:
		return fmt.Errorf("hookrelay exited early (log: %s)", s.LogPath)
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		if !s.cmd.ProcessState.Success() {
			return fmt.Errorf("hookrelay stopped with %s (log: %s)", s.cmd.ProcessState, s.LogPath)
		}
		return nil
	case <-time.After(60 * time.Second):
		s.kill()
		return fmt.Errorf("hookrelay did not stop within 60s of SIGTERM (log: %s)", s.LogPath)
	}
}

func (s *server) kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

// alive reports whether the process is still running.
func (s *server) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

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
	var w struct{ ID string }
	err := s.api(ctx, http.MethodPost, "/api/v1/webhooks", map[string]any{
		"url": url, "eventTypes": []string{"*"}, "secret": secret, "description": "bench",
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
