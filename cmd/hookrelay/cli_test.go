package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/internal/serverproc"
)

// cli runs hookrelay's command line in-process and returns the exit status and output.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runMain(t.Context(), args, process{getenv: env(validEnv), stdin: strings.NewReader(""), stdout: &out, stderr: &errOut})
	return code, out.String(), errOut.String()
}

// commandPaths lists every command of the table as typed after hookrelay ("admin create"),
// groups included ("admin").
func commandPaths(prefix string, cmds []command) []string {
	var paths []string
	for _, c := range cmds {
		paths = append(paths, prefix+c.name)
		paths = append(paths, commandPaths(prefix+c.name+" ", c.sub)...)
	}
	return paths
}

func TestHelpStartsWithTheCommands(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		code, out, errOut := cli(t, args...)
		assert.Equal(t, 0, code, "%v exits 0", args)
		assert.Empty(t, errOut)
		require.True(t, strings.HasPrefix(out, "Usage: hookrelay [command] [flags]\n\nCommands:\n  serve "), "%v:\n%s", args, out)
		for _, want := range []string{"  serve ", "  listen ", "  admin create ", "  version ", "  help ",
			`"hookrelay <command> --help"`, `"hookrelay serve --help"`} {
			assert.Contains(t, out, want, "%v", args)
		}
		assert.NotContains(t, out, "-retry-schedule", "the server's settings have their own help")
		assert.Less(t, strings.Count(out, "\n"), 20, "fits a screen")
	}
}

// TestEveryCommandHasItsOwnHelp walks the command table, so a command added later is
// covered too.
func TestEveryCommandHasItsOwnHelp(t *testing.T) {
	t.Parallel()
	paths := commandPaths("", commands())
	require.Contains(t, paths, "serve")
	require.Contains(t, paths, "listen")
	require.Contains(t, paths, "admin")
	require.Contains(t, paths, "admin create")
	require.Contains(t, paths, "version")
	for _, path := range paths {
		if path == "help" {
			continue // its --help is hookrelay's, checked above
		}
		args := strings.Fields(path)
		code, out, errOut := cli(t, append(args, "--help")...)
		assert.Equal(t, 0, code, "hookrelay %s --help: %s", path, errOut)
		assert.Empty(t, errOut, path)
		assert.Contains(t, strings.SplitN(out, "\n", 2)[0], "Usage: hookrelay ", path)
		assert.Contains(t, strings.SplitN(out, "\n", 2)[0], args[len(args)-1], "the usage names the command")

		code, viaHelp, _ := cli(t, append([]string{"help"}, args...)...)
		assert.Equal(t, 0, code)
		assert.Equal(t, out, viaHelp, "hookrelay help %s is hookrelay %s --help", path, path)
	}

	_, out, _ := cli(t, "serve", "--help")
	for _, s := range allSettings() {
		assert.Contains(t, out, "-"+s.name+" ", "serve --help lists --%s", s.name)
		assert.Contains(t, out, envName(s.name), "serve --help names %s", envName(s.name))
	}
	_, out, _ = cli(t, "admin", "create", "--help")
	assert.Contains(t, out, "-email")
	_, out, _ = cli(t, "listen", "--help")
	assert.Contains(t, out, "-secret")
}

func TestServeHelpNeverShowsASecretFromTheEnvironment(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	e := with(validEnv, "HOOKRELAY_ADMIN_PASSWORD", "a-password-from-the-env")
	code := runMain(t.Context(), []string{"--help"}, process{getenv: env(e), stdout: &out, stderr: &out})
	require.Equal(t, 0, code)
	out.Reset()
	code = runMain(t.Context(), []string{"serve", "--help"}, process{getenv: env(e), stdout: &out, stderr: &out})
	require.Equal(t, 0, code)
	assert.NotContains(t, out.String(), validEnv["HOOKRELAY_INGEST_TOKEN"])
	assert.NotContains(t, out.String(), "a-password-from-the-env")
	assert.Contains(t, out.String(), `(default "127.0.0.1:8080")`, "defaults are the documented ones")
}

func TestUnknownCommandsAreUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frob"}, `unknown command "frob"; run 'hookrelay help'`},
		{[]string{"help", "frob"}, `unknown command "frob"; run 'hookrelay help'`},
		{[]string{"admin"}, "missing admin command; run 'hookrelay admin --help'"},
		{[]string{"admin", "delete"}, `unknown admin command "delete"; run 'hookrelay admin --help'`},
		{[]string{"--colour"}, "flag provided but not defined: -colour (see 'hookrelay serve --help')"},
		{[]string{"serve", "now"}, `unexpected argument "now" (see 'hookrelay serve --help')`},
		{[]string{"listen", "--port", "9"}, "flag provided but not defined: -port (see 'hookrelay listen --help')"},
		{[]string{"admin", "create", "--name", "x"}, "(see 'hookrelay admin create --help')"},
		{[]string{"version", "--short"}, "(see 'hookrelay version --help')"},
	} {
		code, out, errOut := cli(t, tc.args...)
		assert.Equal(t, 2, code, "%v", tc.args)
		assert.Empty(t, out, "%v", tc.args)
		assert.True(t, strings.HasPrefix(errOut, "hookrelay: "), "%v: %s", tc.args, errOut)
		assert.Contains(t, errOut, tc.want, "%v", tc.args)
	}

	code, _, errOut := cli(t, "--retry-jitter", "7")
	assert.Equal(t, 1, code, "a bad setting is an error, not a usage error")
	assert.Contains(t, errOut, "HOOKRELAY_RETRY_JITTER")
}

func TestVersionPrintsVersionCommitAndGo(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		code, out, errOut := cli(t, args...)
		assert.Equal(t, 0, code)
		assert.Empty(t, errOut)
		assert.Equal(t, currentBuild().String()+"\n", out)
		assert.True(t, strings.HasPrefix(out, "hookrelay "+version+" (commit "), out)
		assert.Contains(t, out, runtime.Version())
	}
}

func TestReadBuildInfoFallsBackToTheToolchain(t *testing.T) {
	t.Parallel()
	vcs := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.modified", Value: "true"}}}
	installed := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.4.0"}}
	for _, tc := range []struct {
		name             string
		version, commit  string
		bi               *debug.BuildInfo
		wantVer, wantCom string
	}{
		{"stamped by make", "v1.2.3", "feedbeef", vcs, "v1.2.3", "feedbeef"},
		{"go build in a checkout", "dev", "", vcs, "dev", "0123abcd-dirty"},
		{"go install @version", "dev", "", installed, "v1.4.0", "unknown"},
		{"no build info", "dev", "", nil, "dev", "unknown"},
	} {
		got := readBuildInfo(tc.version, tc.commit, tc.bi)
		assert.Equal(t, tc.wantVer, got.Version, tc.name)
		assert.Equal(t, tc.wantCom, got.Commit, tc.name)
		assert.NotEmpty(t, got.GoVersion, tc.name)
	}
}

// TestBuiltBinaryCarriesTheStampedVersion builds the command as make build and make release
// do: the linker ignores -X for a variable that does not exist, so a renamed one would
// silently drop the stamp.
func TestBuiltBinaryCarriesTheStampedVersion(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "hookrelay")
	args := []string{"build", "-ldflags", "-X main.version=v9.8.7-test -X main.commit=c0ffee", "-o", bin}
	if raceEnabled {
		args = append(args, "-race") // shares the packages this test binary was built from
	}
	build := exec.Command("go", append(args, ".")...)
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	out, err = exec.Command(bin, "version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "hookrelay v9.8.7-test (commit c0ffee, "+runtime.Version()+", "+runtime.GOOS+"/"+runtime.GOARCH+")\n", string(out))

	cmd := exec.Command(bin, "--help")
	out, err = cmd.Output()
	require.NoError(t, err, "--help exits 0")
	assert.True(t, strings.HasPrefix(string(out), "Usage: hookrelay [command]"))

	err = exec.Command(bin, "frob").Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 2, exit.ExitCode(), "an unknown command exits 2")
}

func TestServeBindsBeforeTouchingTheDatabase(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	addr := busy.Addr().String()

	for _, tc := range []struct {
		name, want string
		args       []string
	}{
		{"api", "listen on " + addr, []string{"--addr", addr}},
		{"pprof", "listen for pprof on " + addr, []string{"--addr", "127.0.0.1:0", "--pprof-addr", addr}},
	} {
		dbPath := filepath.Join(t.TempDir(), "hookrelay.db")
		err := run(t.Context(), append(tc.args, "--db", dbPath), env(validEnv), io.Discard, io.Discard)
		require.ErrorContains(t, err, tc.want, tc.name)
		_, statErr := os.Stat(dbPath)
		assert.ErrorIs(t, statErr, os.ErrNotExist, "%s: a busy port fails before the database file is created", tc.name)
	}
}

func TestAddrFileAnnouncesTheReadyServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addrFile := filepath.Join(dir, "addr")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "h.db"), "--addr-file", addrFile},
			env(validEnv), io.Discard, io.Discard)
		close(exited)
	}()
	wctx, stop := context.WithTimeout(t.Context(), 30*time.Second) // a hang guard only
	defer stop()
	addr, err := serverproc.WaitAddrFile(wctx, addrFile, exited)
	require.NoError(t, err)

	b, err := os.ReadFile(addrFile)
	require.NoError(t, err)
	assert.Regexp(t, `^127\.0\.0\.1:[1-9][0-9]*\n$`, string(b), "host:port with the real port, one line")
	resp, err := http.Get("http://" + addr + "/healthz")
	require.NoError(t, err, "the address serves as soon as it is written")
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.False(t, strings.HasPrefix(e.Name(), ".addr"), "no temporary file is left: %s", e.Name())
	}

	cancel()
	require.NoError(t, <-done)
	_, err = os.Stat(addrFile)
	assert.ErrorIs(t, err, os.ErrNotExist, "the file goes with the server")
}

func TestWriteAddrFileReplacesTheFileWhole(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "addr")
	require.NoError(t, os.WriteFile(path, []byte("a much longer stale address\n"), 0o600))
	require.NoError(t, writeAddrFile(path, "127.0.0.1:4242"))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:4242\n", string(b))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "the temporary file was renamed, not left")

	err = writeAddrFile(filepath.Join(dir, "gone", "addr"), "127.0.0.1:1")
	assert.ErrorContains(t, err, "write the address file")
}
