package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/deploy"
	"github.com/nix-deploy-action/nix-deploy-action/internal/exit"
	"github.com/nix-deploy-action/nix-deploy-action/internal/testbed"
)

// Tests of deploy features a user opts into (--interactive,
// keep-generations, transfer: substitute), on the real local fleet.

// runCLIWithInput is runCLI with what the user types on the terminal.
func runCLIWithInput(t *testing.T, ctx context.Context, f *testbed.Fleet, input string, args ...string) outcome {
	t.Helper()
	resFile := filepath.Join(t.TempDir(), "result.json")
	full := append([]string{args[0], "--ssh-key", f.KeyFile, "--no-ssh-agent", "--result", resFile}, args[1:]...)
	var stdout, stderr bytes.Buffer
	code := Run(ctx, full, IO{In: strings.NewReader(input), Out: &stdout, Err: &stderr, Getenv: func(string) string { return "" }})
	o := outcome{code: code, stdout: stdout.String(), stderr: stderr.String()}
	if data, err := os.ReadFile(resFile); err == nil {
		o.result, err = deploy.ReadResult(data)
		require.NoError(t, err)
	}
	t.Logf("nix-deploy %s (input %q): exit %d\n%s\n%s", strings.Join(args, " "), input, code, o.stdout, o.stderr)
	return o
}

// TestDeployInteractive: --interactive shows every node, profile and store
// path it would activate, with the closure diff against what each node
// runs now, and asks; anything but y/yes deploys nothing and
// exits 1 (a declined deploy is not a successful one: a script running
// `nix-deploy deploy -i && next-step` must not go on), and changes nothing
// on any node (the diff is read as the SSH user, without sudo).
func TestDeployInteractive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, plan := startFleet(t, 1, nil)
	n := f.Nodes[0]
	before := stateOf(t, ctx, n)
	actsBefore, err := n.Activations(ctx)
	require.NoError(t, err)
	require.NoError(t, f.SetRelease(n.Name, "2"))
	systems, err := f.Build(ctx, n.Name)
	require.NoError(t, err)
	built := systems[n.Name]

	prompt := func(t *testing.T, o outcome, from string) {
		t.Helper()
		assert.Contains(t, o.stderr, "nix-deploy will switch:")
		assert.Contains(t, o.stderr, n.Name+" ("+n.Host+")  system  "+built)
		assert.Contains(t, o.stderr, "Deploy? [y/N]")
		// The closure diff against what the node runs now comes first.
		assert.Contains(t, o.stderr, n.Name+"/system: "+from+" -> "+built)
		if from != built {
			assert.Regexp(t, `libfoo +1\.1 → 1\.2`, o.stderr)
		}
	}
	for _, input := range []string{"n\n", "\n", "", "no\n", "yes please\n"} {
		t.Run("declined "+strings.TrimSpace(input), func(t *testing.T) {
			o := runCLIWithInput(t, ctx, f, input, deployArgs(plan, "--interactive")...)
			prompt(t, o, before.system)
			assert.Equal(t, exit.Failure, o.code, "declined: not a success")
			assert.Contains(t, o.stderr, "not approved: nothing was deployed")
			assert.Nil(t, o.result, "nothing was deployed: no result")
			assert.Equal(t, before, stateOf(t, ctx, n))
			acts, err := n.Activations(ctx)
			require.NoError(t, err)
			assert.Equal(t, actsBefore, acts, "nothing activated")
		})
	}

	for _, input := range []string{"y\n", "YES\n"} {
		t.Run("approved "+strings.TrimSpace(input), func(t *testing.T) {
			from := before.system
			if input != "y\n" {
				from = built // the first approval deployed it
			}
			o := runCLIWithInput(t, ctx, f, input, deployArgs(plan, "--interactive")...)
			prompt(t, o, from)
			require.Equal(t, exit.OK, o.code)
			r := o.node(t, n.Name)
			if input == "y\n" {
				assert.Equal(t, deploy.Deployed, r.Outcome)
			} else {
				assert.Equal(t, deploy.Unchanged, r.Outcome, "approved again: already there")
			}
			assert.Equal(t, endState{system: built, generations: 2, current: built, reachable: true}, stateOf(t, ctx, n))
		})
	}
}

// TestDeployKeepGenerations: keep-generations: 2 leaves exactly the two
// newest generations (the current one included) after each confirmed
// deploy, and a deploy that rolls back prunes nothing.
func TestDeployKeepGenerations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, planAll := startFleet(t, 1, nil)
	planKeep := writePlan(t, f, func(s string) string {
		return strings.Replace(s, "  port: 2222\n", "  port: 2222\n  keep-generations: 2\n", 1)
	})
	n := f.Nodes[0]

	// Without keep-generations every generation stays: 1, 2, 3.
	for _, release := range []string{"2", "3"} {
		require.NoError(t, f.SetRelease(n.Name, release))
		o := runCLI(t, ctx, f, deployArgs(planAll)...)
		require.Equal(t, 0, o.code)
	}
	gens, err := n.Generations(ctx, testbed.SystemProfile)
	require.NoError(t, err)
	require.Len(t, gens, 3)
	before := stateOf(t, ctx, n)

	// A rolled-back deploy with keep-generations: 2 prunes nothing.
	require.NoError(t, f.SetBehaviour(n.Name, testbed.BehaviourFail))
	require.NoError(t, f.SetRelease(n.Name, "4"))
	o := runCLI(t, ctx, f, deployArgs(planKeep)...)
	require.Equal(t, exit.RolledBack, o.code)
	assert.Equal(t, deploy.RolledBack, o.node(t, n.Name).Outcome)
	assert.Equal(t, before, stateOf(t, ctx, n))
	after, err := n.Generations(ctx, testbed.SystemProfile)
	require.NoError(t, err)
	assert.Equal(t, gens, after, "rolled back: every generation kept")

	require.NoError(t, f.SetBehaviour(n.Name, testbed.BehaviourOK))
	previous := before.system
	for _, release := range []string{"5", "6", "7"} {
		require.NoError(t, f.SetRelease(n.Name, release))
		o := runCLI(t, ctx, f, deployArgs(planKeep)...)
		require.Equal(t, 0, o.code, "release %s", release)
		p := o.node(t, n.Name).Profiles[0]
		require.Equal(t, deploy.Deployed, p.Outcome)

		gens, err := n.Generations(ctx, testbed.SystemProfile)
		require.NoError(t, err)
		require.Len(t, gens, 2, "release %s: the two newest generations", release)
		assert.Equal(t, []int{p.Generation - 1, p.Generation}, []int{gens[0].Number, gens[1].Number}, "release %s", release)
		assert.Equal(t, []string{previous, p.Path}, []string{gens[0].Path, gens[1].Path}, "release %s", release)
		assert.True(t, gens[1].Current, "release %s: the newest is current", release)
		assert.Equal(t, endState{system: p.Path, generations: 2, current: p.Path, reachable: true}, stateOf(t, ctx, n))
		previous = p.Path
	}
}

// TestDeploySubstitute: with transfer: substitute a node realises the new
// system from its own binary cache, signed with a key only that node
// trusts, and nothing is streamed from the runner. A node whose cache is
// unsigned, or missing, fails at transfer with nothing activated.
func TestDeploySubstitute(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, plan := startFleet(t, 3, func(s string) string {
		s = strings.Replace(s, "strategy: parallel", "strategy: parallel\n    on-failure: continue", 1)
		return strings.Replace(s, "  port: 2222\n", "  port: 2222\n  transfer: substitute\n", 1)
	})
	signed, unsigned, missing := f.Nodes[0], f.Nodes[1], f.Nodes[2]
	before := map[string]endState{}
	for _, n := range f.Nodes {
		before[n.Name] = stateOf(t, ctx, n)
		require.NoError(t, f.SetRelease(n.Name, "2"))
	}
	systems, err := f.Build(ctx, signed.Name, unsigned.Name)
	require.NoError(t, err)

	keyDir := t.TempDir()
	secret, public := filepath.Join(keyDir, "secret"), filepath.Join(keyDir, "public")
	command(t, ctx, "nix-store", "--generate-binary-cache-key", "testbed-cache-1", secret, public)
	pub, err := os.ReadFile(public)
	require.NoError(t, err)

	signedCache := "file://" + filepath.Join(f.Dir, "cache-signed")
	command(t, ctx, "nix", "copy", "--to", signedCache, systems[signed.Name])
	command(t, ctx, "nix", "store", "sign", "--store", signedCache, "--key-file", secret, "--recursive", systems[signed.Name])
	unsignedCache := "file://" + filepath.Join(f.Dir, "cache-unsigned")
	command(t, ctx, "nix", "copy", "--to", unsignedCache, systems[unsigned.Name])

	// substituters, not extra-substituters: the nodes are offline, and
	// asking cache.nixos.org first would only add retries.
	caches := map[*testbed.Node]string{
		signed:   signedCache,
		unsigned: unsignedCache,
		missing:  "file://" + filepath.Join(f.Dir, "cache-missing"),
	}
	for n, cache := range caches {
		require.NoError(t, n.AddNixConfig("substituters = "+cache+"\ntrusted-public-keys = "+strings.TrimSpace(string(pub))))
	}

	o := runCLI(t, ctx, f, deployArgs(plan)...)
	assert.Equal(t, exit.Failure, o.code)

	t.Run("signed", func(t *testing.T) {
		r := o.node(t, signed.Name)
		require.Equal(t, deploy.Deployed, r.Outcome, r.Error)
		p := r.Profiles[0]
		assert.Equal(t, systems[signed.Name], p.Path)
		require.NotNil(t, p.Transfer)
		assert.Equal(t, deploy.TransferStats{Attempts: 1}, *p.Transfer, "nothing streamed from the runner")
		assert.Equal(t, endState{system: p.Path, generations: 2, current: p.Path, reachable: true}, stateOf(t, ctx, signed))
	})
	for _, n := range []*testbed.Node{unsigned, missing} {
		t.Run(n.Name, func(t *testing.T) {
			r := o.node(t, n.Name)
			assert.Equal(t, deploy.Failed, r.Outcome)
			assert.Contains(t, r.Error, "substitute "+r.Profiles[0].Path+" on the node")
			assert.Contains(t, r.Error, "signed by a key in its trusted-public-keys")
			assert.Equal(t, before[n.Name], stateOf(t, ctx, n), "nothing activated")
			_, err := n.Exec(ctx, "nix-store", "--check-validity", r.Profiles[0].Path)
			assert.Error(t, err, "the new system is not in the node's store")
		})
	}
}

// command runs a host command the test needs and fails the test if it
// fails.
func command(t *testing.T, ctx context.Context, name string, args ...string) {
	t.Helper()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), out)
}
