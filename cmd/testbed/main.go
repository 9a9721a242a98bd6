// Command testbed starts and stops a local fleet of fake NixOS machines
// (internal/testbed) for the demo and for trying nix-deploy by hand.
//
//	testbed up --nodes N --dir DIR [--empty] [--payload KiB]
//	testbed down --dir DIR [--clean]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/nix-deploy-action/nix-deploy-action/internal/testbed"
)

const usage = `usage:
  testbed up --nodes N --dir DIR [--empty] [--payload KiB] [-v]
      start N nodes; DIR receives plan.yml, id_ed25519, known_hosts, flake/
  testbed down --dir DIR [--clean]
      stop every process of the fleet; --clean also removes its files
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "testbed: %v\n", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "up":
		return up(ctx, args[1:], stdout, stderr)
	case "down":
		return down(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func up(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o testbed.Options
	verbose := fs.Bool("v", false, "log progress to stderr")
	fs.IntVar(&o.Nodes, "nodes", 3, "number of nodes")
	fs.StringVar(&o.Dir, "dir", "", "directory for the fleet's files (required)")
	fs.BoolVar(&o.Empty, "empty", false, "install no system on the nodes")
	fs.IntVar(&o.PayloadKiB, "payload", 0, "KiB of data per package in the fake systems (default 256)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Dir == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("up: --dir is required and there are no arguments")
	}
	if *verbose {
		o.Log = stderr
	}
	f, err := testbed.Up(ctx, o)
	if err != nil {
		return err
	}
	first := f.Nodes[0]
	fmt.Fprintf(stdout, "testbed: %d nodes up in %s\n", len(f.Nodes), f.Dir)
	for _, n := range f.Nodes {
		fmt.Fprintf(stdout, "  %-8s %s:%d\n", n.Name, n.Host, n.Port)
	}
	fmt.Fprintf(stdout, "plan:  %s\n", f.PlanFile)
	fmt.Fprintf(stdout, "ssh:   ssh -i %s -o UserKnownHostsFile=%s -p %d %s@%s\n",
		f.KeyFile, f.KnownHostsFile, first.Port, testbed.UserDeploy, first.Host)
	fmt.Fprintf(stdout, "stop:  go run ./cmd/testbed down --dir %s\n", f.Dir)
	return nil
}

func down(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("down", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory of the fleet (required)")
	clean := fs.Bool("clean", false, "also remove the fleet's files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("down: --dir is required and there are no arguments")
	}
	f, err := testbed.Load(*dir)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stdout, "testbed: no fleet in %s\n", *dir)
		return nil
	}
	if err != nil {
		return err
	}
	if err := f.Down(ctx); err != nil {
		return err
	}
	if *clean {
		if err := f.Clean(); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "testbed: fleet in %s is down\n", f.Dir)
	return nil
}
