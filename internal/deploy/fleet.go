package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/nix-deploy-action/nix-deploy-action/internal/agent"
	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
)

// ErrNotApproved is an interactive deploy the user declined.
var ErrNotApproved = errors.New("deploy not approved: nothing was deployed")

// Deploy builds every selected profile, checks the builds against the
// reviewed plan, then rolls out node by node as the environment's strategy
// says. It returns an error only when nothing was deployed anywhere (a
// mismatch with the reviewed plan, approval declined); otherwise the
// Result says what happened (Result.Err for the exit code).
func (d *Deployer) Deploy(ctx context.Context, req Request) (*Result, error) {
	mode := req.Mode
	if mode == "" {
		mode = agent.ModeSwitch
	}
	id := req.ID
	if id == "" {
		id = NewID()
	}
	if !agent.ValidID(id + "-99") {
		return nil, fmt.Errorf("invalid deploy id %q", id)
	}
	rn := &run{d: d, id: id, mode: mode, emit: d.emitter()}
	res := &Result{Version: ResultVersion, ID: id, Mode: string(mode), Started: d.now()}
	if req.Env != nil {
		res.Environment = req.Env.Name
	}

	jobs := d.buildAll(ctx, rn, req.Nodes)
	if req.Reviewed != nil {
		var errs []error
		for _, j := range jobs {
			for _, pj := range j.profiles {
				if pj.path == "" {
					continue
				}
				if err := req.Reviewed.Verify(j.node.Name, pj.p.Name, pj.path); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
	}
	if req.Approve != nil && ctx.Err() == nil {
		var targets []Target
		for _, j := range jobs {
			for _, pj := range j.profiles {
				targets = append(targets, Target{Node: j.node, Profile: pj.p, Path: pj.path})
			}
		}
		ok, err := req.Approve(ctx, targets)
		if err != nil {
			return nil, fmt.Errorf("ask for approval: %w", err)
		}
		if !ok {
			return nil, ErrNotApproved
		}
	}

	results := make([]*NodeResult, len(jobs))
	stop := false
	for i, j := range jobs {
		if j.buildErr != nil {
			if ctx.Err() != nil {
				// The builds were interrupted, not broken.
				results[i] = notStarted(j, Cancelled)
			} else {
				results[i] = buildFailed(j)
			}
			rn.emit(Event{Kind: NodeFinished, Node: j.node.Name, Time: d.now(), Result: results[i]})
			if onFailure(req.Env) == config.Stop {
				stop = true
			}
		}
	}
	for wi, wave := range waves(req.Env, len(jobs)) {
		var wg sync.WaitGroup
		for _, i := range wave {
			if results[i] != nil {
				continue
			}
			if stop || ctx.Err() != nil {
				o := Skipped
				if ctx.Err() != nil {
					o = Cancelled
				}
				results[i] = notStarted(jobs[i], o)
				rn.emit(Event{Kind: NodeFinished, Node: jobs[i].node.Name, Time: d.now(), Result: results[i]})
				continue
			}
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				results[i] = rn.deployNode(ctx, jobs[i])
			}(i)
		}
		wg.Wait()
		for _, i := range wave {
			if results[i] != nil && !results[i].Outcome.OK() && results[i].Outcome != Skipped {
				// A failed canary stops the rollout whatever on-failure
				// says: that is what a canary is for.
				if onFailure(req.Env) == config.Stop || isCanaryWave(req.Env, wi) {
					stop = true
				}
			}
		}
	}
	res.Nodes = results
	res.Cancelled = ctx.Err() != nil
	res.Duration = Duration(d.now().Sub(res.Started))
	res.ExitCode = res.exitCode()
	return res, nil
}

// NewID returns a fresh deploy id: unique enough to never meet another
// deploy's state on a node.
func NewID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "nd-" + hex.EncodeToString(b[:])
}

func (d *Deployer) emitter() func(Event) {
	var mu sync.Mutex
	return func(e Event) {
		if d.Events == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		d.Events(e)
	}
}

func onFailure(env *config.Environment) config.OnFailure {
	if env == nil || env.OnFailure == "" {
		return config.Stop
	}
	return env.OnFailure
}

func isCanaryWave(env *config.Environment, wave int) bool {
	return env != nil && env.Strategy == config.Canary && wave == 0
}

// waves splits n nodes (in plan order) into the groups deployed together:
// every node of a wave starts at once, the next wave when it is done. Waves
// rather than a sliding window keep which nodes a failure stops
// predictable.
func waves(env *config.Environment, n int) [][]int {
	strategy, maxp, canary := config.Rolling, 1, 0
	if env != nil {
		strategy, maxp, canary = env.Strategy, env.MaxParallel, env.Canary
	}
	var out [][]int
	next := 0
	take := func(k int) {
		if k <= 0 || next+k > n {
			k = n - next
		}
		w := make([]int, k)
		for i := range w {
			w[i] = next + i
		}
		next += k
		out = append(out, w)
	}
	switch strategy {
	case config.Parallel:
		// max-parallel 0 = all at once.
	case config.Canary:
		if canary <= 0 {
			canary = 1
		}
		if n > 0 {
			take(canary)
		}
		if maxp <= 0 {
			maxp = 1
		}
	default:
		if maxp <= 0 {
			maxp = 1
		}
	}
	for next < n {
		take(maxp)
	}
	return out
}

// buildAll builds every profile of every node, each installable once.
func (d *Deployer) buildAll(ctx context.Context, rn *run, nodes []*config.Node) []*nodeJob {
	type build struct {
		once sync.Once
		path string
		err  error
	}
	var mu sync.Mutex
	builds := map[string]*build{}
	get := func(inst string) *build {
		mu.Lock()
		defer mu.Unlock()
		b, ok := builds[inst]
		if !ok {
			b = &build{}
			builds[inst] = b
		}
		return b
	}
	n := d.BuildJobs
	if n <= 0 {
		n = 2
	}
	sem := make(chan struct{}, n)
	jobs := make([]*nodeJob, len(nodes))
	errs := make([][]error, len(nodes))
	var wg sync.WaitGroup
	for i, node := range nodes {
		jobs[i] = &nodeJob{node: node, profiles: make([]profileJob, len(node.Profiles))}
		errs[i] = make([]error, len(node.Profiles))
		for k, p := range node.Profiles {
			jobs[i].profiles[k].p = p
			wg.Add(1)
			go func() {
				defer wg.Done()
				inst := p.Installable
				if p.StorePath != "" {
					inst = p.StorePath
				}
				b := get(inst)
				b.once.Do(func() {
					sem <- struct{}{}
					defer func() { <-sem }()
					rn.emit(Event{Kind: StepStarted, Node: node.Name, Profile: p.Name, Step: StepBuild, Time: d.now()})
					b.path, b.err = d.Builder.Build(ctx, inst, func(line string) {
						if d.BuildLog != nil {
							d.BuildLog(node.Name, p.Name, line)
						}
					})
					if b.err == nil && !closure.IsStorePath(b.path) {
						b.err = fmt.Errorf("not a store path: %q", b.path)
					}
				})
				if b.err != nil {
					errs[i][k] = fmt.Errorf("%s: build %s: %w", p.Name, inst, b.err)
					return
				}
				jobs[i].profiles[k].path = b.path
			}()
		}
	}
	wg.Wait()
	for i, j := range jobs {
		j.buildErr = errors.Join(errs[i]...)
	}
	return jobs
}

// buildFailed is a node whose profiles did not all build: nothing is
// deployed to it.
func buildFailed(j *nodeJob) *NodeResult {
	res := notStarted(j, Failed)
	res.Error = j.buildErr.Error()
	for i, pj := range j.profiles {
		if pj.path == "" {
			res.Profiles[i].Error = "build failed"
		} else {
			res.Profiles[i].Outcome = Skipped
		}
	}
	return res
}

func notStarted(j *nodeJob, o Outcome) *NodeResult {
	res := &NodeResult{Name: j.node.Name, Host: j.node.Host, Outcome: o}
	for _, pj := range j.profiles {
		res.Profiles = append(res.Profiles, &ProfileResult{Name: pj.p.Name, Path: pj.path, Outcome: o})
	}
	return res
}
