package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// process is what a command gets from the operating system: the environment and the
// standard streams. Tests pass their own.
type process struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one entry of hookrelay's command table: a command that runs, or a group (run
// nil) whose own table follows the group's name on the command line.
type command struct {
	name    string
	summary string // one line, lowercase, for the tables in the help
	run     func(ctx context.Context, args []string, p process) error
	sub     []command
}

// commands is hookrelay's table of commands. A new command is one more row here and a run
// function that parses its flags with parseFlags, which gives it its --help.
func commands() []command {
	return []command{
		{name: "serve", summary: "run the webhook delivery server (the default when no command is given)",
			run: func(ctx context.Context, args []string, p process) error {
				return run(ctx, args, p.getenv, p.stdout, p.stderr)
			}},
		{name: "listen", summary: "run a development receiver that prints each delivery and checks its signature",
			run: func(ctx context.Context, args []string, p process) error {
				return runListen(ctx, args, p.getenv, p.stdout, p.stderr)
			}},
		{name: "admin", summary: "manage the admins of the web UI", sub: adminCommands()},
		{name: "user", summary: "manage the users of the web UI and their roles", sub: userCommands()},
		{name: "backup", summary: "write a consistent copy of the live SQLite database to a new file", run: runBackup},
		{name: "migrate-store", summary: "copy a SQLite database into an empty PostgreSQL database", run: runMigrateStore},
		{name: "version", summary: "print the version, the commit and the Go version it was built with", run: runVersion},
		{name: "help", summary: "print this help, or a command's (hookrelay help <command>)", run: runHelp},
	}
}

// usageError is a command line hookrelay does not understand; it exits with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// runMain runs the command named by args and returns the process's exit status: 0 on
// success and for help, 2 for a command line it does not understand, 1 for any other error.
func runMain(ctx context.Context, args []string, p process) int {
	err := dispatch(ctx, args, p)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(p.stderr, "hookrelay:", err)
	if errors.As(err, new(usageError)) {
		return 2
	}
	return 1
}

// dispatch runs the command args[0], or serve when args is empty or starts with a flag:
// `hookrelay --addr …` has always meant the server.
func dispatch(ctx context.Context, args []string, p process) error {
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help":
			writeRootUsage(p.stdout)
			return flag.ErrHelp
		case "-version", "--version":
			return runVersion(ctx, nil, p)
		}
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return run(ctx, args, p.getenv, p.stdout, p.stderr)
	}
	return runIn(ctx, "hookrelay", commands(), args, p)
}

// runIn runs args[0] from the table cmds, which is reached on the command line by path.
func runIn(ctx context.Context, path string, cmds []command, args []string, p process) error {
	if len(args) == 0 {
		return usageError{fmt.Errorf("missing %s command; run '%s --help' for the list", strings.TrimPrefix(path, "hookrelay "), path)}
	}
	for _, c := range cmds {
		if c.name != args[0] {
			continue
		}
		if c.sub != nil {
			return runIn(ctx, path+" "+c.name, c.sub, args[1:], p)
		}
		return c.run(ctx, args[1:], p)
	}
	if isHelp(args[0]) {
		writeGroupUsage(p.stdout, path, cmds)
		return flag.ErrHelp
	}
	if path == "hookrelay" {
		return usageError{fmt.Errorf("unknown command %q; run 'hookrelay help' for the list of commands", args[0])}
	}
	group := strings.TrimPrefix(path, "hookrelay ")
	return usageError{fmt.Errorf("unknown %s command %q; run '%s --help' for the list", group, args[0], path)}
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// runHelp is `hookrelay help [command…]`.
func runHelp(ctx context.Context, args []string, p process) error {
	if len(args) == 0 {
		writeRootUsage(p.stdout)
		return nil
	}
	return runIn(ctx, "hookrelay", commands(), append(args, "--help"), p)
}

// writeRootUsage prints hookrelay's help: the commands first, since the server's settings
// fill a screen of their own (hookrelay serve --help).
func writeRootUsage(w io.Writer) {
	fmt.Fprint(w, "Usage: hookrelay [command] [flags]\n\nCommands:\n")
	writeCommandTable(w, commands())
	fmt.Fprint(w, `
With no command, hookrelay runs serve: "hookrelay [flags]" is "hookrelay serve [flags]".
Run "hookrelay <command> --help" for a command's flags; "hookrelay serve --help" lists the
server's settings, each a flag and a HOOKRELAY_* environment variable.
`)
}

// writeGroupUsage prints the help of a group of commands such as `hookrelay admin`.
func writeGroupUsage(w io.Writer, path string, cmds []command) {
	if path == "hookrelay" {
		writeRootUsage(w)
		return
	}
	fmt.Fprintf(w, "Usage: %s <command> [flags]\n\nCommands:\n", path)
	writeCommandTable(w, cmds)
	fmt.Fprintf(w, "\nRun \"%s <command> --help\" for a command's flags.\n", path)
}

// writeCommandTable lists every command that runs, a group's under its name ("admin create").
func writeCommandTable(w io.Writer, cmds []command) {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	var add func(prefix string, cmds []command)
	add = func(prefix string, cmds []command) {
		for _, c := range cmds {
			if c.sub != nil {
				add(prefix+c.name+" ", c.sub)
				continue
			}
			fmt.Fprintf(tw, "  %s%s\t%s\n", prefix, c.name, c.summary)
		}
	}
	add("", cmds)
	tw.Flush()
}

// parseFlags parses args with fs, whose name is the command's path ("hookrelay listen").
// Asked for help (-h, --help) it prints usage and then fs's flags to stdout and returns
// flag.ErrHelp. A bad flag becomes a usageError naming the command's --help; nothing is
// printed, since main prints the error.
func parseFlags(fs *flag.FlagSet, args []string, usage string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprint(stdout, "\nFlags:\n")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			fs.SetOutput(io.Discard)
		}
		return err
	}
	if err != nil {
		return usageError{fmt.Errorf("%w (see '%s --help')", err, fs.Name())}
	}
	return nil
}
