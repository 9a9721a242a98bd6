package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nix-deploy-action/nix-deploy-action/internal/deploy"
	"github.com/nix-deploy-action/nix-deploy-action/internal/nix"
	"github.com/nix-deploy-action/nix-deploy-action/internal/ssh"
	"github.com/nix-deploy-action/nix-deploy-action/internal/testbed"
)

// TransferCommand is `nix-deploy-bench transfer [--payload-kib N] [--runs N]`:
// the same closure to fresh nodes, several times over: a local nix-store
// --export | --import pipe into an empty store (the floor), nix-deploy's
// transfer step with its breakdown, the SSH leg alone (the export through
// nix-deploy's SSH client into cat >/dev/null on the node), and
// `nix copy --to ssh://` (what deploy-rs does). The machine may be shared,
// so every run measures all of them and the ratios are taken within a run;
// the table shows medians.
func TransferCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("transfer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	payload := fs.Int("payload-kib", 32<<10, "size of each package's data in the test systems, KiB")
	runs := fs.Int("runs", 5, "runs, each on two fresh nodes")
	binFlag := fs.String("binary", "", "nix-deploy binary (built from this module when empty)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *runs < 1 {
		return fmt.Errorf("transfer: --runs must be at least 1")
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
	// Two empty nodes per run: one for nix-deploy (then the SSH leg alone),
	// one for nix copy.
	f, err := testbed.Up(ctx, testbed.Options{Nodes: 2 * *runs, Empty: true, PayloadKiB: *payload, Dir: filepath.Join(dir, "fleet")})
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

	var rs []transferRun
	for i := range *runs {
		ours, other := f.Nodes[2*i], f.Nodes[2*i+1]
		fmt.Fprintf(stderr, "run %d of %d…\n", i+1, *runs)
		r, err := transferOnce(ctx, bin, f, store, paths, top, ours, other, filepath.Join(dir, fmt.Sprintf("floor%d", i)))
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		rs = append(rs, r)
	}
	writeTransferTable(stdout, len(paths), size, rs)
	return nil
}

// transferRun is one run's figures; the cpu fields are CPU time (user +
// system) here and on the node.
type transferRun struct {
	floor, ours, whole, leg, copy time.Duration
	query, stream, imp            time.Duration

	floorCPU, legCPU, legNodeCPU, copyCPU, copyNodeCPU time.Duration
}

func transferOnce(ctx context.Context, bin string, f *testbed.Fleet, store *nix.LocalStore, paths []string, top string, ours, other *testbed.Node, floorDir string) (transferRun, error) {
	var r transferRun
	var err error
	cpu := startCPU(0)
	if r.floor, err = timeIt(func() error { return localPipe(ctx, store, paths, floorDir) }); err != nil {
		return r, fmt.Errorf("local pipe: %w", err)
	}
	r.floorCPU, _ = cpu.stop()
	if err := os.RemoveAll(floorDir); err != nil {
		return r, err
	}

	res, whole, err := deployOnce(ctx, bin, f, ours.Name)
	if err != nil {
		return r, err
	}
	r.whole = whole
	for _, s := range res.Nodes[0].Steps {
		if s.Step == deploy.StepTransfer {
			r.ours = time.Duration(s.Duration)
		}
	}
	if t := res.Nodes[0].Profiles[0].Transfer; t != nil {
		r.query, r.stream, r.imp = time.Duration(t.Query), time.Duration(t.Stream), time.Duration(t.Import)
	}

	if r.leg, r.legCPU, r.legNodeCPU, err = sshLeg(ctx, f, store, paths, ours); err != nil {
		return r, fmt.Errorf("ssh leg: %w", err)
	}

	cpu = startCPU(sshdPID(f, other.Name))
	if r.copy, err = timeIt(func() error { return nixCopy(ctx, f, other, top) }); err != nil {
		return r, fmt.Errorf("nix copy: %w", err)
	}
	r.copyCPU, r.copyNodeCPU = cpu.stop()
	return r, nil
}

// sshLeg streams the export through nix-deploy's SSH client (its cipher
// and buffers) into cat >/dev/null on n: what the transfer pays for SSH,
// without the import. The connection is made before the clock starts.
func sshLeg(ctx context.Context, f *testbed.Fleet, store *nix.LocalStore, paths []string, n *testbed.Node) (wall, here, node time.Duration, err error) {
	c, err := ssh.Dial(ctx, ssh.Config{Host: n.Host, Port: n.Port, User: testbed.UserDeploy, HostKey: n.HostKey, KeyFile: f.KeyFile})
	if err != nil {
		return 0, 0, 0, err
	}
	defer c.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return 0, 0, 0, err
	}
	defer pr.Close()
	cpu := startCPU(sshdPID(f, n.Name))
	exported := make(chan error, 1)
	wall, err = timeIt(func() error {
		go func() {
			err := store.Export(ctx, paths, pw)
			pw.Close()
			exported <- err
		}()
		return c.Run(ctx, []string{"sh", "-c", "cat >/dev/null"}, pr, nil, nil)
	})
	pr.Close()
	if eerr := <-exported; err == nil {
		err = eerr
	}
	// The node's session process ends, and its CPU is counted, only when
	// the connection closes.
	c.Close()
	here, node = cpu.stop()
	return wall, here, node, err
}

func writeTransferTable(w io.Writer, paths int, size int64, rs []transferRun) {
	mib := float64(size) / (1 << 20)
	pick := func(get func(transferRun) time.Duration) time.Duration {
		ds := make([]time.Duration, len(rs))
		for i, r := range rs {
			ds[i] = get(r)
		}
		return median(ds)
	}
	// Ratios are taken within each run (the machine's load changes between
	// runs), then the median of those.
	ratio := func(get func(transferRun) time.Duration) (float64, []string) {
		var xs []float64
		var each []string
		for _, r := range rs {
			x := get(r).Seconds() / r.floor.Seconds()
			xs = append(xs, x)
			each = append(each, fmt.Sprintf("%.2f", x))
		}
		slices.Sort(xs)
		m := xs[len(xs)/2]
		if len(xs)%2 == 0 {
			m = (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
		}
		return m, each
	}
	secs := func(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }
	cpuCol := func(get func(transferRun) time.Duration) string {
		d := pick(get)
		if d <= 0 {
			return "-"
		}
		return secs(d)
	}
	none := func(transferRun) time.Duration { return 0 }

	fmt.Fprintf(w, "closure: %d paths, %.1f MiB (NAR); %d runs on fresh nodes; medians (x floor: median of each run's ratio)\n\n", paths, mib, len(rs))
	fmt.Fprintf(w, "%-50s %8s %7s %8s %8s %8s\n", "method", "seconds", "MiB/s", "x floor", "CPU here", "CPU node")
	row := func(name string, get, here, node func(transferRun) time.Duration) {
		d := pick(get)
		x, _ := ratio(get)
		fmt.Fprintf(w, "%-50s %8s %7.0f %8.2f %8s %8s\n", name, secs(d), mib/d.Seconds(), x, cpuCol(here), cpuCol(node))
	}
	sub := func(name string, get func(transferRun) time.Duration) {
		fmt.Fprintf(w, "%-50s %8s\n", "  "+name, secs(pick(get)))
	}
	row("local export | import, empty store (floor)", func(r transferRun) time.Duration { return r.floor },
		func(r transferRun) time.Duration { return r.floorCPU }, none)
	row("nix-deploy: transfer step", func(r transferRun) time.Duration { return r.ours }, none, none)
	sub("asking the node which paths it lacks", func(r transferRun) time.Duration { return r.query })
	sub("streaming export -> SSH -> import", func(r transferRun) time.Duration { return r.stream })
	sub("import after the last byte", func(r transferRun) time.Duration { return r.imp })
	row("nix-deploy: whole deploy (build eval to confirm)", func(r transferRun) time.Duration { return r.whole }, none, none)
	row("SSH leg alone: export | our SSH | cat >/dev/null", func(r transferRun) time.Duration { return r.leg },
		func(r transferRun) time.Duration { return r.legCPU }, func(r transferRun) time.Duration { return r.legNodeCPU })
	row("nix copy --to ssh:// (remote-program sudo)", func(r transferRun) time.Duration { return r.copy },
		func(r transferRun) time.Duration { return r.copyCPU }, func(r transferRun) time.Duration { return r.copyNodeCPU })

	x, each := ratio(func(r transferRun) time.Duration { return r.ours })
	fmt.Fprintf(w, "\ntarget: transfer within 1.20x the floor: %.2fx (runs: %s): %s\n", x, strings.Join(each, " "), verdict(x <= 1.2))
	faster := 0
	for _, r := range rs {
		if r.ours < r.copy {
			faster++
		}
	}
	fmt.Fprintf(w, "target: faster than nix copy: %s vs %s s, faster in %d of %d runs: %s\n",
		secs(pick(func(r transferRun) time.Duration { return r.ours })), secs(pick(func(r transferRun) time.Duration { return r.copy })),
		faster, len(rs), verdict(2*faster > len(rs)))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// cpuMeter measures the CPU time this process and its children use, and
// that of an sshd listener's finished sessions (a session's CPU, and its
// command's, reach the listener's children times when it reaps it).
type cpuMeter struct {
	self, children syscall.Rusage
	sshd           int
	node           time.Duration
}

func startCPU(sshd int) *cpuMeter {
	m := &cpuMeter{sshd: sshd}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &m.self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &m.children)
	if sshd > 0 {
		m.node, _ = childrenCPU(sshd)
	}
	return m
}

// stop returns the CPU used here and on the node since start; node is 0
// when it could not be read.
func (m *cpuMeter) stop() (here, node time.Duration) {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	here = rusageCPU(self) - rusageCPU(m.self) + rusageCPU(children) - rusageCPU(m.children)
	if m.sshd <= 0 {
		return here, 0
	}
	// The listener reaps its sessions asynchronously.
	for range 50 {
		if kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", m.sshd, m.sshd)); err != nil || len(strings.TrimSpace(string(kids))) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	after, err := childrenCPU(m.sshd)
	if err != nil {
		return here, 0
	}
	return here, after - m.node
}

func rusageCPU(r syscall.Rusage) time.Duration {
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

// childrenCPU reads the CPU time of pid's reaped children from
// /proc/PID/stat (cutime and cstime, in clock ticks of 1/100 s on Linux).
func childrenCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses and may
	// contain spaces.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 15 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	var ticks int64
	for _, f := range fields[13:15] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// sshdPID is the pid of node's sshd listener, from the fleet's state file;
// 0 when it cannot be read (the node's CPU column then shows "-").
func sshdPID(f *testbed.Fleet, node string) int {
	data, err := os.ReadFile(filepath.Join(f.Dir, "state.json"))
	if err != nil {
		return 0
	}
	var st struct {
		Nodes []struct {
			Name string `json:"name"`
			SSHD int    `json:"sshd_pid"`
		} `json:"nodes"`
	}
	if json.Unmarshal(data, &st) != nil {
		return 0
	}
	for _, n := range st.Nodes {
		if n.Name == node {
			return n.SSHD
		}
	}
	return 0
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

// localPipe is the floor: the same export stream into an empty local
// store, through an OS pipe as in a shell's export | import.
func localPipe(ctx context.Context, store *nix.LocalStore, paths []string, root string) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	imp := exec.CommandContext(ctx, "nix-store", "--store", root, "--import")
	imp.Stdin = pr
	var stderr bytes.Buffer
	imp.Stderr = &stderr
	imp.Stdout = io.Discard
	err = imp.Start()
	pr.Close()
	if err != nil {
		pw.Close()
		return err
	}
	eerr := store.Export(ctx, paths, pw)
	pw.Close()
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
