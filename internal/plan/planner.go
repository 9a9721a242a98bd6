package plan

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
)

// Builder realises an installable (nix build).
type Builder interface {
	Build(ctx context.Context, installable string, logLine func(string)) (Build, error)
}

// Build is a realised installable.
type Build struct {
	DrvPath string
	OutPath string
}

// Closures reads a store path's runtime closure with NAR sizes from the local store.
type Closures interface {
	Closure(ctx context.Context, path string) (*closure.Closure, error)
}

// Targets reads what a node's profiles point to now, with their closures,
// without privileges. Profiles that do not exist yet are absent from the map.
type Targets interface {
	Current(ctx context.Context, node *config.Node) (map[string]*closure.Closure, error)
}

// Checkouts makes the plan's flake available at another git revision and
// returns how to rewrite an installable to point there.
type Checkouts interface {
	Checkout(ctx context.Context, ref string) (rewrite func(installable string) (string, error), cleanup func(), err error)
}

// Planner builds and diffs.
type Planner struct {
	Builder   Builder
	Closures  Closures
	Targets   Targets   // needed for BaselineTarget
	Checkouts Checkouts // needed for BaselineBase
	// Jobs bounds concurrent builds; 4 when zero.
	Jobs int
	// Log receives build log lines, attributed to a node and profile. It
	// is called from concurrent builds.
	Log func(node, profile, line string)
}

// Request says what to plan.
type Request struct {
	Plan    *config.Plan
	Env     string
	Nodes   []*config.Node
	Against BaselineKind
	BaseRef string
}

// BuildError is a profile that failed to build.
type BuildError struct {
	Node, Profile string
	Err           error
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("build %s/%s: %v", e.Node, e.Profile, e.Err)
}

func (e *BuildError) Unwrap() error { return e.Err }

// Run builds every selected profile (and the base revision's, for
// BaselineBase), reads the baselines and diffs. A build failure of the new
// configuration is returned as an error (joined BuildErrors) together with
// the partial plan; an unreachable node only marks its baseline unknown.
func (pl *Planner) Run(ctx context.Context, req Request) (*Plan, error) {
	out := &Plan{
		Version:     SchemaVersion,
		PlanFile:    req.Plan.File,
		Environment: req.Env,
		DiffAgainst: req.Against,
		BaseRef:     req.BaseRef,
	}
	type job struct {
		node *config.Node
		prof *config.Profile
		res  *Profile
		base string // installable at the base revision
	}
	var jobs []*job
	for _, n := range req.Nodes {
		pn := &Node{Name: n.Name, Host: n.Host}
		out.Nodes = append(out.Nodes, pn)
		for _, p := range n.Profiles {
			res := &Profile{Name: p.Name, Installable: Installable(req.Plan, p), Baseline: &Baseline{Kind: req.Against, Ref: req.BaseRef}}
			pn.Profiles = append(pn.Profiles, res)
			jobs = append(jobs, &job{node: n, prof: p, res: res})
		}
	}

	if req.Against == BaselineBase {
		if pl.Checkouts == nil {
			return nil, errors.New("diff against base: no git checkout support configured")
		}
		rewrite, cleanup, err := pl.Checkouts.Checkout(ctx, req.BaseRef)
		if err != nil {
			return nil, fmt.Errorf("check out base %s: %w", req.BaseRef, err)
		}
		defer cleanup()
		for _, j := range jobs {
			if j.base, err = rewrite(j.res.Installable); err != nil {
				return nil, fmt.Errorf("%s/%s at base %s: %w", j.node.Name, j.prof.Name, req.BaseRef, err)
			}
		}
	}

	// Builds, bounded. The target baselines are read meanwhile.
	limit := pl.Jobs
	if limit <= 0 {
		limit = 4
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var buildErrs []error
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			b, err := pl.Builder.Build(ctx, j.res.Installable, pl.logger(j.node.Name, j.prof.Name))
			if err != nil {
				j.res.Status, j.res.Error = Failed, err.Error()
				mu.Lock()
				buildErrs = append(buildErrs, &BuildError{Node: j.node.Name, Profile: j.prof.Name, Err: err})
				mu.Unlock()
				return
			}
			j.res.DrvPath, j.res.OutPath = b.DrvPath, b.OutPath
			if j.base != "" {
				bb, err := pl.Builder.Build(ctx, j.base, pl.logger(j.node.Name, j.prof.Name+"@base"))
				switch {
				case err != nil && missingAttr(err):
					j.res.Baseline.Error = "not present at " + req.BaseRef
				case err != nil:
					j.res.Baseline.Error = err.Error()
				default:
					j.res.Baseline.Path = bb.OutPath
				}
			}
		}()
	}
	targets := map[string]map[string]*closure.Closure{}
	targetErrs := map[string]error{}
	if req.Against == BaselineTarget {
		if pl.Targets == nil {
			return nil, errors.New("diff against target: no SSH access configured")
		}
		var tmu sync.Mutex
		for _, n := range req.Nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cur, err := pl.Targets.Current(ctx, n)
				tmu.Lock()
				defer tmu.Unlock()
				if err != nil {
					targetErrs[n.Name] = err
					return
				}
				targets[n.Name] = cur
			}()
		}
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	for i, n := range req.Nodes {
		if err := targetErrs[n.Name]; err != nil {
			out.Nodes[i].Error = err.Error()
		}
	}
	for _, j := range jobs {
		if j.res.Status == Failed {
			continue
		}
		if err := pl.diff(ctx, j.res, targets[j.node.Name][j.prof.Name], targetErrs[j.node.Name]); err != nil {
			return nil, fmt.Errorf("%s/%s: %w", j.node.Name, j.prof.Name, err)
		}
	}
	out.Hash = out.ComputeHash()
	return out, errors.Join(buildErrs...)
}

// diff fills a built profile's closure figures, baseline and diff.
func (pl *Planner) diff(ctx context.Context, res *Profile, target *closure.Closure, targetErr error) error {
	after, err := pl.Closures.Closure(ctx, res.OutPath)
	if err != nil {
		return fmt.Errorf("read closure of %s: %w", res.OutPath, err)
	}
	res.Paths, res.NarSize = len(after.Paths), sumNar(after)

	var before *closure.Closure
	switch res.Baseline.Kind {
	case BaselineTarget:
		if targetErr != nil {
			res.Baseline.Error = targetErr.Error()
		} else if target != nil {
			before = target
			res.Baseline.Path = target.Root
		}
	case BaselineBase:
		if res.Baseline.Path != "" {
			if before, err = pl.Closures.Closure(ctx, res.Baseline.Path); err != nil {
				return fmt.Errorf("read closure of %s: %w", res.Baseline.Path, err)
			}
		}
	}
	switch {
	case res.Baseline.Error != "" && before == nil && res.Baseline.Kind != BaselineBase:
		res.Status = Unknown
		return nil
	case before == nil:
		res.Status = New
		before = &closure.Closure{}
	case before.Root == res.OutPath:
		res.Status = Unchanged
	default:
		res.Status = Changed
	}
	res.Baseline.Paths, res.Baseline.NarSize = len(before.Paths), sumNar(before)
	d := closure.Compare(before, after)
	res.Diff = d
	res.Summary = &d.Summary
	return nil
}

func (pl *Planner) logger(node, profile string) func(string) {
	if pl.Log == nil {
		return nil
	}
	return func(line string) { pl.Log(node, profile, line) }
}

func sumNar(c *closure.Closure) int64 {
	var s int64
	for _, p := range c.Paths {
		s += p.NarSize
	}
	return s
}

// missingAttr recognises nix's error for an attribute that does not exist,
// as for a node added in the change being planned.
func missingAttr(err error) bool {
	s := err.Error()
	return strings.Contains(s, "does not provide attribute") || strings.Contains(s, "attribute '") && strings.Contains(s, "missing")
}
