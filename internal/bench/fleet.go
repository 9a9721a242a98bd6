package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nix-deploy-action/nix-deploy-action/internal/nix"
	"github.com/nix-deploy-action/nix-deploy-action/internal/testbed"
)

// FleetCommand is `nix-deploy-bench fleet [--sizes 1,10,25]`: the wall time
// of deploying N nodes in parallel, each with a slow (3 s) activation, as a
// ratio to N = 1, and the SSH connections and sessions per node.
func FleetCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sizes := fs.String("sizes", "1,10,25", "fleet sizes, comma-separated")
	binFlag := fs.String("binary", "", "nix-deploy binary (built from this module when empty)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "nix-deploy-bench-fleet-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := binary(ctx, *binFlag, dir)
	if err != nil {
		return err
	}
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("fleet: bad size %q", s)
		}
		ns = append(ns, n)
	}
	fmt.Fprintf(stdout, "%6s %10s %10s %8s %12s %12s\n", "nodes", "wall s", "rollout s", "ratio", "conns/node", "sessions/node")
	var base time.Duration
	for _, n := range ns {
		row, err := fleetOnce(ctx, bin, n, stderr)
		if err != nil {
			return fmt.Errorf("fleet of %d: %w", n, err)
		}
		if base == 0 {
			base = row.wall
		}
		fmt.Fprintf(stdout, "%6d %10.2f %10.2f %8.2f %12.1f %12.1f\n", n, row.wall.Seconds(), row.rollout.Seconds(),
			row.wall.Seconds()/base.Seconds(), float64(row.conns)/float64(n), float64(row.sessions)/float64(n))
	}
	return nil
}

type fleetRow struct {
	wall, rollout   time.Duration
	conns, sessions int64
}

func fleetOnce(ctx context.Context, bin string, n int, log io.Writer) (fleetRow, error) {
	dir, err := os.MkdirTemp("", "nix-deploy-bench-fleet-")
	if err != nil {
		return fleetRow{}, err
	}
	defer os.RemoveAll(dir)
	f, err := testbed.Up(ctx, testbed.Options{Nodes: n, Dir: filepath.Join(dir, "fleet")})
	if err != nil {
		return fleetRow{}, err
	}
	defer f.Down(context.WithoutCancel(ctx))
	installables := []string{}
	for _, node := range f.Nodes {
		if err := f.SetBehaviour(node.Name, "slow"); err != nil {
			return fleetRow{}, err
		}
		if err := f.SetRelease(node.Name, "2"); err != nil {
			return fleetRow{}, err
		}
		installables = append(installables, "path:"+f.FlakeDir+"#nixosConfigurations."+node.Name+".config.system.build.toplevel")
	}
	// Build first: the figure is about deploying, not building.
	fmt.Fprintf(log, "building %d systems…\n", n)
	nx := &nix.Nix{Args: []string{"--option", "substituters", ""}}
	for _, inst := range installables {
		if _, err := nx.Build(ctx, inst, nil); err != nil {
			return fleetRow{}, err
		}
	}
	res, wall, err := deployOnce(ctx, bin, f, "")
	if err != nil {
		return fleetRow{}, err
	}
	row := fleetRow{wall: wall}
	for _, nr := range res.Nodes {
		row.rollout = max(row.rollout, time.Duration(nr.Duration))
		if nr.SSH != nil {
			row.conns += nr.SSH.Connections
			row.sessions += nr.SSH.Sessions
		}
	}
	return row, nil
}
