// Command nix-deploy-bench runs the benchmarks behind the numbers we hold
// ourselves to (DESIGN §7): nix-deploy-bench <benchmark> [flags].
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/nix-deploy-action/nix-deploy-action/internal/bench"
)

// benchmarks maps a subcommand to its runner; add new benchmarks here.
var benchmarks = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error{
	"diff":     bench.DiffCommand,
	"transfer": bench.TransferCommand,
	"fleet":    bench.FleetCommand,
	"overhead": bench.OverheadCommand,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	if len(args) == 0 || benchmarks[args[0]] == nil {
		names := make([]string, 0, len(benchmarks))
		for n := range benchmarks {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "usage: nix-deploy-bench <benchmark> [flags]\nbenchmarks: %v\n", names)
		return 2
	}
	if err := benchmarks[args[0]](ctx, args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(os.Stderr, "nix-deploy-bench %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
