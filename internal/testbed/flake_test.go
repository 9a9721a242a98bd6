package testbed

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func TestParseBuildOutputs(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		want    []string
		wantErr string
	}{
		{
			name: "nix 2.8",
			json: `[{"drvPath":"/nix/store/ysbf-nixos-system-node1-1.drv","outputs":{"out":"/nix/store/v3n8-nixos-system-node1-1"}},` +
				`{"drvPath":"/nix/store/lm2n-nixos-system-node2-1.drv","outputs":{"out":"/nix/store/c4pz-nixos-system-node2-1"}}]`,
			want: []string{"/nix/store/v3n8-nixos-system-node1-1", "/nix/store/c4pz-nixos-system-node2-1"},
		},
		{
			name: "newer nix adds times",
			json: `[{"drvPath":"/nix/store/a.drv","outputs":{"out":"/nix/store/a-x"},"startTime":1,"stopTime":2}]`,
			want: []string{"/nix/store/a-x"},
		},
		{name: "empty list", json: `[]`, want: []string{}},
		{name: "no out", json: `[{"outputs":{"bin":"/nix/store/a-x-bin"}}]`, wantErr: "result 0 has no out path"},
		{name: "not a store path", json: `[{"outputs":{"out":"/tmp/x"}}]`, wantErr: "result 0 has no out path"},
		{name: "not json", json: `building...`, wantErr: "parse nix build output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseBuildOutputs(tt.json)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func FuzzParseBuildOutputs(f *testing.F) {
	f.Add(`[{"drvPath":"/nix/store/a.drv","outputs":{"out":"/nix/store/a-x"}}]`)
	f.Add(`[{"outputs":null}]`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, data string) {
		paths, err := parseBuildOutputs(data)
		if err != nil {
			return
		}
		for _, p := range paths {
			if len(p) <= len("/nix/store/") {
				t.Fatalf("accepted %q", p)
			}
		}
	})
}

func TestRenderPlan(t *testing.T) {
	f := newFleet("/tmp/fleet", nil)
	for i, key := range []string{
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGVwYo6XZpxG10JisekK6oIWd80HtVxYvIXYrKU7byjX",
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIUoknehrK1koIjWsFDYUwgVyVEwlmnwlM3+3ufdkHEB",
	} {
		f.Nodes = append(f.Nodes, &Node{
			Name: "node" + string(rune('1'+i)), Host: nodeAddress([]byte{127, 42, 7, 0}, i).String(),
			Port: SSHPort, HostKey: key,
		})
	}
	for _, tt := range []struct {
		golden string
		got    []byte
	}{
		{"plan.yml", renderPlan(f)},
		{"known_hosts", renderKnownHosts(f)},
	} {
		golden := filepath.Join("testdata", tt.golden+".golden")
		if *update {
			require.NoError(t, os.WriteFile(golden, tt.got, 0o644))
		}
		want, err := os.ReadFile(golden)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(tt.got), "%s (go test -update rewrites it)", golden)
	}
}

// The scripts run on nodes and in Nix builds with whatever /bin/sh is:
// POSIX sh only.
func TestScriptsShellcheck(t *testing.T) {
	scripts := []string{
		"flake/build.sh", "flake/healthcheck.sh", "flake/switch-to-configuration.sh",
		"node/init.sh", "node/sshd.sh",
	}
	out, err := exec.Command("shellcheck", append([]string{"--shell=sh"}, scripts...)...).CombinedOutput()
	assert.NoError(t, err, "%s", out)
}
