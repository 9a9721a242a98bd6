package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
	"github.com/nix-deploy-action/nix-deploy-action/internal/exit"
	"github.com/nix-deploy-action/nix-deploy-action/internal/plan"
	"github.com/nix-deploy-action/nix-deploy-action/internal/render"
)

func init() {
	register(&Command{
		Name:    "plan",
		Summary: "build the selected profiles and show what will change",
		Run: func(ctx context.Context, io IO, args []string) error {
			o, err := parsePlanFlags(args, io)
			if err != nil {
				return err
			}
			_, err = runPlan(ctx, io, o)
			return err
		},
	})
}

// planOptions are the flags of `nix-deploy plan`.
type planOptions struct {
	PlanFile    string
	Env         string
	Nodes       string
	DiffAgainst string // none | base=GITREF | target
	JSONFile    string
	Markdown    string
	Jobs        int
	NixArgs     []string
	SSH         sshOptions
}

func parsePlanFlags(args []string, io IO) (*planOptions, error) {
	o := &planOptions{}
	fs := newFlagSet("plan", "plan -f PLAN [--env ENV] [--nodes SELECTOR] [--diff-against none|base=GITREF|target] [--json FILE] [-- NIX ARGS]", io.Out)
	fs.StringVar(&o.PlanFile, "f", "nix-deploy.yml", "the deploy plan `file`")
	fs.StringVar(&o.Env, "env", "", "the `environment` to plan (default: every node of the plan)")
	fs.StringVar(&o.Nodes, "nodes", "", "narrow the environment to these nodes: names, @tags, globs, comma-separated")
	fs.StringVar(&o.DiffAgainst, "diff-against", "none", "baseline: none, base=GITREF (build that revision), or target (what each node runs now, over SSH)")
	fs.StringVar(&o.JSONFile, "json", "", "write plan.json to this `file`")
	fs.StringVar(&o.Markdown, "markdown", "", "write the PR-comment markdown to this `file`")
	fs.IntVar(&o.Jobs, "jobs", 4, "concurrent builds")
	o.SSH.addFlags(fs)
	rest, passthrough, err := parseFlags(fs, args)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, exit.Usagef("plan: unexpected argument %q (nix arguments go after --)", rest[0])
	}
	if _, _, err := parseDiffAgainst(o.DiffAgainst); err != nil {
		return nil, err
	}
	if o.Jobs < 1 {
		return nil, exit.Usagef("plan: --jobs must be at least 1")
	}
	o.NixArgs = passthrough
	return o, nil
}

func parseDiffAgainst(s string) (plan.BaselineKind, string, error) {
	switch {
	case s == "none" || s == "":
		return plan.BaselineNone, "", nil
	case s == "target":
		return plan.BaselineTarget, "", nil
	case strings.HasPrefix(s, "base="):
		ref := strings.TrimPrefix(s, "base=")
		if ref == "" || strings.HasPrefix(ref, "-") {
			return "", "", exit.Usagef("--diff-against base=GITREF: invalid ref %q", ref)
		}
		return plan.BaselineBase, ref, nil
	}
	return "", "", exit.Usagef("--diff-against: %q is not none, base=GITREF or target", s)
}

// runPlan loads the plan file, builds and diffs. It returns the plan even
// when some builds failed (with the error), so callers can report it.
func runPlan(ctx context.Context, io IO, o *planOptions) (*plan.Plan, error) {
	cfg, nodes, err := loadNodes(ctx, o.PlanFile, o.Env, o.Nodes, o.NixArgs)
	if err != nil {
		return nil, err
	}
	against, ref, _ := parseDiffAgainst(o.DiffAgainst)
	var logMu sync.Mutex
	pl := &plan.Planner{
		Builder:  newBuilder(cfg, o.NixArgs),
		Closures: newClosureStore(),
		Jobs:     o.Jobs,
		Log: func(node, profile, line string) {
			logMu.Lock()
			defer logMu.Unlock()
			fmt.Fprintf(io.Err, "[%s/%s] %s\n", node, profile, line)
		},
	}
	switch against {
	case plan.BaselineBase:
		pl.Checkouts = &gitCheckouts{plan: cfg}
	case plan.BaselineTarget:
		t, err := newSSHTargets(io, &o.SSH)
		if err != nil {
			return nil, err
		}
		pl.Targets = t
	}
	p, runErr := pl.Run(ctx, plan.Request{Plan: cfg, Env: o.Env, Nodes: nodes, Against: against, BaseRef: ref})
	if p == nil {
		return nil, runErr
	}
	render.PlanText(io.Out, p)
	if o.JSONFile != "" {
		if err := writePlanJSON(o.JSONFile, p); err != nil {
			return p, err
		}
	}
	if o.Markdown != "" {
		if err := os.WriteFile(o.Markdown, []byte(render.PlanMarkdown(p, render.MarkdownOptions{})), 0o644); err != nil {
			return p, fmt.Errorf("write markdown: %w", err)
		}
	}
	if runErr != nil {
		var be *plan.BuildError
		if errors.As(runErr, &be) {
			return p, fmt.Errorf("some profiles failed to build:\n%w", runErr)
		}
	}
	return p, runErr
}

func writePlanJSON(file string, p *plan.Plan) error {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("encode plan.json: %w", err)
	}
	if err := os.WriteFile(file, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write plan.json: %w", err)
	}
	return nil
}

// readPlanJSON reads a plan.json written by writePlanJSON.
func readPlanJSON(file string) (*plan.Plan, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, &exit.UsageError{Err: fmt.Errorf("read reviewed plan: %w", err)}
	}
	var p plan.Plan
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, &exit.UsageError{Err: fmt.Errorf("%s: not a plan.json: %w", file, err)}
	}
	if p.Version != plan.SchemaVersion {
		return nil, &exit.UsageError{Err: fmt.Errorf("%s: plan.json version %d, this nix-deploy reads version %d", file, p.Version, plan.SchemaVersion)}
	}
	if got := p.ComputeHash(); got != p.Hash {
		return nil, &exit.UsageError{Err: fmt.Errorf("%s: hash %s does not match its contents (%s): the file was edited", file, p.Hash, got)}
	}
	return &p, nil
}

var _ = config.Load
