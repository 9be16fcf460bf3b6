//go:build e2e

package e2e

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadmeWalkthrough runs the README's curl walk-through as written against the real
// binary, only moving the two addresses to free ports, so the README cannot drift from what
// the server does. It runs in a stand-in for the repository's root and checks that the
// files the walk-through writes land in a temporary directory, not there.
func TestReadmeWalkthrough(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed by the README walk-through: %v", tool, err)
		}
	}
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	script := between(t, string(readme), "<!-- walkthrough:start -->", "<!-- walkthrough:end -->")
	script = between(t, script, "```sh\n", "```")
	// The server's address is named once, so that a reader with another port changes one line.
	assert.Equal(t, 1, strings.Count(script, "127.0.0.1:8080"), "the walk-through names the server's address once")

	srv := startServer(t, "",
		"HOOKRELAY_INGEST_TOKEN=dev-ingest-token-change-me",
		"HOOKRELAY_ADMIN_TOKEN=dev-admin-token-change-me")
	receiver := freeAddr(t)
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp") // TMPDIR, where mktemp -d puts the walk-through's files
	require.NoError(t, os.Mkdir(tmp, 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	require.NoError(t, os.Symlink(binary, filepath.Join(dir, "bin", "hookrelay")))
	script = strings.NewReplacer(
		"http://127.0.0.1:8080", srv.URL,
		"127.0.0.1:9000", receiver,
	).Replace(script)

	out, err := os.Create(filepath.Join(t.TempDir(), "out.txt"))
	require.NoError(t, err)
	defer out.Close()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, out, out
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	// Its own process group, so the backgrounded receiver is stopped with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t.Cleanup(func() {
		if cmd.Process != nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		}
	})
	err = cmd.Run()
	output := func() string { b, _ := os.ReadFile(out.Name()); return string(b) }
	require.NoError(t, err, "walk-through failed:\n%s", output())

	var detail struct {
		Deliveries []struct{ ID string } `json:"deliveries"`
	}
	written, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	assert.Empty(t, written, "the walk-through wrote files where it was run")
	details, err := filepath.Glob(filepath.Join(tmp, "*", "event-detail.json"))
	require.NoError(t, err)
	require.Len(t, details, 1, "the walk-through's files go to one directory made by mktemp -d")
	b, err := os.ReadFile(details[0])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &detail))
	require.Len(t, detail.Deliveries, 1)

	var d struct {
		Status   string
		Attempts []struct{ StatusCode int }
	}
	eventually(t, "the walk-through's delivery to succeed", func() bool {
		srv.api(t, "GET", "/api/v1/deliveries/"+detail.Deliveries[0].ID, "dev-admin-token-change-me", nil, &d)
		return d.Status == "succeeded"
	})
	require.Len(t, d.Attempts, 1)
	assert.Equal(t, 200, d.Attempts[0].StatusCode)
	eventually(t, "the receiver to print the verified delivery", func() bool {
		return strings.Contains(output(), "valid signature") && strings.Contains(output(), "workflow.completed")
	})
	assert.NotContains(t, output(), "INVALID")
}

func between(t *testing.T, s, start, end string) string {
	t.Helper()
	_, rest, ok := strings.Cut(s, start)
	require.True(t, ok, "marker %q not found", start)
	body, _, ok := strings.Cut(rest, end)
	require.True(t, ok, "marker %q not found", end)
	return body
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
