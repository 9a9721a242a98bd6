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
		{args: []string{"-f", "p.yml", "--", "--impure"}, err: "check: takes no nix arguments: it evaluates nothing"},
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
		{args: []string{"--help"}, stdout: "Usage: nix-deploy check [-f PLAN]\n\nFlags:\n  -f file\n    \tthe deploy plan file (default \"nix-deploy.yml\")\n"},
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
