// Package pgtest gives tests a PostgreSQL database of their own: on the server named by
// HOOKRELAY_TEST_POSTGRES_URL, or else on one throwaway cluster per test binary, started on
// first use (initdb and pg_ctl from Debian's postgresql package, on a private port, as the
// postgres user when the tests run as root) and stopped by Main. Each test gets a database
// copied from a migrated template, dropped when the test ends.
//
// Without PostgreSQL the tests that ask for it skip, saying so loudly (and adding a line
// to the report that make test prints); with CI=true they fail instead. Import it from
// _test files only, but for Cluster, which the benchmark starts.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookrelay/hookrelay/db/postgres"
	"github.com/hookrelay/hookrelay/internal/testsuite"
)

// URLEnv names a PostgreSQL server to use instead of a throwaway cluster:
// postgres://user:password@host:port/database, for a user allowed to create databases.
const URLEnv = "HOOKRELAY_TEST_POSTGRES_URL"

// dirPrefix names the throwaway clusters' directories in os.TempDir.
const dirPrefix = "hookrelay-pgtest-"

// server is the PostgreSQL server of this test binary. It is package state because a
// test binary has one: started once by the first test that needs it, stopped by Main.
var server struct {
	once    sync.Once
	missing string // why there is no PostgreSQL to test with; "" when there is
	err     error  // why it could not be started
	admin   *url.URL
	cluster *cluster // nil on a server of HOOKRELAY_TEST_POSTGRES_URL

	tplOnce  sync.Once
	template string
	tplErr   error

	skipOnce sync.Once
}

// Main runs the tests, then stops the cluster they started (if any) and exits. Call it from
// TestMain: func TestMain(m *testing.M) { pgtest.Main(m) }.
func Main(m *testing.M) {
	os.Exit(Finish(m.Run()))
}

// Finish stops the cluster the tests started (if any) and returns the exit code to use: code,
// or 1 when stopping failed. It is Main's second half, for a TestMain that does more.
func Finish(code int) int {
	if err := shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// URL returns the URL of a new database of t's own with hookrelay's schema, dropped when t
// ends. Without PostgreSQL it skips t (fails it under CI=true).
func URL(t testing.TB) string {
	t.Helper()
	start(t)
	server.tplOnce.Do(func() { server.template, server.tplErr = makeTemplate() })
	if server.tplErr != nil {
		t.Fatalf("pgtest: migrated template database: %v", server.tplErr)
	}
	return newDatabase(t, server.template)
}

// EmptyURL returns the URL of a new, empty database of t's own, dropped when t ends.
func EmptyURL(t testing.TB) string {
	t.Helper()
	start(t)
	return newDatabase(t, "template0")
}

// start starts the server once and lets t go on only when there is one.
func start(t testing.TB) {
	t.Helper()
	server.once.Do(func() { server.missing, server.err = startServer() })
	if server.missing != "" {
		ci := testsuite.CIMode(os.Getenv)
		if !ci {
			server.skipOnce.Do(func() {
				testsuite.Announce(os.Getenv, testsuite.SkipLine("PostgreSQL tests", server.missing)+"\n")
			})
		}
		testsuite.Require(t, testsuite.Suite{Name: "PostgreSQL tests", Missing: func() string { return server.missing }}, ci)
		return
	}
	if server.err != nil {
		t.Fatalf("pgtest: start PostgreSQL: %v", server.err)
	}
}

func startServer() (missing string, err error) {
	if raw := os.Getenv(URLEnv); raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return "", fmt.Errorf("%s must be a postgres:// URL", URLEnv)
		}
		server.admin = u
		return "", ping(u.String())
	}
	bin := findBinDir()
	if bin == "" {
		return "not found: initdb under /usr/lib/postgresql/*/bin; install Debian's postgresql " +
			"(apt-get install postgresql) or set " + URLEnv, nil
	}
	removeStaleClusters(bin)
	c, err := startCluster(bin)
	if err != nil {
		return "", err
	}
	server.cluster = c
	server.admin = c.url()
	return "", nil
}

// findBinDir returns the newest PostgreSQL's bin directory, "" when none is installed.
func findBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// cluster is a throwaway PostgreSQL cluster in a temporary directory.
type cluster struct {
	bin, dir string
	port     int
	asUser   string // run its programs as this user ("" for the current one)
}

func (c *cluster) url() *url.URL {
	return &url.URL{Scheme: "postgres", User: url.User("hookrelay"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path: "/postgres", RawQuery: "sslmode=disable"}
}

// command runs a PostgreSQL program of the cluster, as the postgres user when this process
// is root (initdb refuses to run as root).
func (c *cluster) command(name string, args ...string) *exec.Cmd {
	prog := filepath.Join(c.bin, name)
	if c.asUser != "" {
		return exec.Command("runuser", append([]string{"-u", c.asUser, "--", prog}, args...)...)
	}
	return exec.Command(prog, args...)
}

func run(cmd *exec.Cmd) error {
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return nil
}

func startCluster(bin string) (*cluster, error) {
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, err
	}
	c := &cluster{bin: bin, dir: dir}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, and initdb refuses root: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
		c.asUser = "postgres"
	}
	if err := run(c.command("initdb", "-D", filepath.Join(dir, "data"), "-U", "hookrelay", "--auth=trust",
		"-E", "UTF8", "--no-sync", "--no-instructions")); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// A free port can be taken by someone else before the server binds it; try a few.
	for range 5 {
		if c.port, err = freePort(); err != nil {
			break
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "+
			"-c full_page_writes=off -c max_connections=500 -c deadlock_timeout=100ms", c.port, dir)
		if err = run(c.command("pg_ctl", "-D", filepath.Join(dir, "data"), "-o", opts, "-l", filepath.Join(dir, "log"),
			"-w", "-t", "30", "start")); err == nil {
			return c, nil
		}
	}
	log, _ := os.ReadFile(filepath.Join(dir, "log"))
	os.RemoveAll(dir)
	return nil, fmt.Errorf("%w\nserver log:\n%s", err, log)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *cluster) stop() error {
	err := run(c.command("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "stop"))
	return errors.Join(err, os.RemoveAll(c.dir))
}

// removeStaleClusters stops and removes the clusters of test binaries that died without
// stopping theirs (a panic skips Main's cleanup).
func removeStaleClusters(bin string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			continue // alive, or not ours to judge
		}
		c := &cluster{bin: bin, dir: dir}
		if os.Geteuid() == 0 {
			c.asUser = "postgres"
		}
		c.stop()
	}
}

func shutdown() error {
	var errs []error
	if server.template != "" && server.cluster == nil {
		errs = append(errs, admin(func(ctx context.Context, conn *pgx.Conn) error {
			_, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{server.template}.Sanitize()+` WITH (FORCE)`)
			return err
		}))
	}
	if server.cluster != nil {
		errs = append(errs, server.cluster.stop())
	}
	return errors.Join(errs...)
}

func ping(u string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// admin runs fn on a connection to the server's maintenance database.
func admin(fn func(context.Context, *pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server.admin.String())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return fn(ctx, conn)
}

func databaseURL(name string) string {
	u := *server.admin
	u.Path = "/" + name
	return u.String()
}

func randomName(prefix string) string {
	var b [8]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// makeTemplate creates a database and migrates it by opening the store on it once. Tests'
// databases are copies of it: CREATE DATABASE … TEMPLATE copies files, much faster than
// running the migrations again.
func makeTemplate() (string, error) {
	name := randomName("hookrelay_tpl_")
	if err := admin(func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize())
		return err
	}); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := postgres.Open(ctx, databaseURL(name), postgres.Options{MaxConns: 2})
	if err != nil {
		return "", err
	}
	return name, store.Close()
}

func newDatabase(t testing.TB, template string) string {
	t.Helper()
	name := randomName("t_")
	err := admin(func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()+` TEMPLATE `+pgx.Identifier{template}.Sanitize())
		return err
	})
	if err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		err := admin(func(ctx context.Context, conn *pgx.Conn) error {
			_, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`)
			return err
		})
		if err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return databaseURL(name)
}

// Cluster is a throwaway cluster for a program rather than a test: the benchmark's
// PostgreSQL scenarios. Like the tests' own, it runs with fsync and synchronous_commit off.
type Cluster struct {
	c *cluster
}

// StartCluster starts a throwaway cluster (initdb and pg_ctl of Debian's postgresql, on a
// private port, as the postgres user when this process is root).
func StartCluster() (*Cluster, error) {
	bin := findBinDir()
	if bin == "" {
		return nil, errors.New("PostgreSQL not found: initdb under /usr/lib/postgresql/*/bin (apt-get install postgresql)")
	}
	c, err := startCluster(bin)
	if err != nil {
		return nil, err
	}
	return &Cluster{c: c}, nil
}

// NewDatabase creates an empty database and returns its URL.
func (c *Cluster) NewDatabase(ctx context.Context) (string, error) {
	name := randomName("hookrelay_bench_")
	conn, err := pgx.Connect(ctx, c.c.url().String())
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	u := *c.c.url()
	u.Path = "/" + name
	return u.String(), nil
}

// Stop stops the cluster and removes its files.
func (c *Cluster) Stop() error { return c.c.stop() }
