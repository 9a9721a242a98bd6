package deploy

import (
	"context"
	"errors"
	"fmt"

	"github.com/nix-deploy-action/nix-deploy-action/internal/agent"
	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
)

// RollbackRequest is the break-glass lever: put a profile back to an
// earlier generation, with the deploy's safety (lock, agent, health checks,
// confirmation or automatic rollback).
type RollbackRequest struct {
	Env   *config.Environment
	Nodes []*config.Node
	// Profile to roll back; the node's first profile (system) when empty.
	Profile string
	// To is the generation; 0 means the one before the current.
	To int
	ID string
}

// Rollback resolves each node's target generation on the node itself, then
// activates it like a deploy (the store path is already there: nothing is
// built or transferred). It returns an error only when no node was touched
// because a target could not be resolved.
func (d *Deployer) Rollback(ctx context.Context, req RollbackRequest) (*Result, error) {
	id := req.ID
	if id == "" {
		id = NewID()
	}
	rn := &run{d: d, id: id, mode: agent.ModeSwitch, emit: d.emitter()}
	res := &Result{Version: ResultVersion, ID: id, Mode: "rollback", Started: d.now()}
	if req.Env != nil {
		res.Environment = req.Env.Name
	}
	jobs := make([]*nodeJob, len(req.Nodes))
	statuses := d.Status(ctx, req.Nodes)
	var errs []error
	for i, n := range req.Nodes {
		p, err := rollbackProfile(n, req.Profile)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st := statuses[i]
		if st.Error != "" {
			errs = append(errs, fmt.Errorf("%s: %s", n.Name, st.Error))
			continue
		}
		var ps *ProfileStatus
		for _, x := range st.Profiles {
			if x.Name == p.Name {
				ps = x
			}
		}
		path, err := rollbackTarget(n.Name, ps, req.To)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// The target was chosen from generations read before the node was
		// locked: the deploy re-checks them under the lock.
		jobs[i] = &nodeJob{node: n, profiles: []profileJob{{p: p, path: path, onNode: true, expect: ps.CurrentPath()}}}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	results := make([]*NodeResult, len(jobs))
	stop := false
	for wi, wave := range waves(req.Env, len(jobs)) {
		done := make(chan struct{}, len(wave))
		for _, i := range wave {
			if stop || ctx.Err() != nil {
				o := Skipped
				if ctx.Err() != nil {
					o = Cancelled
				}
				results[i] = notStarted(jobs[i], o)
				done <- struct{}{}
				continue
			}
			go func() {
				results[i] = rn.deployNode(ctx, jobs[i])
				done <- struct{}{}
			}()
		}
		for range wave {
			<-done
		}
		for _, i := range wave {
			if !results[i].Outcome.OK() && (onFailure(req.Env) == config.Stop || isCanaryWave(req.Env, wi)) {
				stop = true
			}
		}
	}
	res.Nodes = results
	res.Cancelled = ctx.Err() != nil
	res.Duration = Duration(d.now().Sub(res.Started))
	res.ExitCode = res.exitCode()
	return res, nil
}

func rollbackProfile(n *config.Node, name string) (*config.Profile, error) {
	if len(n.Profiles) == 0 {
		return nil, fmt.Errorf("%s has no profiles", n.Name)
	}
	if name == "" {
		return n.Profiles[0], nil
	}
	for _, p := range n.Profiles {
		if p.Name == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%s has no profile %q", n.Name, name)
}

// rollbackTarget picks the store path of generation to (or the one before
// the current).
func rollbackTarget(node string, ps *ProfileStatus, to int) (string, error) {
	if ps == nil || len(ps.Generations) == 0 {
		return "", fmt.Errorf("%s: the profile has no generations to roll back to", node)
	}
	if to == 0 {
		var prev *Generation
		for i := range ps.Generations {
			g := &ps.Generations[i]
			if g.Number < ps.Current && (prev == nil || g.Number > prev.Number) {
				prev = g
			}
		}
		if prev == nil {
			return "", fmt.Errorf("%s: generation %d is the oldest: nothing to roll back to", node, ps.Current)
		}
		return prev.Path, nil
	}
	for _, g := range ps.Generations {
		if g.Number == to {
			return g.Path, nil
		}
	}
	return "", fmt.Errorf("%s: no generation %d (have %s)", node, to, generationList(ps))
}

func generationList(ps *ProfileStatus) string {
	s := ""
	for i, g := range ps.Generations {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprint(g.Number)
	}
	return s
}
