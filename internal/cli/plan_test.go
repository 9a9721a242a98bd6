package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/exit"
	"github.com/nix-deploy-action/nix-deploy-action/internal/plan"
	"github.com/nix-deploy-action/nix-deploy-action/internal/testbed"
)

func TestPlanFlags(t *testing.T) {
	tests := []struct {
		args []string
		err  string
		want func(*testing.T, *planOptions)
	}{
		{args: []string{}, want: func(t *testing.T, o *planOptions) { assert.Equal(t, "", o.Env) }},
		{args: []string{"--env", "prod"}, want: func(t *testing.T, o *planOptions) {
			assert.Equal(t, "nix-deploy.yml", o.PlanFile)
			assert.Equal(t, "none", o.DiffAgainst)
		}},
		{args: []string{"--env", "prod", "--diff-against", "base=origin/main", "--", "--override-input", "nixpkgs", "./nixpkgs"}, want: func(t *testing.T, o *planOptions) {
			assert.Equal(t, []string{"--override-input", "nixpkgs", "./nixpkgs"}, o.NixArgs)
		}},
		{args: []string{"--env", "p", "--diff-against", "base="}, err: `--diff-against base=GITREF: invalid ref ""`},
		{args: []string{"--env", "p", "--diff-against", "base=--upload-pack=x"}, err: `--diff-against base=GITREF: invalid ref "--upload-pack=x"`},
		{args: []string{"--env", "p", "--diff-against", "yesterday"}, err: `--diff-against: "yesterday" is not none, base=GITREF or target`},
		{args: []string{"--env", "p", "extra"}, err: `plan: unexpected argument "extra" (nix arguments go after --)`},
		{args: []string{"--env", "p", "--jobs", "0"}, err: "plan: --jobs must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			o, err := parsePlanFlags(tt.args, IO{Out: &out, Err: &out})
			if tt.err != "" {
				require.EqualError(t, err, tt.err)
				assert.Equal(t, 2, exit.Code(err))
				return
			}
			require.NoError(t, err)
			tt.want(t, o)
		})
	}
}

// runPlanCLI runs nix-deploy in-process.
func runPlanCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }})
	return code, out.String(), errb.String()
}

func readPlan(t *testing.T, file string) *plan.Plan {
	t.Helper()
	p, err := readPlanJSON(file)
	require.NoError(t, err)
	return p
}

// TestPlanAgainstTarget plans on a real fleet: node1 gets a new release
// (changed, with a real diff read from the node over SSH), node2 is
// unchanged, node3 is unreachable (reported, not fatal).
func TestPlanAgainstTarget(t *testing.T) {
	f := testbed.StartForTest(t, testbed.Options{Nodes: 3})
	require.NoError(t, f.SetRelease("node1", "2"))
	require.NoError(t, f.Node("node3").StopSSH(context.Background()))

	out := filepath.Join(t.TempDir(), "plan.json")
	md := filepath.Join(t.TempDir(), "plan.md")
	code, stdout, stderr := runPlanCLI(t, nil, "plan", "-f", f.PlanFile, "--env", "local", "--diff-against", "target",
		"--ssh-key", f.KeyFile, "--json", out, "--markdown", md)
	require.Equal(t, 0, code, stderr)

	p := readPlan(t, out)
	require.Len(t, p.Nodes, 3)
	n1, n2, n3 := p.Nodes[0].Profiles[0], p.Nodes[1].Profiles[0], p.Nodes[2].Profiles[0]
	assert.Equal(t, plan.Changed, n1.Status)
	assert.Contains(t, n1.OutPath, "-nixos-system-node1-2")
	assert.Contains(t, n1.Baseline.Path, "-nixos-system-node1-1")
	cur, err := f.Node("node1").CurrentSystem(context.Background())
	require.NoError(t, err)
	assert.Equal(t, cur, n1.Baseline.Path, "the baseline is what the node runs")
	require.NotNil(t, n1.Diff)
	assert.Greater(t, n1.Summary.Upgrades, 0)
	assert.Equal(t, plan.Unchanged, n2.Status)
	assert.Equal(t, plan.Unknown, n3.Status)
	assert.NotEmpty(t, p.Nodes[2].Error)
	assert.Equal(t, p.ComputeHash(), p.Hash)

	assert.Contains(t, stdout, "node1/system: changed")
	assert.Contains(t, stdout, "node2/system: unchanged")
	assert.Contains(t, stdout, "libfoo")
	mdText, err := os.ReadFile(md)
	require.NoError(t, err)
	assert.Contains(t, string(mdText), "| node1 | system | 🔄 changed |")
	assert.Contains(t, string(mdText), "| node3 | system | ⚠️ baseline unavailable |")
}

// TestPlanAgainstBase builds the same profiles at a git revision of the
// repository holding the flake and diffs against that build.
func TestPlanAgainstBase(t *testing.T) {
	f := testbed.StartForTest(t, testbed.Options{Nodes: 2, Empty: true})
	gitRun := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Dir = f.Dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
	}
	gitRun("init", "-q", "-b", "main")
	gitRun("add", "-A")
	gitRun("commit", "-qm", "base")
	require.NoError(t, f.SetRelease("node2", "7"))
	gitRun("commit", "-qam", "bump node2")

	out := filepath.Join(t.TempDir(), "plan.json")
	code, _, stderr := runPlanCLI(t, nil, "plan", "-f", f.PlanFile, "--env", "local", "--diff-against", "base=HEAD~1", "--json", out)
	require.Equal(t, 0, code, stderr)
	p := readPlan(t, out)
	assert.Equal(t, plan.Unchanged, p.Nodes[0].Profiles[0].Status)
	n2 := p.Nodes[1].Profiles[0]
	assert.Equal(t, plan.Changed, n2.Status)
	assert.Contains(t, n2.Baseline.Path, "-nixos-system-node2-1")
	assert.Contains(t, n2.OutPath, "-nixos-system-node2-7")

	code, _, stderr = runPlanCLI(t, nil, "plan", "-f", f.PlanFile, "--env", "local", "--diff-against", "base=no-such-ref")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "no-such-ref")
}

// TestPlanBuildFailure: a failing build names the node, the profile and
// the tail of its log, exits 1, and the other nodes are still planned.
func TestPlanBuildFailure(t *testing.T) {
	dir := t.TempDir()
	flake := `{
  outputs = { self }: let
    mk = name: script: builtins.derivation { inherit name; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" script ]; };
  in {
    nixosConfigurations.ok.config.system.build.toplevel = mk "nixos-system-ok-1" "echo ok > $out";
    nixosConfigurations.broken.config.system.build.toplevel = mk "nixos-system-broken-1" "echo 'gcc: fatal error: no input files' >&2; exit 1";
    packages.x86_64-linux.env = mk "env-1" ("echo " + builtins.getEnv "NIX_DEPLOY_TEST_ENV" + " > $out");
  };
}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "flake.nix"), []byte(flake), 0o644))
	planYAML := `version: 1
flake: ./
environments:
  all: { nodes: [ok, broken] }
  env: { nodes: [envnode] }
nodes:
  ok: { host: ok.example.com, profiles: { system: { nixos: ok } } }
  broken: { host: broken.example.com, profiles: { system: { nixos: broken } } }
  envnode:
    host: env.example.com
    profiles: { app: { installable: ".#packages.x86_64-linux.env", activate: bin/x } }
`
	planFile := filepath.Join(dir, "plan.yml")
	require.NoError(t, os.WriteFile(planFile, []byte(planYAML), 0o644))
	out := filepath.Join(dir, "plan.json")

	code, stdout, stderr := runPlanCLI(t, nil, "plan", "-f", planFile, "--env", "all", "--json", out)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "build broken/system:")
	assert.Contains(t, stderr, "gcc: fatal error: no input files")
	assert.Contains(t, stderr, "[broken/system]", "build logs are attributed to node/profile")
	assert.Contains(t, stdout, "ok/system: new")
	var p plan.Plan
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &p))
	assert.Equal(t, plan.Failed, p.Nodes[1].Profiles[0].Status)

	// Arguments after -- reach nix unchanged: --impure lets getEnv see the
	// environment, which pure evaluation hides.
	t.Setenv("NIX_DEPLOY_TEST_ENV", "from-the-environment")
	code, _, stderr = runPlanCLI(t, nil, "plan", "-f", planFile, "--env", "env", "--json", out, "--", "--impure")
	require.Equal(t, 0, code, stderr)
	built := readPlan(t, out).Nodes[0].Profiles[0].OutPath
	content, err := os.ReadFile(built)
	require.NoError(t, err)
	assert.Equal(t, "from-the-environment\n", string(content))
}

// TestPlanDeployRS: a deploy-rs flake works with a three-line plan file;
// its profiles are built from the flake's deploy output.
func TestPlanDeployRS(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../../testdata/plans/deployrs/flake/flake.nix")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "flake.nix"), src, 0o644))
	planFile := filepath.Join(dir, "plan.yml")
	require.NoError(t, os.WriteFile(planFile, []byte("version: 1\nflake: ./\nnodes-from: deploy\n"), 0o644))
	out := filepath.Join(dir, "plan.json")

	code, stdout, stderr := runPlanCLI(t, nil, "plan", "-f", planFile, "--json", out)
	require.Equal(t, 0, code, stderr)
	p := readPlan(t, out)
	got := map[string]string{}
	for _, n := range p.Nodes {
		for _, pr := range n.Profiles {
			got[n.Name+"/"+pr.Name] = filepath.Base(pr.OutPath)[33:]
			assert.True(t, strings.HasSuffix(pr.Installable, "#deploy.nodes."+n.Name+".profiles."+pr.Name+".path"), pr.Installable)
		}
	}
	assert.Equal(t, map[string]string{
		"web1/system":  "activatable-nixos-system-web1",
		"web1/app":     "activatable-app-1.0",
		"db1/system":   "activatable-nixos-system-db1",
		"cache/system": "activatable-nixos-system-cache",
	}, got)
	assert.Contains(t, stdout, "Plan for every node")
}

// TestPlanNixFile: a plan without flakes builds attribute paths of a
// default.nix.
func TestPlanNixFile(t *testing.T) {
	dir := t.TempDir()
	nixFile := `{
  machines.web1 = builtins.derivation { name = "nixos-system-web1-1"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo web1 > $out" ]; };
}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "default.nix"), []byte(nixFile), 0o644))
	planYAML := `version: 1
nix-file: ./default.nix
nodes:
  web1:
    host: web1.example.com
    profiles:
      system: { installable: machines.web1, activate: bin/switch }
`
	planFile := filepath.Join(dir, "plan.yml")
	require.NoError(t, os.WriteFile(planFile, []byte(planYAML), 0o644))
	out := filepath.Join(dir, "plan.json")
	code, _, stderr := runPlanCLI(t, nil, "plan", "-f", planFile, "--json", out)
	require.Equal(t, 0, code, stderr)
	pr := readPlan(t, out).Nodes[0].Profiles[0]
	assert.True(t, strings.HasSuffix(pr.OutPath, "-nixos-system-web1-1"), pr.OutPath)
	assert.Equal(t, filepath.Join(dir, "default.nix")+"#machines.web1", pr.Installable)
}
