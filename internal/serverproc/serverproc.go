// Package serverproc runs the hookrelay binary as a child process for the end-to-end tests
// (e2e) and the benchmark harness (bench): it starts the server with --addr-file, waits until
// the server writes its address there (the ready signal; no log line is parsed), passes its
// output on, and stops it with SIGTERM, or kills it as a crash would.
//
// It is internal because it is no API of the module (receivers go get the module for its
// webhook package) and belongs to neither caller: e2e is test-only code that nothing can
// import, and bench is the benchmark, which the tests should not need to start a server.
package serverproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// pollInterval is how often WaitAddrFile looks for the file. Start-up takes tens of
// milliseconds, so a short interval costs little and adds little.
const pollInterval = 10 * time.Millisecond

// headLimit is how much of the output a Process keeps for its error messages.
const headLimit = 16 << 10

// ErrExited means the process ended before it wrote its address.
var ErrExited = errors.New("exited before it was ready")

// Options say how to start the server.
type Options struct {
	Binary string
	// Args are the command-line arguments; Start adds --addr-file.
	Args []string
	// Env is the whole environment of the process (nil: none at all).
	Env []string
	// AddrFile is where the server writes its address. Start removes a file left there
	// first, so that a stale address is never taken for the new server's.
	AddrFile string
	// Output receives everything the server writes to stdout and stderr, from one
	// goroutine, until Exited is closed. Nil: discarded.
	Output io.Writer
	// ReadyTimeout bounds the wait for the address; 30s when zero.
	ReadyTimeout time.Duration
}

// Process is a running server.
type Process struct {
	// Addr is where the server listens (host:port), URL the same as http://Addr.
	Addr, URL string

	cmd    *exec.Cmd
	exited chan struct{}
	out    *output
}

// Start runs the server and returns once it is ready to serve. On any failure the process
// is gone when Start returns, and the error holds the start of its output.
func Start(ctx context.Context, o Options) (*Process, error) {
	if o.AddrFile == "" {
		return nil, errors.New("start hookrelay: no address file given")
	}
	if err := os.Remove(o.AddrFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove the old address file: %w", err)
	}
	timeout := o.ReadyTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	out := &output{w: o.Output}
	if out.w == nil {
		out.w = io.Discard
	}
	p := &Process{out: out, exited: make(chan struct{})}
	p.cmd = exec.Command(o.Binary, append(append([]string{}, o.Args...), "--addr-file", o.AddrFile)...)
	p.cmd.Env = o.Env
	if p.cmd.Env == nil {
		p.cmd.Env = []string{}
	}
	// One writer for both streams: exec gives them one pipe, so lines keep their order,
	// and Wait returns only once everything written has been copied.
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.Binary, err)
	}
	go func() { // owned by the process: ends when it exits; Stop and Kill wait for it
		p.cmd.Wait()
		close(p.exited)
	}()

	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr, err := WaitAddrFile(wctx, o.AddrFile, p.exited)
	switch {
	case errors.Is(err, ErrExited):
		return nil, fmt.Errorf("hookrelay %w (%s):\n%s", err, p.cmd.ProcessState, p.out.head())
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		p.Kill()
		return nil, fmt.Errorf("hookrelay did not write its address within %v:\n%s", timeout, p.out.head())
	case err != nil:
		p.Kill()
		return nil, err
	}
	p.Addr, p.URL = addr, "http://"+addr
	return p, nil
}

// WaitAddrFile polls path until it holds an address (host:port) and returns it. It gives up
// with ErrExited once exited is closed, or with ctx's error.
func WaitAddrFile(ctx context.Context, path string, exited <-chan struct{}) (string, error) {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		// Read before checking exited: a server that wrote its address and then stopped
		// was ready all the same.
		b, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("read the address file: %w", err)
		}
		if addr := strings.TrimSpace(string(b)); addr != "" {
			if _, _, err := net.SplitHostPort(addr); err != nil {
				return "", fmt.Errorf("address file %s holds %q: %w", path, addr, err)
			}
			return addr, nil
		}
		select {
		case <-exited:
			return "", ErrExited
		case <-ctx.Done():
			return "", fmt.Errorf("wait for %s: %w", path, ctx.Err())
		case <-tick.C:
		}
	}
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed once the process has ended and all its output has been passed on.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// State is how the process ended, or nil while it runs.
func (p *Process) State() *os.ProcessState {
	select {
	case <-p.exited:
		return p.cmd.ProcessState
	default:
		return nil
	}
}

// Head is the start of the output (its first 16 KiB), for error messages.
func (p *Process) Head() string { return p.out.head() }

// Stop sends SIGTERM and waits up to timeout for the process to exit; past that it kills
// it and returns an error. How the process ended is State's to tell: a clean stop is
// State().Success().
func (p *Process) Stop(timeout time.Duration) error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.exited:
		return nil
	case <-t.C:
		p.Kill()
		return fmt.Errorf("hookrelay did not stop within %v of SIGTERM and was killed", timeout)
	}
}

// Signal sends sig to the process, for tests of what the server does while it stops.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill ends the process at once, as a crash would, and waits until it is gone.
func (p *Process) Kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// output passes the server's output on and keeps its start.
type output struct {
	w  io.Writer
	mu sync.Mutex
	b  bytes.Buffer
}

// Write never fails: an error would stop exec copying, and the server would block on a
// full pipe. A writer that cannot write (a full disk under a log file) loses the output.
func (o *output) Write(b []byte) (int, error) {
	o.mu.Lock()
	if n := headLimit - o.b.Len(); n > 0 {
		o.b.Write(b[:min(n, len(b))])
	}
	o.mu.Unlock()
	o.w.Write(b)
	return len(b), nil
}

func (o *output) head() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.TrimSpace(o.b.String())
}
