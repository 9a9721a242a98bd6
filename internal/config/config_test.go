package config_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const plans = "../../testdata/plans"

// golden compares got with the file at path, or rewrites it with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	assert.Equal(t, string(want), got)
}

// parseTestdata parses a plan under testdata/plans with a stable name, so
// golden files do not depend on where the repository is checked out.
func parseTestdata(t *testing.T, path string) (*config.Plan, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	rel, err := filepath.Rel(plans, path)
	require.NoError(t, err)
	return config.Parse(rel, data)
}

func TestValidPlans(t *testing.T) {
	files, err := filepath.Glob(plans + "/valid/*.yml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p, err := parseTestdata(t, f)
			require.NoError(t, err)
			if p.NodesFrom != "" {
				data, err := os.ReadFile(plans + "/deployrs/deploy.json")
				require.NoError(t, err)
				require.NoError(t, config.FromDeployRS("deploy.json", data, p))
			}
			golden(t, strings.TrimSuffix(f, ".yml")+".golden", dump(p))
		})
	}
}

func TestInvalidPlans(t *testing.T) {
	files, err := filepath.Glob(plans + "/invalid/*.yml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p, err := parseTestdata(t, f)
			require.Error(t, err)
			assert.Nil(t, p)
			var errs config.Errors
			require.True(t, errors.As(err, &errs), "error is %T, want config.Errors", err)
			assert.Equal(t, 2, errs.ExitCode())
			for _, e := range errs {
				assert.Positive(t, e.Line, "every problem has a position: %v", e)
				assert.Positive(t, e.Column, "every problem has a position: %v", e)
			}
			golden(t, strings.TrimSuffix(f, ".yml")+".errors", err.Error()+"\n")
		})
	}
}

func TestLoad(t *testing.T) {
	p, err := config.Load(plans + "/valid/minimal.yml")
	require.NoError(t, err)
	assert.Equal(t, plans+"/valid/minimal.yml", p.File)
	assert.True(t, filepath.IsAbs(p.Dir), "Dir %q is absolute", p.Dir)
	assert.Equal(t, p.Dir, p.Flake, "flake: . is the plan's directory")
	assert.Equal(t, p.Dir+"#nixosConfigurations.box.config.system.build.toplevel", p.Nodes[0].Profiles[0].Installable)

	_, err = config.Load(plans + "/valid/missing.yml")
	var errs config.Errors
	require.True(t, errors.As(err, &errs))
	assert.Equal(t, plans+"/valid/missing.yml: cannot read the plan: no such file or directory", err.Error())
}

// TestInheritance checks that each setting comes from the nearest level
// that sets it: profile > node > defaults > built-in.
func TestInheritance(t *testing.T) {
	const plan = `
version: 1
flake: .
defaults:
  ssh-user: deploy
  confirm-timeout: 1m
  transfer: substitute
  keep-generations: 3
nodes:
  a:
    host: a.example.com
    confirm-timeout: 2m
    keep-generations: 4
    profiles:
      system:
        nixos: a
        confirm-timeout: 3m
      app: { installable: .#app, activate: bin/activate, user: app }
  b:
    host: b.example.com
    ssh-user: root
    profiles:
      system: { nixos: b }
`
	p, err := config.Parse("plan.yml", []byte(plan))
	require.NoError(t, err)
	a, b := p.Node("a"), p.Node("b")
	tests := []struct {
		name      string
		got, want any
	}{
		{"profile over node", a.Profiles[0].ConfirmTimeout.String(), "3m0s"},
		{"node over defaults", a.Profiles[1].ConfirmTimeout.String(), "2m0s"},
		{"defaults", b.Profiles[0].ConfirmTimeout.String(), "1m0s"},
		{"node keep-generations", a.Profiles[0].KeepGenerations, 4},
		{"defaults keep-generations", b.Profiles[0].KeepGenerations, 3},
		{"defaults transfer", a.Profiles[1].Transfer, config.Substitute},
		{"built-in activation timeout", b.Profiles[0].ActivationTimeout, config.DefaultActivationTimeout},
		{"built-in magic rollback", b.Profiles[0].MagicRollback, true},
		{"built-in degraded units", b.Profiles[0].DegradedUnits, config.DegradedFail},
		{"defaults ssh-user", a.SSHUser, "deploy"},
		{"sudo for a non-root user", a.Sudo, config.DefaultSudo},
		{"node ssh-user", b.SSHUser, "root"},
		{"no sudo for root", b.Sudo, []string(nil)},
		{"built-in port", a.Port, 22},
		{"nixos profile path", a.Profiles[0].Path, "/nix/var/nix/profiles/system"},
		{"per-user profile path", a.Profiles[1].Path, "/nix/var/nix/profiles/per-user/app/app"},
		{"profile user default", a.Profiles[0].User, "root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.got)
		})
	}
}

// TestInstallables checks how installables written in a plan resolve.
func TestInstallables(t *testing.T) {
	tests := []struct {
		file, source, installable string
		want                      string
	}{
		{"ops/plan.yml", "flake: .", ".#app", "./ops#app"},
		{"ops/plan.yml", "flake: ./flake", "#app", "./ops/flake#app"},
		{"ops/plan.yml", "flake: ../flake", ".#packages.x86_64-linux.app", "./flake#packages.x86_64-linux.app"},
		{"/srv/plan.yml", "flake: .", ".#app", "/srv#app"},
		{"plan.yml", "flake: github:example/infra", ".#app", "github:example/infra#app"},
		{"ops/plan.yml", "flake: .", "./other#app", "./ops/other#app"},
		{"ops/plan.yml", "flake: .", "path:./other#app", "path:./ops/other#app"},
		{"ops/plan.yml", "flake: .", "nixpkgs#hello", "nixpkgs#hello"},
		{"ops/plan.yml", "nix-file: ./default.nix", "packages.app", "packages.app"},
		{"ops/plan.yml", "nix-file: ./default.nix", ".#packages.app", "packages.app"},
	}
	for _, tt := range tests {
		t.Run(tt.source+" "+tt.installable, func(t *testing.T) {
			plan := fmt.Sprintf("version: 1\n%s\nnodes:\n  n:\n    host: n\n    profiles:\n      app: { installable: %q, activate: bin/a }\n", tt.source, tt.installable)
			p, err := config.Parse(tt.file, []byte(plan))
			require.NoError(t, err)
			assert.Equal(t, tt.want, p.Nodes[0].Profiles[0].Installable)
		})
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  config.Error
		want string
	}{
		{config.Error{File: "plan.yml", Line: 3, Column: 5, Field: "nodes.web1.host", Msg: "empty host"}, "plan.yml:3:5: nodes.web1.host: empty host"},
		{config.Error{File: "plan.yml", Line: 1, Column: 1, Msg: "the plan is empty"}, "plan.yml:1:1: the plan is empty"},
		{config.Error{File: "plan.yml", Msg: "cannot read the plan"}, "plan.yml: cannot read the plan"},
		{config.Error{Field: "selector", Msg: "unknown node x"}, "selector: unknown node x"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.err.Error())
	}
}

// dump renders a plan as text for golden files.
func dump(p *config.Plan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "plan %s: dir=%s version=%d flake=%q nix-file=%q nodes-from=%q\n", p.File, p.Dir, p.Version, p.Flake, p.NixFile, p.NodesFrom)
	for _, name := range p.EnvironmentNames {
		e := p.Environments[name]
		fmt.Fprintf(&b, "environment %s %s: nodes=%v strategy=%s max-parallel=%d canary=%d on-failure=%s url=%q\n",
			e.Name, pos(e.Pos), e.Nodes, e.Strategy, e.MaxParallel, e.Canary, e.OnFailure, e.URL)
	}
	for _, n := range p.Nodes {
		fmt.Fprintf(&b, "node %s %s: host=%s port=%d ssh-user=%s sudo=%q tags=%v\n", n.Name, pos(n.Pos), n.Host, n.Port, n.SSHUser, n.Sudo, n.Tags)
		if n.HostKey != "" {
			fmt.Fprintf(&b, "  host-key %s\n", n.HostKey)
		}
		for _, pr := range n.Profiles {
			fmt.Fprintf(&b, "  profile %s %s: kind=%s installable=%q attr=%q nixos=%q store-path=%q\n", pr.Name, pos(pr.Pos), pr.Kind, pr.Installable, pr.Attr, pr.NixOSName, pr.StorePath)
			fmt.Fprintf(&b, "    user=%s path=%s activate=%q magic-rollback=%t confirm-timeout=%s activation-timeout=%s transfer=%s keep-generations=%d degraded-units=%s\n",
				pr.User, pr.Path, pr.Activate, pr.MagicRollback, pr.ConfirmTimeout, pr.ActivationTimeout, pr.Transfer, pr.KeepGenerations, pr.DegradedUnits)
		}
		for _, c := range n.Checks {
			fmt.Fprintf(&b, "  check %s: command=%q http=%q status=%d timeout=%s retry-for=%s interval=%s\n", pos(c.Pos), c.Command, c.HTTP, c.Status, c.Timeout, c.RetryFor, c.Interval)
		}
	}
	return b.String()
}

func pos(p config.Pos) string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column) }

// BenchmarkParse50 parses a plan of 50 nodes with two profiles and a check
// each (the design's "tool overhead for a 50-node plan").
func BenchmarkParse50(b *testing.B) {
	var plan strings.Builder
	plan.WriteString("version: 1\nflake: .\nenvironments:\n  prod: { nodes: [\"@web\"] }\nnodes:\n")
	for i := range 50 {
		fmt.Fprintf(&plan, "  web%d:\n    host: web%d.example.com\n    tags: [web]\n    profiles:\n      system: { nixos: web%d }\n      app: { installable: .#app, activate: bin/activate, user: app }\n    checks:\n      - http: https://web%d.example.com/\n", i, i, i, i)
	}
	data := []byte(plan.String())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := config.Parse("plan.yml", data); err != nil {
			b.Fatal(err)
		}
	}
}
