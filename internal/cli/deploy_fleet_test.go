package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/deploy"
	"github.com/nix-deploy-action/nix-deploy-action/internal/testbed"
)

// Deploy tests run against the real local fleet (internal/testbed): real
// sshd, sudo, nix-daemon and the real agent on every node. Each causes its
// fault for real and asserts the node's end state and the reported outcome.

// Short timeouts keep the fault tests quick; "hang" needs the activation
// timeout, "break-ssh" the confirm timeout.
const (
	testConfirmTimeout    = "6s"
	testActivationTimeout = "5s"
)

// noSubstituters keeps builds from trying cache.nixos.org (no network here).
var noSubstituters = []string{"--", "--option", "substituters", ""}

// startFleet starts n nodes and returns the fleet and a plan with short
// timeouts; edit, when set, rewrites the plan text.
func startFleet(t *testing.T, n int, edit func(string) string) (*testbed.Fleet, string) {
	t.Helper()
	f := testbed.StartForTest(t, testbed.Options{Nodes: n})
	return f, writePlan(t, f, edit)
}

func writePlan(t *testing.T, f *testbed.Fleet, edit func(string) string) string {
	t.Helper()
	data, err := os.ReadFile(f.PlanFile)
	require.NoError(t, err)
	text := strings.Replace(string(data), "  confirm-timeout: 10s\n",
		"  confirm-timeout: "+testConfirmTimeout+"\n  activation-timeout: "+testActivationTimeout+"\n", 1)
	require.NotEqual(t, string(data), text, "the testbed plan changed: update this test")
	if edit != nil {
		text = edit(text)
	}
	file, err := os.CreateTemp(f.Dir, "plan-*.yml")
	require.NoError(t, err)
	_, err = file.WriteString(text)
	require.NoError(t, err)
	require.NoError(t, file.Close())
	return file.Name()
}

// outcome is what one CLI run produced.
type outcome struct {
	code           int
	stdout, stderr string
	result         *deploy.Result
}

// runCLI runs nix-deploy in-process with the fleet's key.
func runCLI(t *testing.T, ctx context.Context, f *testbed.Fleet, args ...string) outcome {
	t.Helper()
	resFile := filepath.Join(t.TempDir(), "result.json")
	full := append([]string{}, args[0], "--ssh-key", f.KeyFile, "--no-ssh-agent")
	if args[0] == "deploy" || args[0] == "rollback" {
		full = append(full, "--result", resFile)
	}
	full = append(full, args[1:]...)
	var stdout, stderr bytes.Buffer
	code := Run(ctx, full, IO{In: strings.NewReader(""), Out: &stdout, Err: &stderr, Getenv: func(string) string { return "" }})
	o := outcome{code: code, stdout: stdout.String(), stderr: stderr.String()}
	if data, err := os.ReadFile(resFile); err == nil {
		o.result, err = deploy.ReadResult(data)
		require.NoError(t, err)
	}
	t.Logf("nix-deploy %s: exit %d\n%s\n%s", strings.Join(args, " "), code, o.stdout, o.stderr)
	return o
}

func deployArgs(plan string, extra ...string) []string {
	args := append([]string{"deploy", "-f", plan, "--env", "local"}, extra...)
	return append(args, noSubstituters...)
}

func (o outcome) node(t *testing.T, name string) *deploy.NodeResult {
	t.Helper()
	require.NotNil(t, o.result, "no result written")
	for _, n := range o.result.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("no result for %s", name)
	return nil
}

// endState is what a node runs after a deploy.
type endState struct {
	system      string
	generations int
	current     string // the system profile's current generation's path
	reachable   bool
}

func stateOf(t *testing.T, ctx context.Context, n *testbed.Node) endState {
	t.Helper()
	sys, err := n.CurrentSystem(ctx)
	require.NoError(t, err)
	gens, err := n.Generations(ctx, testbed.SystemProfile)
	require.NoError(t, err)
	s := endState{system: sys, generations: len(gens), reachable: n.SSHReachable(ctx)}
	for _, g := range gens {
		if g.Current {
			s.current = g.Path
		}
	}
	return s
}

func TestDeployGoodThenUnchanged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, plan := startFleet(t, 1, nil)
	node := f.Nodes[0]
	before := stateOf(t, ctx, node)
	require.NoError(t, f.SetRelease(node.Name, "2"))

	o := runCLI(t, ctx, f, deployArgs(plan)...)
	require.Equal(t, 0, o.code)
	r := o.node(t, node.Name)
	assert.Equal(t, deploy.Deployed, r.Outcome)
	p := r.Profiles[0]
	assert.Equal(t, 2, p.Generation)
	assert.Equal(t, before.system, p.Previous)
	after := stateOf(t, ctx, node)
	assert.Equal(t, endState{system: p.Path, generations: 2, current: p.Path, reachable: true}, after)
	boot, err := node.BootDefault(ctx)
	require.NoError(t, err)
	assert.Equal(t, p.Path, boot, "confirmed: the boot entry is the new system")
	require.NotNil(t, p.Transfer)
	assert.Positive(t, p.Transfer.Missing)
	assert.Less(t, p.Transfer.Missing, p.Transfer.Closure, "paths the node has are not sent again")
	assert.Contains(t, o.stdout, "deployed")

	o = runCLI(t, ctx, f, deployArgs(plan)...)
	require.Equal(t, 0, o.code)
	assert.Equal(t, deploy.Unchanged, o.node(t, node.Name).Outcome)
	assert.Equal(t, after, stateOf(t, ctx, node))
	acts, err := node.Activations(ctx)
	require.NoError(t, err)
	n := len(acts)

	// status lists both generations; rollback goes back to the first, with
	// the deploy's safety (a new generation pointing at the old system).
	var out bytes.Buffer
	code := Run(ctx, []string{"status", "-f", plan, "--env", "local", "--ssh-key", f.KeyFile, "--no-ssh-agent"},
		IO{Out: &out, Err: &out, Getenv: func(string) string { return "" }})
	require.Equal(t, 0, code, out.String())
	assert.Contains(t, out.String(), before.system)
	assert.Contains(t, out.String(), p.Path+" (current)")

	o = runCLI(t, ctx, f, "rollback", "-f", plan, "--env", "local", "--nodes", node.Name)
	require.Equal(t, 0, o.code)
	assert.Equal(t, deploy.Deployed, o.node(t, node.Name).Outcome)
	assert.Equal(t, endState{system: before.system, generations: 3, current: before.system, reachable: true}, stateOf(t, ctx, node))
	acts, err = node.Activations(ctx)
	require.NoError(t, err)
	assert.Greater(t, len(acts), n)
}

// TestDeployFaults gives each node its own fault and deploys them all at
// once (on-failure continue): every fault must end with the node back on
// its old system, its profile untouched, sshd reachable.
func TestDeployFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		behaviour string
		outcome   deploy.Outcome
		reason    deploy.Reason
		errHas    string
	}{
		{"fail", deploy.RolledBack, deploy.ReasonActivationFailed, "activation failed"},
		{"hang", deploy.RolledBack, deploy.ReasonActivationTimeout, "timed out"},
		{"break-ssh", deploy.RolledBack, deploy.ReasonUnreachable, "unreachable after activation"},
		{"unhealthy", deploy.RolledBack, deploy.ReasonHealthCheck, "healthcheck"},
		{"degraded", deploy.RolledBack, deploy.ReasonDegraded, "nginx.service"},
	}
	f, plan := startFleet(t, len(tests), func(s string) string {
		return strings.Replace(s, "strategy: parallel", "strategy: parallel\n    on-failure: continue", 1)
	})
	before := map[string]endState{}
	for i, tt := range tests {
		n := f.Nodes[i]
		before[n.Name] = stateOf(t, ctx, n)
		require.NoError(t, f.SetBehaviour(n.Name, tt.behaviour))
		require.NoError(t, f.SetRelease(n.Name, "2"))
	}
	o := runCLI(t, ctx, f, deployArgs(plan)...)
	assert.Equal(t, 3, o.code, "rolled back: exit 3")
	for i, tt := range tests {
		n := f.Nodes[i]
		t.Run(tt.behaviour, func(t *testing.T) {
			r := o.node(t, n.Name)
			assert.Equal(t, tt.outcome, r.Outcome)
			assert.Equal(t, tt.reason, r.Reason)
			assert.Contains(t, r.Error, tt.errHas)
			assert.Equal(t, before[n.Name], stateOf(t, ctx, n), "back on the old system, profile untouched, reachable")
		})
	}
	r := o.node(t, f.Nodes[4].Name)
	assert.Equal(t, []string{"nginx.service"}, r.Profiles[0].FailedUnit)
}

// TestDeployDegradedWarn: with degraded-units: warn, exit 4 of
// switch-to-configuration is a warning naming the units; the deploy stays.
func TestDeployDegradedWarn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, plan := startFleet(t, 1, func(s string) string {
		return strings.Replace(s, "  port: 2222\n", "  port: 2222\n  degraded-units: warn\n", 1)
	})
	n := f.Nodes[0]
	require.NoError(t, f.SetBehaviour(n.Name, "degraded"))
	require.NoError(t, f.SetRelease(n.Name, "2"))
	o := runCLI(t, ctx, f, deployArgs(plan)...)
	require.Equal(t, 0, o.code)
	p := o.node(t, n.Name).Profiles[0]
	assert.Equal(t, deploy.Deployed, p.Outcome)
	assert.Equal(t, "degraded", p.Warning)
	assert.Equal(t, []string{"nginx.service"}, p.FailedUnit)
	assert.Contains(t, o.stdout, "failed units: nginx.service")
	assert.Equal(t, endState{system: p.Path, generations: 2, current: p.Path, reachable: true}, stateOf(t, ctx, n))
}

// TestDeployFleetCanary: 6 nodes, canary 1, max-parallel 3, node3 broken:
// waves [node1] [node2 node3 node4] [node5 node6]; node3 rolls back and
// stops the rollout, so node5 and node6 are skipped.
func TestDeployFleetCanary(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, plan := startFleet(t, 6, func(s string) string {
		return strings.Replace(s, "strategy: parallel", "strategy: canary\n    canary: 1\n    max-parallel: 3\n    on-failure: stop", 1)
	})
	before := map[string]endState{}
	for _, n := range f.Nodes {
		before[n.Name] = stateOf(t, ctx, n)
		require.NoError(t, f.SetRelease(n.Name, "2"))
	}
	require.NoError(t, f.SetBehaviour("node3", "fail"))
	o := runCLI(t, ctx, f, deployArgs(plan)...)
	assert.Equal(t, 3, o.code)
	want := map[string]deploy.Outcome{
		"node1": deploy.Deployed, "node2": deploy.Deployed, "node3": deploy.RolledBack,
		"node4": deploy.Deployed, "node5": deploy.Skipped, "node6": deploy.Skipped,
	}
	for _, n := range f.Nodes {
		r := o.node(t, n.Name)
		assert.Equal(t, want[n.Name], r.Outcome, n.Name)
		st := stateOf(t, ctx, n)
		if want[n.Name] == deploy.Deployed {
			assert.Equal(t, endState{system: r.Profiles[0].Path, generations: 2, current: r.Profiles[0].Path, reachable: true}, st, n.Name)
		} else {
			assert.Equal(t, before[n.Name], st, n.Name)
		}
	}
}

// TestDeployConcurrentLocked: a second deploy to a node being deployed
// fails at once, saying who holds the lock; the first one is unharmed.
func TestDeployConcurrentLocked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, plan := startFleet(t, 1, func(s string) string {
		// A slow health check keeps the first deploy inside the lock.
		return strings.Replace(s, "      - command: /run/current-system/bin/healthcheck\n", "      - command: sleep 4\n      - command: /run/current-system/bin/healthcheck\n", 1)
	})
	n := f.Nodes[0]
	require.NoError(t, f.SetRelease(n.Name, "2"))

	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	var first outcome
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer pw.Close()
		var stdout bytes.Buffer
		code := Run(ctx, deployArgs(plan, "--ssh-key", f.KeyFile, "--no-ssh-agent"),
			IO{In: strings.NewReader(""), Out: &stdout, Err: pw, Getenv: func(string) string { return "" }})
		first = outcome{code: code, stdout: stdout.String()}
	}()
	waitForLine(t, pr, n.Name+"/system: confirm")
	o := runCLI(t, ctx, f, deployArgs(plan)...)
	wg.Wait()
	pr.Close()
	assert.Equal(t, 1, o.code)
	r := o.node(t, n.Name)
	assert.Equal(t, deploy.Failed, r.Outcome)
	assert.Contains(t, r.Error, "locked by another deploy")
	require.Equal(t, 0, first.code, first.stdout)
	assert.Equal(t, 2, stateOf(t, ctx, n).generations)
}

// waitForLine reads r until a line contains want, then keeps draining it.
func waitForLine(t *testing.T, r *os.File, want string) {
	t.Helper()
	found := make(chan bool, 1)
	go func() {
		buf := make([]byte, 4096)
		var acc []byte
		signalled := false
		for {
			n, err := r.Read(buf)
			acc = append(acc, buf[:n]...)
			if !signalled && bytes.Contains(acc, []byte(want)) {
				found <- true
				signalled = true
			}
			if err != nil {
				if !signalled {
					found <- false
				}
				return
			}
		}
	}()
	select {
	case ok := <-found:
		require.True(t, ok, "output ended before %q", want)
	case <-time.After(3 * time.Minute):
		t.Fatalf("never saw %q", want)
	}
}

// TestDeployRollbackFailed: when the previous generation cannot be
// re-activated either, the outcome is rollback-failed, the exit code 4
// (a node needs a human), and the node's state is known and reported: the
// profile still points at the previous generation (nothing was committed)
// and the failed activation's log says what happened.
func TestDeployRollbackFailed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, plan := startFleet(t, 1, nil)
	n := f.Nodes[0]
	// Release 2 activates once, and never again.
	require.NoError(t, f.SetBehaviour(n.Name, testbed.BehaviourFragile))
	require.NoError(t, f.SetRelease(n.Name, "2"))
	o := runCLI(t, ctx, f, deployArgs(plan)...)
	require.Equal(t, 0, o.code)
	deployed := stateOf(t, ctx, n)

	// Release 3 fails; rolling back to release 2 fails too.
	require.NoError(t, f.SetBehaviour(n.Name, testbed.BehaviourFail))
	require.NoError(t, f.SetRelease(n.Name, "3"))
	o = runCLI(t, ctx, f, deployArgs(plan)...)
	assert.Equal(t, 4, o.code, "a failed rollback exits 4")
	r := o.node(t, n.Name)
	assert.Equal(t, deploy.RollbackFailed, r.Outcome)
	require.NotEmpty(t, r.Profiles)
	assert.Contains(t, strings.Join(r.Profiles[0].Log, "\n"), "can no longer be activated", "the node's own words are reported")
	after := stateOf(t, ctx, n)
	assert.Equal(t, deployed.current, after.current, "the profile was never switched to the failed release")
	assert.Equal(t, deployed.generations, after.generations)
	assert.True(t, after.reachable)
	acts, err := n.Activations(ctx)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(acts), 2)
	last := acts[len(acts)-1]
	assert.Equal(t, deployed.current, last.System, "the last thing tried was re-activating the previous system")
}
