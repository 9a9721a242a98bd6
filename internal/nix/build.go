package nix

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
)

// Built is one realised installable.
type Built struct {
	// DrvPath is empty for installables that are store paths already.
	DrvPath string `json:"drvPath,omitempty"`
	// Outputs maps output names to store paths.
	Outputs map[string]string `json:"outputs"`
}

// Out returns the "out" output, or the only/first output when there is no "out".
func (b Built) Out() string {
	if p, ok := b.Outputs["out"]; ok {
		return p
	}
	names := make([]string, 0, len(b.Outputs))
	for n := range b.Outputs {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return ""
	}
	return b.Outputs[names[0]]
}

// Build realises one installable without creating a result link. Build log
// lines (nix -L) are passed to logLine as they arrive.
func (n *Nix) Build(ctx context.Context, installable string, logLine func(string)) (Built, error) {
	out, err := n.run(ctx, append([]string{"build", "--json", "--no-link", "-L", installable}, noEvalCache...), logLine)
	if err != nil {
		return Built{}, err
	}
	res, err := ParseBuildJSON(out)
	if err != nil {
		return Built{}, fmt.Errorf("nix build %s: %w", installable, err)
	}
	if len(res) != 1 {
		return Built{}, fmt.Errorf("nix build %s: expected one result, got %d", installable, len(res))
	}
	return res[0], nil
}

// ParseBuildJSON parses `nix build --json` output. Nix 2.4+ prints a list of
// {"drvPath", "outputs"} objects for derivations; newer versions add
// start/stop times, and print {"path": ...} for installables that are plain
// store paths.
func ParseBuildJSON(data []byte) ([]Built, error) {
	var raw []struct {
		DrvPath string            `json:"drvPath"`
		Outputs map[string]string `json:"outputs"`
		Path    string            `json:"path"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("parse build result: %w", err)
	}
	res := make([]Built, 0, len(raw))
	for i, r := range raw {
		b := Built{DrvPath: r.DrvPath, Outputs: r.Outputs}
		if len(b.Outputs) == 0 && r.Path != "" {
			b.Outputs = map[string]string{"out": r.Path}
		}
		if len(b.Outputs) == 0 {
			return nil, fmt.Errorf("parse build result: entry %d has no outputs", i)
		}
		for name, p := range b.Outputs {
			if !IsStorePath(p) {
				return nil, fmt.Errorf("parse build result: output %s is not a store path: %q", name, p)
			}
		}
		res = append(res, b)
	}
	return res, nil
}

// EvalJSON evaluates an installable to JSON, optionally through an --apply
// function (a Nix expression).
func (n *Nix) EvalJSON(ctx context.Context, installable, apply string) ([]byte, error) {
	args := []string{"eval", "--json", installable}
	if apply != "" {
		args = append(args, "--apply", apply)
	}
	return n.run(ctx, args, nil)
}

// BuildFile realises attr of a Nix file (nix build --file), for plans that
// do not use flakes.
func (n *Nix) BuildFile(ctx context.Context, file, attr string, logLine func(string)) (Built, error) {
	out, err := n.run(ctx, append([]string{"build", "--json", "--no-link", "-L", "--file", file, attr}, noEvalCache...), logLine)
	if err != nil {
		return Built{}, err
	}
	res, err := ParseBuildJSON(out)
	if err != nil {
		return Built{}, fmt.Errorf("nix build --file %s %s: %w", file, attr, err)
	}
	if len(res) != 1 {
		return Built{}, fmt.Errorf("nix build --file %s %s: expected one result, got %d", file, attr, len(res))
	}
	return res[0], nil
}
