// Package plan works out what a deploy will change: it builds the selected
// nodes' profiles, reads a baseline for each (the base branch's build, what
// the node runs now, or nothing), and diffs the closures. The result is the
// versioned plan.json that a later deploy verifies against.
//
// Side effects (nix, git, ssh) are behind the small interfaces below.
package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
)

// SchemaVersion is the version of plan.json written by this code.
const SchemaVersion = 1

// Status says how a profile compares with its baseline.
type Status string

const (
	Changed   Status = "changed"   // built path differs from the baseline
	Unchanged Status = "unchanged" // same store path as the baseline
	New       Status = "new"       // no baseline (none requested, or the profile does not exist there)
	Unknown   Status = "unknown"   // the baseline could not be read (see Baseline.Error)
	Failed    Status = "failed"    // the profile did not build (see Error)
)

// BaselineKind is what the new build was compared with.
type BaselineKind string

const (
	BaselineNone   BaselineKind = "none"
	BaselineBase   BaselineKind = "base"
	BaselineTarget BaselineKind = "target"
)

// Plan is plan.json.
type Plan struct {
	Version     int          `json:"version"`
	PlanFile    string       `json:"planFile"`
	Environment string       `json:"environment"`
	DiffAgainst BaselineKind `json:"diffAgainst"`
	BaseRef     string       `json:"baseRef,omitempty"`
	Nodes       []*Node      `json:"nodes"`
	// Hash covers every (node, profile, out path): what was reviewed.
	Hash string `json:"hash"`
}

// Node is one node's part of the plan.
type Node struct {
	Name     string     `json:"name"`
	Host     string     `json:"host"`
	Profiles []*Profile `json:"profiles"`
	// Error is set when the node's baseline could not be read (unreachable).
	Error string `json:"error,omitempty"`
}

// Profile is one profile's build and its diff against the baseline.
type Profile struct {
	Name        string `json:"name"`
	Installable string `json:"installable"`
	DrvPath     string `json:"drvPath,omitempty"`
	OutPath     string `json:"outPath,omitempty"`
	// Paths and NarSize describe the new closure.
	Paths    int              `json:"closurePaths"`
	NarSize  int64            `json:"closureNarSize"`
	Baseline *Baseline        `json:"baseline"`
	Status   Status           `json:"status"`
	Summary  *closure.Summary `json:"diffSummary,omitempty"`
	Diff     *closure.Diff    `json:"diff,omitempty"`
	Error    string           `json:"error,omitempty"`
}

// Baseline is what a profile was compared with.
type Baseline struct {
	Kind    BaselineKind `json:"kind"`
	Ref     string       `json:"ref,omitempty"`
	Path    string       `json:"path,omitempty"`
	Paths   int          `json:"closurePaths,omitempty"`
	NarSize int64        `json:"closureNarSize,omitempty"`
	Error   string       `json:"error,omitempty"`
}

// ComputeHash returns the hash over the plan's (node, profile, out path)
// triples, independent of order.
func (p *Plan) ComputeHash() string {
	var lines []string
	for _, n := range p.Nodes {
		for _, pr := range n.Profiles {
			lines = append(lines, n.Name+"\t"+pr.Name+"\t"+pr.OutPath+"\n")
		}
	}
	sort.Strings(lines)
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// OutPath returns the reviewed store path of node's profile, if the plan has it.
func (p *Plan) OutPath(node, profile string) (string, bool) {
	for _, n := range p.Nodes {
		if n.Name != node {
			continue
		}
		for _, pr := range n.Profiles {
			if pr.Name == profile && pr.OutPath != "" {
				return pr.OutPath, true
			}
		}
	}
	return "", false
}

// Mismatch is a built path that differs from the reviewed plan.
type Mismatch struct {
	Node, Profile   string
	Reviewed, Built string
}

func (m *Mismatch) Error() string {
	if m.Reviewed == "" {
		return fmt.Sprintf("%s/%s is not in the reviewed plan (built %s): refusing to deploy what was not reviewed", m.Node, m.Profile, m.Built)
	}
	return fmt.Sprintf("%s/%s differs from the reviewed plan: reviewed %s, built %s: refusing to deploy what was not reviewed", m.Node, m.Profile, m.Reviewed, m.Built)
}

// ExitCode: a mismatch is invalid input (exit 2): nothing is deployed.
func (m *Mismatch) ExitCode() int { return 2 }

// Verify checks that a built path is what the reviewed plan says.
func (p *Plan) Verify(node, profile, built string) error {
	reviewed, _ := p.OutPath(node, profile)
	if reviewed != built {
		return &Mismatch{Node: node, Profile: profile, Reviewed: reviewed, Built: built}
	}
	return nil
}

// ChangedNodes lists nodes with at least one changed, new or unknown profile.
func (p *Plan) ChangedNodes() []string {
	var out []string
	for _, n := range p.Nodes {
		for _, pr := range n.Profiles {
			if pr.Status != Unchanged {
				out = append(out, n.Name)
				break
			}
		}
	}
	return out
}

// Failed reports whether any profile failed to build.
func (p *Plan) Failed() bool {
	for _, n := range p.Nodes {
		for _, pr := range n.Profiles {
			if pr.Status == Failed {
				return true
			}
		}
	}
	return false
}

// Installable is what to build for a profile: "<flakeref>#<attr>", or for
// plans without flakes "<file.nix>#<attr>" (built with nix build --file).
func Installable(cfg *config.Plan, p *config.Profile) string {
	if cfg.NixFile != "" && !strings.Contains(p.Installable, "#") {
		return cfg.NixFile + "#" + p.Attr
	}
	return p.Installable
}
