package bench

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nix-deploy-action/nix-deploy-action/internal/deploy"
	"github.com/nix-deploy-action/nix-deploy-action/internal/nix"
	"github.com/nix-deploy-action/nix-deploy-action/internal/testbed"
)

// TransferCommand is `nix-deploy-bench transfer [--payload-kib N]`: the same
// closure to a fresh node three ways: a local nix-store --export | --import
// pipe into an empty store (the floor), nix-deploy's transfer, and
// `nix copy --to ssh://` (what deploy-rs does).
func TransferCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("transfer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	payload := fs.Int("payload-kib", 32<<10, "size of each package's data in the test systems, KiB")
	binFlag := fs.String("binary", "", "nix-deploy binary (built from this module when empty)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "nix-deploy-bench-transfer-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := binary(ctx, *binFlag, dir)
	if err != nil {
		return err
	}
	// Two empty nodes: one for nix-deploy, one for nix copy.
	f, err := testbed.Up(ctx, testbed.Options{Nodes: 2, Empty: true, PayloadKiB: *payload, Dir: filepath.Join(dir, "fleet")})
	if err != nil {
		return err
	}
	defer f.Down(context.WithoutCancel(ctx))

	fmt.Fprintln(stderr, "building the closure…")
	top, err := buildSystem(ctx, f, "node1")
	if err != nil {
		return err
	}
	store := &nix.LocalStore{}
	paths, err := store.Requisites(ctx, top)
	if err != nil {
		return err
	}
	size, err := narSize(ctx, top)
	if err != nil {
		return err
	}

	floor, err := timeIt(func() error { return localPipe(ctx, store, paths, filepath.Join(dir, "floor")) })
	if err != nil {
		return fmt.Errorf("local pipe: %w", err)
	}

	res, whole, err := deployOnce(ctx, bin, f, "node1")
	if err != nil {
		return err
	}
	var ours time.Duration
	for _, s := range res.Nodes[0].Steps {
		if s.Step == deploy.StepTransfer {
			ours = time.Duration(s.Duration)
		}
	}

	copyTime, err := timeIt(func() error { return nixCopy(ctx, f, f.Node("node2"), top) })
	if err != nil {
		return fmt.Errorf("nix copy: %w", err)
	}

	mib := float64(size) / (1 << 20)
	fmt.Fprintf(stdout, "closure: %d paths, %.1f MiB (NAR)\n\n", len(paths), mib)
	fmt.Fprintf(stdout, "%-46s %9s %9s %8s\n", "method", "seconds", "MiB/s", "x floor")
	row := func(name string, d time.Duration) {
		fmt.Fprintf(stdout, "%-46s %9.2f %9.0f %8.2f\n", name, d.Seconds(), mib/d.Seconds(), d.Seconds()/floor.Seconds())
	}
	row("local export | import, empty store (floor)", floor)
	row("nix-deploy: transfer step", ours)
	row("nix-deploy: whole deploy (build eval to confirm)", whole)
	row("nix copy --to ssh:// (remote-program sudo)", copyTime)
	return nil
}

// buildSystem builds node's system of the fleet's flake.
func buildSystem(ctx context.Context, f *testbed.Fleet, node string) (string, error) {
	n := &nix.Nix{Args: []string{"--option", "substituters", ""}}
	b, err := n.Build(ctx, "path:"+f.FlakeDir+"#nixosConfigurations."+node+".config.system.build.toplevel", nil)
	if err != nil {
		return "", err
	}
	return b.Out(), nil
}

func narSize(ctx context.Context, path string) (int64, error) {
	paths, err := exec.CommandContext(ctx, "nix-store", "--query", "--requisites", path).Output()
	if err != nil {
		return 0, fmt.Errorf("closure size: %w", err)
	}
	var total int64
	for _, p := range strings.Fields(string(paths)) {
		o, err := exec.CommandContext(ctx, "nix-store", "--query", "--size", p).Output()
		if err != nil {
			return 0, fmt.Errorf("closure size: %w", err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(o)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("closure size of %s: %w", p, err)
		}
		total += n
	}
	return total, nil
}

// localPipe is the floor: the same export stream into an empty local store.
func localPipe(ctx context.Context, store *nix.LocalStore, paths []string, root string) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	pr, pw := io.Pipe()
	imp := exec.CommandContext(ctx, "nix-store", "--store", root, "--import")
	imp.Stdin = pr
	var stderr bytes.Buffer
	imp.Stderr = &stderr
	imp.Stdout = io.Discard
	if err := imp.Start(); err != nil {
		return err
	}
	eerr := store.Export(ctx, paths, pw)
	pw.CloseWithError(eerr)
	ierr := imp.Wait()
	if eerr != nil {
		return eerr
	}
	if ierr != nil {
		return fmt.Errorf("%w: %s", ierr, stderr.String())
	}
	return nil
}

// nixCopy copies path to n as deploy-rs would. deploy-rs needs the SSH user
// to be a trusted Nix user; the testbed's is not, so the remote nix-store
// runs through sudo instead (the same privilege our import uses).
func nixCopy(ctx context.Context, f *testbed.Fleet, n *testbed.Node, path string) error {
	cmd := exec.CommandContext(ctx, "nix", "--extra-experimental-features", "nix-command",
		"copy", "--no-check-sigs", "--to", fmt.Sprintf("ssh://%s@%s?remote-program=sudo%%20-n%%20nix-store", testbed.UserDeploy, n.Host), path)
	cmd.Env = append(os.Environ(), fmt.Sprintf("NIX_SSHOPTS=-i %s -o UserKnownHostsFile=%s -o BatchMode=yes -p %d", f.KeyFile, f.KnownHostsFile, n.Port))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}

// deployOnce runs the nix-deploy binary on the fleet's plan and returns
// the result and the wall time.
func deployOnce(ctx context.Context, bin string, f *testbed.Fleet, nodes string) (*deploy.Result, time.Duration, error) {
	resFile := filepath.Join(f.Dir, "bench-result.json")
	args := []string{"deploy", "-f", f.PlanFile, "--env", "local", "--ssh-key", f.KeyFile, "--no-ssh-agent", "--result", resFile}
	if nodes != "" {
		args = append(args, "--nodes", nodes)
	}
	args = append(args, "--", "--option", "substituters", "")
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return nil, 0, fmt.Errorf("deploy: %w: %s", err, out.String())
	}
	data, err := os.ReadFile(resFile)
	if err != nil {
		return nil, 0, err
	}
	res, err := deploy.ReadResult(data)
	if err != nil {
		return nil, 0, err
	}
	return res, wall, nil
}

// binary returns bin, or builds nix-deploy into dir when bin is empty.
func binary(ctx context.Context, bin, dir string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	out := filepath.Join(dir, "nix-deploy")
	if err := buildBinary(ctx, out); err != nil {
		return "", err
	}
	return out, nil
}

func timeIt(fn func() error) (time.Duration, error) {
	start := time.Now()
	err := fn()
	return time.Since(start), err
}
