// Command hookrelay-bench measures a hookrelay binary end to end on this machine: see
// package bench and the README's Performance section. `make bench` runs every scenario;
// `make bench-smoke` runs the short loss check that CI runs too.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hookrelay/hookrelay/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookrelay-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	smoke := len(args) > 0 && (args[0] == "--smoke" || args[0] == "-smoke")
	cfg := bench.Defaults()
	if smoke {
		cfg = bench.SmokeDefaults()
	}
	fs := flag.NewFlagSet("hookrelay-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Bool("smoke", smoke, "short runs with small counts that check only that nothing is lost (must be the first flag)")
	fs.StringVar(&cfg.Server, "server", cfg.Server, "hookrelay binary to measure")
	scenarios := fs.String("scenarios", "", "comma-separated scenarios to run, of "+strings.Join(bench.Scenarios, ",")+" (default all)")
	fs.DurationVar(&cfg.CalibrationDuration, "calibration", cfg.CalibrationDuration, "how long cal posts 1 KiB bodies to a loopback server, the bursts' yardstick")
	fs.IntVar(&cfg.BurstConns, "burst-conns", cfg.BurstConns, "senders of the burst scenarios (and cal's connections)")
	fs.DurationVar(&cfg.BurstDuration, "burst-duration", cfg.BurstDuration, "load phase of each burst run")
	fs.IntVar(&cfg.BurstRuns, "burst-runs", cfg.BurstRuns, "runs of each burst scenario; it reports their median and range")
	fs.DurationVar(&cfg.DurationA, "duration-a", cfg.DurationA, "load phase of scenario a (and a-sync's is --duration)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "load phase of every other scenario")
	fs.IntVar(&cfg.Conns, "conns", cfg.Conns, "keep-alive connections of closed-loop ingest (batch ingest uses an eighth)")
	fs.Int64Var(&cfg.Window, "window", cfg.Window, "closed loop: most deliveries per webhook accepted but not yet received (0: no limit, ingest may outrun delivery)")
	fs.IntVar(&cfg.OpenConns, "open-conns", cfg.OpenConns, "keep-alive connections of open-loop ingest")
	fs.IntVar(&cfg.BatchSize, "batch", cfg.BatchSize, "events per batch request (g, and building f's backlog)")
	fs.IntVar(&cfg.DataBytes, "data-bytes", cfg.DataBytes, "size of each event's data object")
	fs.Int64Var(&cfg.MaxEvents, "max-events", cfg.MaxEvents, "most events one closed-loop phase sends")
	fs.Float64Var(&cfg.RateC, "rate-c", cfg.RateC, "events/s of c (0: half of a's measured maximum)")
	fs.Float64Var(&cfg.RateD, "rate-d", cfg.RateD, "events/s of d")
	fs.Float64Var(&cfg.RateE, "rate-e", cfg.RateE, "events/s of e (0: half of b's measured maximum)")
	fs.DurationVar(&cfg.SlowDelay, "slow-delay", cfg.SlowDelay, "how long e's slow receiver takes per request")
	fs.Int64Var(&cfg.Backlog, "backlog", cfg.Backlog, "deliveries pending in f")
	fs.IntVar(&cfg.BacklogDataBytes, "backlog-data-bytes", cfg.BacklogDataBytes, "data size of f's events")
	fs.DurationVar(&cfg.BacklogBuild, "backlog-build", cfg.BacklogBuild, "most time spent building f's backlog")
	fs.DurationVar(&cfg.BacklogDrain, "backlog-drain", cfg.BacklogDrain, "most time spent draining f's backlog")
	fs.Int64Var(&cfg.Recover, "recover", cfg.Recover, "failed deliveries r recovers")
	fs.Float64Var(&cfg.RateR, "rate-r", cfg.RateR, "events/s of r's and p's ingest, before and while they recover or prune")
	fs.Int64Var(&cfg.PruneRows, "prune-rows", cfg.PruneRows, "rows of history p prunes (a third each events, deliveries, attempts)")
	fs.DurationVar(&cfg.PruneAfter, "prune-after", cfg.PruneAfter, "when p's pruner round starts, after the server (the history is built in half of it)")
	fs.Float64Var(&cfg.RateS, "rate-s", cfg.RateS, "events/s of s")
	fs.DurationVar(&cfg.SteadyRetention, "steady-retention", cfg.SteadyRetention, "s's HOOKRELAY_RETENTION")
	fs.DurationVar(&cfg.SteadyDuration, "steady-duration", cfg.SteadyDuration, "s's load phase")
	fs.DurationVar(&cfg.Drain, "drain", cfg.Drain, "most time waiting for deliveries after a load phase")
	fs.DurationVar(&cfg.DrainStall, "drain-stall", cfg.DrainStall, "stop waiting when no delivery arrived for this long")
	fs.StringVar(&cfg.PostgresURL, "postgres-url", cfg.PostgresURL, "PostgreSQL server for the pg-* scenarios (a user allowed to CREATE DATABASE); empty starts a throwaway cluster")
	env := fs.String("server-env", "", "extra server settings for every scenario, KEY=VALUE,KEY=VALUE (HOOKRELAY_* only)")
	fs.StringVar(&cfg.ProfileScenario, "profile", cfg.ProfileScenario, "scenario whose server to CPU-profile (needs the server's HOOKRELAY_PPROF_ADDR)")
	fs.DurationVar(&cfg.ProfileDuration, "profile-duration", cfg.ProfileDuration, "length of the CPU profile")
	fs.StringVar(&cfg.OutDir, "out", cfg.OutDir, "directory of the JSON result (empty: none)")
	fs.StringVar(&cfg.Note, "note", cfg.Note, "free text stored with the result, e.g. the state of the machine")
	maxTotal := fs.Duration("max-total", 40*time.Minute, "hard limit on the whole run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *scenarios != "" {
		cfg.Scenarios = strings.Split(*scenarios, ",")
	}
	if *env != "" {
		for kv := range strings.SplitSeq(*env, ",") {
			if !strings.HasPrefix(kv, "HOOKRELAY_") || !strings.Contains(kv, "=") {
				return fmt.Errorf("invalid --server-env entry %q: want HOOKRELAY_NAME=VALUE", kv)
			}
			cfg.ServerEnv = append(cfg.ServerEnv, kv)
		}
	}
	if cfg.Conns <= 0 || cfg.OpenConns <= 0 || cfg.BatchSize <= 0 || cfg.MaxEvents <= 0 || cfg.Backlog <= 0 || cfg.Recover <= 0 || cfg.RateR <= 0 ||
		cfg.BurstConns <= 0 || cfg.BurstRuns <= 0 {
		return errors.New("--conns, --open-conns, --batch, --max-events, --backlog, --recover, --rate-r, --burst-conns and --burst-runs must be positive")
	}
	cfg.Log = stderr
	ctx, cancel := context.WithTimeout(ctx, *maxTotal)
	defer cancel()

	rep, runErr := bench.Run(ctx, cfg)
	if rep == nil {
		return runErr
	}
	fmt.Fprintln(stdout)
	if rep.Note != "" {
		fmt.Fprintf(stdout, "note: %s\n", rep.Note)
	}
	fmt.Fprintf(stdout, "machine: %d CPUs, %s; load average at start %s\n\n", rep.Machine.CPUs, rep.Machine.CPUModel, rep.Machine.LoadStart)
	rep.WriteTable(stdout)
	if cfg.OutDir != "" {
		path, err := rep.WriteJSON(cfg.OutDir)
		if err != nil {
			return errors.Join(runErr, err)
		}
		fmt.Fprintf(stdout, "\nresult written to %s\n", path)
	}
	if runErr != nil {
		return runErr
	}
	if smoke && !rep.Passed() {
		return fmt.Errorf("smoke run failed:\n%s", rep.Failures())
	}
	return nil
}
