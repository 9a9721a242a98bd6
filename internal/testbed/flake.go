package testbed

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

//go:embed flake
var flakeTemplate embed.FS

// flakeLock is the lock file of a flake without inputs; writing it up
// front keeps Nix from creating it (and warning) on the first build.
const flakeLock = `{"nodes":{"root":{}},"root":"root","version":7}` + "\n"

// writeFlake writes the fleet's flake: the template plus the files it
// reads (see flake/flake.nix).
func writeFlake(dir string, nodes []string, payloadKiB int) error {
	for _, d := range []string{"release", "behaviour"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("write flake: %w", err)
		}
	}
	entries, err := fs.ReadDir(flakeTemplate, "flake")
	if err != nil {
		return fmt.Errorf("write flake: %w", err)
	}
	files := map[string]string{
		"flake.lock":  flakeLock,
		"system":      nixSystem() + "\n",
		"payload-kib": strconv.Itoa(payloadKiB) + "\n",
	}
	for _, e := range entries {
		data, err := flakeTemplate.ReadFile("flake/" + e.Name())
		if err != nil {
			return fmt.Errorf("write flake: %w", err)
		}
		files[e.Name()] = string(data)
	}
	for _, n := range nodes {
		files["release/"+n] = InitialRelease + "\n"
		files["behaviour/"+n] = BehaviourOK + "\n"
	}
	for name, data := range files {
		if err := writeFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			return fmt.Errorf("write flake: %w", err)
		}
	}
	return nil
}

// nixSystem is Nix's name of the host platform.
func nixSystem() string {
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "386": "i686"}[runtime.GOARCH]
	if arch == "" {
		arch = runtime.GOARCH
	}
	return arch + "-linux"
}

// Installable returns the flake installable of node's system toplevel.
func (f *Fleet) Installable(node string) string {
	return "path:" + f.FlakeDir + "#nixosConfigurations." + node + ".config.system.build.toplevel"
}

// Build builds the current systems of the given nodes (as their behaviour
// and release files say now) in the host's store with one nix build, and
// returns their store paths by node name.
func (f *Fleet) Build(ctx context.Context, nodes ...string) (map[string]string, error) {
	if len(nodes) == 0 {
		return map[string]string{}, nil
	}
	args := []string{"build", "--no-link", "--json",
		// Offline: asking cache.nixos.org about every path would only wait.
		"--option", "substituters", "",
		// Fleets of concurrent tests have identical flakes, so one eval
		// cache file, which concurrent evaluations corrupt (Nix 2.8).
		"--option", "eval-cache", "false"}
	for _, n := range nodes {
		if f.Node(n) == nil {
			return nil, fmt.Errorf("build: no node %s", n)
		}
		args = append(args, f.Installable(n))
	}
	out, err := output(ctx, "nix", args...)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", strings.Join(nodes, ", "), err)
	}
	paths, err := parseBuildOutputs(out)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", strings.Join(nodes, ", "), err)
	}
	if len(paths) != len(nodes) {
		return nil, fmt.Errorf("build %s: nix build returned %d results for %d installables", strings.Join(nodes, ", "), len(paths), len(nodes))
	}
	systems := make(map[string]string, len(nodes))
	for i, n := range nodes {
		systems[n] = paths[i]
	}
	f.log.Debug("built", "systems", systems)
	return systems, nil
}

// parseBuildOutputs returns the "out" path of each result of
// `nix build --json`, in installable order.
func parseBuildOutputs(data string) ([]string, error) {
	var results []struct {
		Outputs map[string]string `json:"outputs"`
	}
	if err := json.Unmarshal([]byte(data), &results); err != nil {
		return nil, fmt.Errorf("parse nix build output: %w", err)
	}
	paths := make([]string, len(results))
	for i, r := range results {
		out := r.Outputs["out"]
		if !strings.HasPrefix(out, "/nix/store/") || strings.ContainsAny(out, "\n\t ") {
			return nil, fmt.Errorf("parse nix build output: result %d has no out path", i)
		}
		paths[i] = out
	}
	return paths, nil
}
