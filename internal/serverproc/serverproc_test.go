package serverproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests run this test binary as the server: with SERVERPROC_FAKE set, TestMain plays a
// server that behaves as that variable says, so every path of the harness runs against a
// real child process in milliseconds, without building hookrelay.
func TestMain(m *testing.M) {
	if mode := os.Getenv("SERVERPROC_FAKE"); mode != "" {
		os.Exit(fakeServer(mode))
	}
	os.Exit(m.Run())
}

func fakeServer(mode string) int {
	var addrFile string
	for i, a := range os.Args {
		if a == "--addr-file" && i+1 < len(os.Args) {
			addrFile = os.Args[i+1]
		}
	}
	if f := os.Getenv("SERVERPROC_PIDFILE"); f != "" {
		os.WriteFile(f, []byte(strconv.Itoa(os.Getpid())), 0o644)
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	switch mode {
	case "fail":
		fmt.Fprintln(os.Stderr, "invalid HOOKRELAY_SYNC (--sync): want normal or full")
		return 3
	case "silent": // never ready
		<-term
		return 0
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("fake: starting")
	fmt.Fprintln(os.Stderr, "fake: a line on stderr")
	tmp := addrFile + ".tmp"
	os.WriteFile(tmp, []byte(ln.Addr().String()+"\n"), 0o644)
	os.Rename(tmp, addrFile)
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	if mode == "stubborn" {
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(time.Hour)
	}
	<-term
	fmt.Println("fake: stopping")
	return 0
}

// syncBuffer is an Output the test reads while the process writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func fake(t *testing.T, mode string, extraEnv ...string) Options {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	return Options{
		Binary:   self,
		Env:      append(append(os.Environ(), "SERVERPROC_FAKE="+mode), extraEnv...),
		AddrFile: filepath.Join(t.TempDir(), "addr"),
	}
}

func TestStartWaitsForTheAddressAndStopsWithSIGTERM(t *testing.T) {
	t.Parallel()
	o := fake(t, "ready")
	var out syncBuffer
	o.Output = &out
	require.NoError(t, os.WriteFile(o.AddrFile, []byte("127.0.0.1:1\n"), 0o644), "a file left by an earlier run")

	p, err := Start(t.Context(), o)
	require.NoError(t, err)
	assert.NotEqual(t, "127.0.0.1:1", p.Addr, "the stale address is never taken for the new one")
	assert.Equal(t, "http://"+p.Addr, p.URL)
	resp, err := http.Get(p.URL + "/")
	require.NoError(t, err, "ready means serving")
	resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Nil(t, p.State(), "still running")

	require.NoError(t, p.Stop(10*time.Second))
	require.NotNil(t, p.State())
	assert.True(t, p.State().Success(), "SIGTERM is a clean stop: %s", p.State())
	assert.Contains(t, out.String(), "fake: starting")
	assert.Contains(t, out.String(), "fake: a line on stderr", "stderr is captured too")
	assert.Contains(t, out.String(), "fake: stopping", "output is complete once Stop returns")
	assert.Contains(t, p.Head(), "fake: starting")
	require.NoError(t, p.Stop(time.Second), "stopping a stopped process is a no-op")
}

func TestStartFailsAtOnceWhenTheServerExits(t *testing.T) {
	t.Parallel()
	o := fake(t, "fail")
	o.ReadyTimeout = time.Hour // an exit must not wait for the deadline
	_, err := Start(t.Context(), o)
	require.ErrorIs(t, err, ErrExited)
	assert.ErrorContains(t, err, "exit status 3")
	assert.ErrorContains(t, err, "invalid HOOKRELAY_SYNC (--sync)", "the error holds the server's output")
}

func TestStartKillsAServerThatNeverGetsReady(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	o := fake(t, "silent", "SERVERPROC_PIDFILE="+pidFile)
	o.ReadyTimeout = 300 * time.Millisecond
	_, err := Start(t.Context(), o)
	require.ErrorContains(t, err, "did not write its address within 300ms")
	b, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	pid, err := strconv.Atoi(string(b))
	require.NoError(t, err)
	assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "the process is gone")
}

func TestStartStopsWaitingWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := Start(ctx, fake(t, "silent"))
	assert.ErrorIs(t, err, context.Canceled)
}

func TestStopKillsAServerThatIgnoresSIGTERM(t *testing.T) {
	t.Parallel()
	p, err := Start(t.Context(), fake(t, "stubborn"))
	require.NoError(t, err)
	err = p.Stop(300 * time.Millisecond)
	require.ErrorContains(t, err, "did not stop within 300ms of SIGTERM")
	assert.False(t, p.State().Success())
}

func TestKillEndsTheProcessAtOnce(t *testing.T) {
	t.Parallel()
	p, err := Start(t.Context(), fake(t, "ready"))
	require.NoError(t, err)
	p.Kill()
	require.NotNil(t, p.State())
	assert.Contains(t, p.State().String(), "killed")
	select {
	case <-p.Exited():
	default:
		t.Fatal("Exited is closed after Kill")
	}
}

func TestWaitAddrFileRejectsWhatIsNoAddress(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "addr")
	require.NoError(t, os.WriteFile(path, []byte("listening\n"), 0o644))
	_, err := WaitAddrFile(t.Context(), path, nil)
	assert.ErrorContains(t, err, `holds "listening"`)

	_, err = WaitAddrFile(t.Context(), filepath.Join(t.TempDir(), "never"), closed())
	assert.True(t, errors.Is(err, ErrExited))
}

func closed() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

func TestStartNeedsAnAddressFile(t *testing.T) {
	t.Parallel()
	o := fake(t, "ready")
	o.AddrFile = ""
	_, err := Start(t.Context(), o)
	assert.ErrorContains(t, err, "no address file")
}
