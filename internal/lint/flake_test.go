package lint

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFlakeParses parses flake.nix and the NixOS module with the real Nix.
func TestFlakeParses(t *testing.T) {
	for _, f := range []string{"flake.nix", "nix/deploy-target.nix"} {
		out, err := exec.CommandContext(context.Background(), "nix-instantiate", "--parse", filepath.Join(root, f)).CombinedOutput()
		require.NoError(t, err, "%s: %s", f, out)
	}
}

// TestFlakeEvaluates evaluates flake.nix's outputs and the deploy-target
// module against stub nixpkgs (testdata/eval-flake.nix): no nixpkgs is
// available offline, so the package is not built here, but its arguments,
// the app, the dev shell and the module's users and sudo rules are checked.
func TestFlakeEvaluates(t *testing.T) {
	out, err := exec.CommandContext(context.Background(), "nix-instantiate", "--eval", "--strict", "--json", "testdata/eval-flake.nix").Output()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		t.Fatalf("nix-instantiate: %v: %s", err, exitErr.Stderr)
	}
	require.NoError(t, err)

	type command struct {
		Command string   `json:"command"`
		Options []string `json:"options"`
	}
	type rule struct {
		Users    []string  `json:"users"`
		Commands []command `json:"commands"`
	}
	type moduleConfig struct {
		Condition bool `json:"condition"`
		Content   struct {
			Assertions []struct {
				Assertion bool `json:"assertion"`
			} `json:"assertions"`
			Users struct {
				Users map[string]struct {
					IsNormalUser bool `json:"isNormalUser"`
					OpenSSH      struct {
						AuthorizedKeys struct {
							Keys []string `json:"keys"`
						} `json:"authorizedKeys"`
					} `json:"openssh"`
				} `json:"users"`
			} `json:"users"`
			Security struct {
				Sudo struct {
					ExtraRules []rule `json:"extraRules"`
				} `json:"sudo"`
			} `json:"security"`
		} `json:"content"`
	}
	var got struct {
		Inputs  []string `json:"inputs"`
		Systems []string `json:"systems"`
		Package struct {
			Pname       string   `json:"pname"`
			SubPackages []string `json:"subPackages"`
			Ldflags     []string `json:"ldflags"`
			DoCheck     bool     `json:"doCheck"`
		} `json:"package"`
		App struct {
			Type    string `json:"type"`
			Program string `json:"program"`
		} `json:"app"`
		Options  []string     `json:"options"`
		Nopasswd moduleConfig `json:"nopasswd"`
		Password moduleConfig `json:"password"`
		None     moduleConfig `json:"none"`
	}
	require.NoError(t, json.Unmarshal(out, &got))

	assert.Equal(t, []string{"nixpkgs"}, got.Inputs)
	assert.Contains(t, got.Systems, "x86_64-linux")
	assert.Contains(t, got.Systems, "aarch64-linux")
	assert.Equal(t, "nix-deploy", got.Package.Pname)
	assert.Equal(t, []string{"cmd/nix-deploy"}, got.Package.SubPackages)
	assert.Contains(t, got.Package.Ldflags, "-X github.com/nix-deploy-action/nix-deploy-action/internal/cli.Version=0.0.0-dirty")
	assert.Equal(t, "app", got.App.Type)
	assert.Regexp(t, `^/nix/store/.*/bin/nix-deploy$`, got.App.Program)
	assert.ElementsMatch(t, []string{"enable", "user", "authorizedKeys", "sudo"}, got.Options)

	tests := []struct {
		name  string
		cfg   moduleConfig
		rules []rule
	}{
		{name: "nopasswd", cfg: got.Nopasswd, rules: []rule{{Users: []string{"deploy"}, Commands: []command{{Command: "ALL", Options: []string{"NOPASSWD"}}}}}},
		{name: "password", cfg: got.Password, rules: []rule{{Users: []string{"deploy"}, Commands: []command{{Command: "ALL", Options: []string{}}}}}},
		{name: "none", cfg: got.None, rules: []rule{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			assert.True(t, c.Condition)
			for _, a := range c.Content.Assertions {
				assert.True(t, a.Assertion)
			}
			u := c.Content.Users.Users["deploy"]
			assert.True(t, u.IsNormalUser)
			assert.Len(t, u.OpenSSH.AuthorizedKeys.Keys, 1)
			assert.Equal(t, tt.rules, c.Content.Security.Sudo.ExtraRules)
		})
	}
}
