package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
	"github.com/nix-deploy-action/nix-deploy-action/internal/exit"
	"github.com/nix-deploy-action/nix-deploy-action/internal/git"
	"github.com/nix-deploy-action/nix-deploy-action/internal/nix"
	"github.com/nix-deploy-action/nix-deploy-action/internal/plan"
)

// loadPlan reads and validates the plan file; for a plan whose nodes come
// from a deploy-rs flake output it evaluates that output.
func loadPlan(ctx context.Context, file string, nixArgs []string) (*config.Plan, error) {
	cfg, err := config.Load(file)
	if err != nil {
		return nil, err
	}
	if cfg.NodesFrom == "" {
		return cfg, nil
	}
	n := &nix.Nix{Args: nixArgs}
	attr := cfg.Flake + "#" + cfg.NodesFrom
	// toJSON renders each profile's path (a derivation) as its store path,
	// which is known without building anything.
	data, err := n.EvalJSON(ctx, attr, "")
	if err != nil {
		return nil, fmt.Errorf("read deploy-rs nodes from %s: %w", attr, err)
	}
	if err := config.FromDeployRS(attr, data, cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// loadNodes loads the plan and selects env's nodes, narrowed by selector
// (all the plan's nodes when env is empty). An unknown environment, node
// or tag is invalid input.
func loadNodes(ctx context.Context, file, env, selector string, nixArgs []string) (*config.Plan, []*config.Node, error) {
	cfg, err := loadPlan(ctx, file, nixArgs)
	if err != nil {
		return nil, nil, err
	}
	nodes, err := cfg.Select(env, selector)
	if err != nil {
		return nil, nil, &exit.UsageError{Err: err}
	}
	return cfg, nodes, nil
}

// nixBuilder is plan.Builder over the nix command line.
type nixBuilder struct {
	nix *nix.Nix
}

func newBuilder(cfg *config.Plan, nixArgs []string) *nixBuilder {
	return &nixBuilder{nix: &nix.Nix{Args: nixArgs}}
}

func (b *nixBuilder) Build(ctx context.Context, installable string, logLine func(string)) (plan.Build, error) {
	var built nix.Built
	var err error
	if file, attr, ok := strings.Cut(installable, "#"); ok && strings.HasSuffix(file, ".nix") {
		built, err = b.nix.BuildFile(ctx, file, attr, logLine)
	} else {
		built, err = b.nix.Build(ctx, installable, logLine)
	}
	if err != nil {
		return plan.Build{}, err
	}
	return plan.Build{DrvPath: built.DrvPath, OutPath: built.Out()}, nil
}

func newClosureStore() *nix.Store {
	return nix.NewStore(nix.StoreOptions{})
}

// gitCheckouts is plan.Checkouts for a plan whose flake (or Nix file) is a
// local path inside a git repository.
type gitCheckouts struct {
	plan *config.Plan
}

func (g *gitCheckouts) Checkout(ctx context.Context, ref string) (func(string) (string, error), func(), error) {
	local := g.plan.NixFile
	if local == "" {
		local = localFlakePath(g.plan.Flake)
	}
	if local == "" {
		return nil, nil, fmt.Errorf("flake %q is not a local path: diff against a base revision needs the plan's flake in this git repository", g.plan.Flake)
	}
	abs, err := filepath.Abs(local)
	if err != nil {
		return nil, nil, err
	}
	top, rel, err := git.Rel(ctx, abs)
	if err != nil {
		return nil, nil, err
	}
	dir, cleanup, err := git.Export(ctx, top, ref)
	if err != nil {
		return nil, nil, err
	}
	baseLocal := filepath.Join(dir, rel)
	if _, err := os.Stat(baseLocal); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("%s does not exist at %s", rel, ref)
	}
	rewrite := func(installable string) (string, error) {
		_, attr, ok := strings.Cut(installable, "#")
		if !ok {
			return "", fmt.Errorf("installable %q has no attribute", installable)
		}
		if g.plan.NixFile != "" {
			return baseLocal + "#" + attr, nil
		}
		return "path:" + baseLocal + "#" + attr, nil
	}
	return rewrite, cleanup, nil
}

// localFlakePath returns the directory of a path-like flake reference
// ("./flake", "/abs", "path:./x", "git+file:///x?dir=y"), or "" for remote ones.
func localFlakePath(ref string) string {
	switch {
	case strings.HasPrefix(ref, "path:"):
		p, _, _ := strings.Cut(strings.TrimPrefix(ref, "path:"), "?")
		return p
	case strings.HasPrefix(ref, "git+file://"):
		rest := strings.TrimPrefix(ref, "git+file://")
		p, query, _ := strings.Cut(rest, "?")
		for _, kv := range strings.Split(query, "&") {
			if d, ok := strings.CutPrefix(kv, "dir="); ok {
				return filepath.Join(p, d)
			}
		}
		return p
	case strings.HasPrefix(ref, "/"), strings.HasPrefix(ref, "."):
		return ref
	}
	return ""
}
