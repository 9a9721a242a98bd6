// Package cli is the nix-deploy command line: one file per command, each
// with an Options struct so flag parsing is tested apart from behaviour.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
	"github.com/nix-deploy-action/nix-deploy-action/internal/exit"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=v1.2.3".
var Version = "dev"

// IO is what a command may touch of the process: streams and environment.
type IO struct {
	In     io.Reader
	Out    io.Writer
	Err    io.Writer
	Getenv func(string) string
}

// StdIO is the real process's IO.
func StdIO() IO {
	return IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv}
}

// Command is one subcommand of nix-deploy.
type Command struct {
	Name    string
	Summary string
	// Run parses args (everything after the command name) and runs.
	Run func(ctx context.Context, io IO, args []string) error
}

var commands = map[string]*Command{}

// register is called from each command file's init.
func register(c *Command) {
	if _, dup := commands[c.Name]; dup {
		panic("cli: duplicate command " + c.Name)
	}
	commands[c.Name] = c
}

// Run runs nix-deploy with args (without the program name) and returns the
// process exit code.
func Run(ctx context.Context, args []string, io IO) int {
	err := run(ctx, args, io)
	var problems config.Errors
	switch {
	case errors.As(err, &problems):
		// One FILE:LINE:COLUMN: message line per problem, the format
		// editors and problem matchers read.
		for _, e := range problems {
			fmt.Fprintln(io.Err, e)
		}
	case err != nil && !errors.Is(err, flag.ErrHelp):
		fmt.Fprintf(io.Err, "nix-deploy: %v\n", err)
	}
	if errors.Is(err, flag.ErrHelp) {
		return exit.OK
	}
	if err != nil && ctx.Err() != nil {
		return exit.Cancelled
	}
	return exit.Code(err)
}

func run(ctx context.Context, args []string, io IO) error {
	if len(args) == 0 {
		usage(io.Err)
		return exit.Usagef("no command given")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(io.Out)
		return nil
	case "-version", "--version", "version":
		fmt.Fprintf(io.Out, "nix-deploy %s\n", Version)
		return nil
	}
	c, ok := commands[args[0]]
	if !ok {
		usage(io.Err)
		return exit.Usagef("unknown command %q", args[0])
	}
	return c.Run(ctx, io, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "nix-deploy: build, diff and deploy Nix profiles over SSH with magic rollback\n\n")
	fmt.Fprintf(w, "Usage: nix-deploy <command> [flags]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].Summary)
	}
	fmt.Fprintf(w, "\nRun 'nix-deploy <command> --help' for a command's flags.\n")
	fmt.Fprintf(w, "Exit codes: 0 ok, 1 failure, 2 invalid input, 3 rolled back, 4 rollback failed, 130 cancelled.\n")
}

// newFlagSet returns a flag set whose errors are usage errors and whose
// --help prints to out.
func newFlagSet(name, synopsis string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: nix-deploy %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and turns flag errors into usage errors. Arguments
// after a literal "--" are returned separately (they go to nix unchanged).
func parseFlags(fs *flag.FlagSet, args []string) (rest, passthrough []string, err error) {
	for i, a := range args {
		if a == "--" {
			passthrough = append([]string(nil), args[i+1:]...)
			args = args[:i]
			break
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, err
		}
		return nil, nil, &exit.UsageError{Err: err}
	}
	return fs.Args(), passthrough, nil
}

// stringsFlag is a repeatable flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }
