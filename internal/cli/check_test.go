package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
		err  string
	}{
		{args: nil, want: "nix-deploy.yml"},
		{args: []string{"-f", "ops/plan.yml"}, want: "ops/plan.yml"},
		{args: []string{"plan.yml"}, err: `check: unexpected argument "plan.yml" (the plan is given with -f)`},
		{args: []string{"-f", "p.yml", "--", "--impure"}, err: "check: nix arguments need --eval: without it nothing is evaluated"},
		{args: []string{"--env", "prod"}, err: "check: --env and --nodes select what --eval builds"},
		{args: []string{"--eval", "--env", "prod", "--", "--impure"}, want: "nix-deploy.yml"},
		{args: []string{"-x"}, err: "flag provided but not defined: -x"},
	}
	for _, tt := range tests {
		t.Run(filepath.Join(tt.args...), func(t *testing.T) {
			var out bytes.Buffer
			o, err := parseCheckFlags(tt.args, IO{Out: &out, Err: &out})
			if tt.err != "" {
				require.EqualError(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, o.PlanFile)
		})
	}
}

// TestCheck runs `nix-deploy check` on the plans of testdata/plans: the
// problems printed are exactly the lines of the config package's golden
// files, and the exit code is 2.
func TestCheck(t *testing.T) {
	t.Chdir("../../testdata/plans")
	golden := func(name string) string {
		b, err := os.ReadFile(name)
		require.NoError(t, err)
		return string(b)
	}
	tests := []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{args: []string{"-f", "valid/full.yml"}, stdout: "valid/full.yml: 4 nodes, 2 environments, 7 profiles: valid\n"},
		{args: []string{"-f", "valid/minimal.yml"}, stdout: "valid/minimal.yml: 1 node, 0 environments, 1 profile: valid\n"},
		{args: []string{"-f", "invalid/environments.yml"}, code: 2,
			stderr: golden("invalid/environments.errors")},
		{args: []string{"-f", "invalid/syntax.yml"}, code: 2,
			stderr: golden("invalid/syntax.errors")},
		{args: []string{"-f", "missing.yml"}, code: 2,
			stderr: "missing.yml: cannot read the plan: no such file or directory\n"},
		{args: []string{"--help"}, stdout: "Usage: nix-deploy check [-f PLAN] [--eval [--env ENV] [--nodes SELECTOR] [-- NIX ARGS]]\n\nFlags:\n" +
			"  -env string\n    \twith --eval: only this environment's nodes\n" +
			"  -eval\n    \talso evaluate and build every selected profile and verify it is activatable\n" +
			"  -f file\n    \tthe deploy plan file (default \"nix-deploy.yml\")\n" +
			"  -nodes string\n    \twith --eval: narrow to these nodes (names, @tags, globs)\n"},
	}
	for _, tt := range tests {
		t.Run(filepath.Join(tt.args...), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), append([]string{"check"}, tt.args...), IO{Out: &stdout, Err: &stderr})
			assert.Equal(t, tt.code, code)
			assert.Equal(t, tt.stdout, stdout.String())
			assert.Equal(t, tt.stderr, stderr.String())
		})
	}
}

func TestCheckNodesFrom(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), []string{"check", "-f", "../../testdata/plans/valid/nodes-from.yml"}, IO{Out: &stdout, Err: &stderr})
	require.Equal(t, 0, code, stderr.String())
	dir, err := filepath.Abs("../../testdata/plans/valid")
	require.NoError(t, err)
	assert.Equal(t, "../../testdata/plans/valid/nodes-from.yml: nodes from "+dir+"/flake#deploy (not evaluated), 1 environment: valid\n", stdout.String())
}

// TestCheckEval builds a flake's profiles with the real nix: a NixOS
// system with bin/switch-to-configuration passes, one without fails, and a
// custom profile needs its activation command.
func TestCheckEval(t *testing.T) {
	dir := t.TempDir()
	flake := `{
  outputs = { self }: let
    mk = name: script: builtins.derivation {
      inherit name; system = "x86_64-linux"; builder = "/bin/sh";
      args = [ "-c" script ]; PATH = "/usr/bin:/bin";
    };
    sys = mk "nixos-system-good-1" "mkdir -p $out/bin; printf '#!/bin/sh\\n' > $out/bin/switch-to-configuration; chmod +x $out/bin/switch-to-configuration";
  in {
    nixosConfigurations.good.config.system.build.toplevel = sys;
    nixosConfigurations.bad.config.system.build.toplevel = mk "nixos-system-bad-1" "mkdir -p $out";
    packages.x86_64-linux.app = mk "app-1.0" "mkdir -p $out/bin; touch $out/bin/activate; chmod +x $out/bin/activate";
  };
}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "flake.nix"), []byte(flake), 0o644))
	planYAML := `version: 1
flake: ./
environments:
  good: { nodes: [good] }
  all: { nodes: [good, bad] }
nodes:
  good:
    host: good.example.com
    profiles:
      system: { nixos: good }
      app: { installable: ".#packages.x86_64-linux.app", activate: bin/activate }
  bad:
    host: bad.example.com
    profiles:
      system: { nixos: bad }
`
	planFile := filepath.Join(dir, "plan.yml")
	require.NoError(t, os.WriteFile(planFile, []byte(planYAML), 0o644))

	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), []string{"check", "-f", planFile, "--eval", "--env", "good"}, IO{Out: &stdout, Err: &stderr})
	require.Equal(t, 0, code, stderr.String())
	assert.Contains(t, stdout.String(), "good/system: /nix/store/")
	assert.Contains(t, stdout.String(), "good/app: /nix/store/")

	stdout.Reset()
	stderr.Reset()
	code = Run(context.Background(), []string{"check", "-f", planFile, "--eval", "--env", "all"}, IO{Out: &stdout, Err: &stderr})
	assert.Equal(t, 1, code)
	assert.Contains(t, stdout.String(), "bad/system: FAILED")
	assert.Contains(t, stderr.String(), "has no bin/switch-to-configuration: it cannot be activated")
}
