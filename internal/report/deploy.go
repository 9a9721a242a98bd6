package report

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nix-deploy-action/nix-deploy-action/internal/deploy"
	"github.com/nix-deploy-action/nix-deploy-action/internal/plan"
)

// Deploy publishes a deploy as it runs: a check run per node (commit
// statuses when the token may not create check runs) and the statuses of
// the job's own deployment. Events are queued and published in order by a
// goroutine, so a slow or failing GitHub never holds the deploy up.
type Deploy struct {
	API API
	// Warn receives every publishing failure; the deploy goes on.
	Warn *slog.Logger
	Env  string
	// EnvURL is the environment_url of the deployment statuses.
	EnvURL string
	Run    Run
	// Checks enables check runs (or their commit status fallback).
	Checks bool
	// Plan is the reviewed plan, for the diffs in the node summaries.
	Plan *plan.Plan
	Now  func() time.Time

	mu         sync.Mutex
	approvedBy []string
	queue      []func(context.Context)
	wake       chan struct{}
	done       chan struct{}
	runs       map[string]int64 // node -> check run id
	statuses   bool             // check runs were refused: commit statuses instead
	deployment int64
}

// Start finds the job's deployment (a job with `environment:` has one;
// creating another would duplicate it), marks it in progress, and starts
// publishing events.
func (d *Deploy) Start(ctx context.Context) {
	d.wake = make(chan struct{}, 1)
	d.done = make(chan struct{})
	d.runs = map[string]int64{}
	go d.work(ctx)
	d.enqueue(func(ctx context.Context) {
		id, found, err := d.API.FindDeployment(ctx, d.Run.SHA, d.Env)
		switch {
		case err != nil:
			d.warn("find the job's deployment", err)
			return
		case !found:
			d.Warn.Info("no deployment for this job (no `environment:` on it?): deployment statuses skipped", "sha", d.Run.SHA, "environment", d.Env)
			return
		}
		d.deployment = id
		d.deploymentStatus(ctx, "in_progress", "Deploying with nix-deploy")
	})
}

// SetApprovedBy records who approved the deploy, for the summaries.
func (d *Deploy) SetApprovedBy(users []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.approvedBy = append([]string(nil), users...)
}

// Event queues a deploy event; it is the deploy engine's Events callback.
func (d *Deploy) Event(e deploy.Event) {
	if !d.Checks {
		return
	}
	switch e.Kind {
	case deploy.NodeStarted:
		d.enqueue(func(ctx context.Context) { d.nodeStarted(ctx, e) })
	case deploy.NodeFinished:
		d.enqueue(func(ctx context.Context) { d.nodeFinished(ctx, e) })
	}
}

// Finish publishes the deployment's final status once every queued event
// is published. A nil result (the deploy did not run) is a failure.
func (d *Deploy) Finish(res *deploy.Result) {
	d.enqueue(func(ctx context.Context) {
		if d.deployment == 0 {
			return
		}
		switch {
		case res == nil:
			d.deploymentStatus(ctx, "failure", "nix-deploy did not deploy")
		case res.ExitCode == 0:
			d.deploymentStatus(ctx, "success", res.Summary())
		default:
			d.deploymentStatus(ctx, "failure", res.Summary())
		}
	})
	d.mu.Lock()
	d.queue = append(d.queue, nil) // stops the worker
	d.mu.Unlock()
	d.signal()
	<-d.done
}

func (d *Deploy) enqueue(f func(context.Context)) {
	d.mu.Lock()
	d.queue = append(d.queue, f)
	d.mu.Unlock()
	d.signal()
}

func (d *Deploy) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *Deploy) work(ctx context.Context) {
	defer close(d.done)
	for {
		d.mu.Lock()
		if len(d.queue) == 0 {
			d.mu.Unlock()
			<-d.wake
			continue
		}
		f := d.queue[0]
		d.queue = d.queue[1:]
		d.mu.Unlock()
		if f == nil {
			return
		}
		f(ctx)
	}
}

func (d *Deploy) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Deploy) warn(what string, err error) {
	d.Warn.Warn("could not "+what+" (the deploy goes on)", "err", err)
}

func (d *Deploy) nodeStarted(ctx context.Context, e deploy.Event) {
	started := e.Time
	if started.IsZero() {
		started = d.now()
	}
	if d.statuses {
		d.status(ctx, e.Node, "pending", "Deploying")
		return
	}
	id, err := d.API.CreateCheckRun(ctx, NodeStartedCheck(d.Env, e.Node, d.Run, started))
	if err != nil {
		if isNotPermitted(err) {
			d.fallBack(err)
			d.status(ctx, e.Node, "pending", "Deploying")
			return
		}
		d.warn("create the check run of "+e.Node, err)
		return
	}
	d.runs[e.Node] = id
}

func (d *Deploy) nodeFinished(ctx context.Context, e deploy.Event) {
	if e.Result == nil {
		return
	}
	d.mu.Lock()
	approvedBy := d.approvedBy
	d.mu.Unlock()
	r := e.Result
	if d.statuses {
		d.status(ctx, r.Name, NodeState(r.Outcome), outcomeTitle(r))
		return
	}
	c := NodeFinishedCheck(NodeDeploy{Env: d.Env, Result: r, Plan: d.Plan, ApprovedBy: approvedBy, Run: d.Run}, d.now())
	if id, ok := d.runs[r.Name]; ok {
		if err := d.API.UpdateCheckRun(ctx, id, c); err != nil {
			d.warn("complete the check run of "+r.Name, err)
		}
		return
	}
	// Not started (skipped, cancelled) or its creation failed: create it
	// completed.
	c.StartedAt = c.CompletedAt
	if _, err := d.API.CreateCheckRun(ctx, c); err != nil {
		if isNotPermitted(err) {
			d.fallBack(err)
			d.status(ctx, r.Name, NodeState(r.Outcome), outcomeTitle(r))
			return
		}
		d.warn("create the check run of "+r.Name, err)
	}
}

func (d *Deploy) fallBack(err error) {
	d.statuses = true
	d.Warn.Warn("the token may not create check runs (a personal access token?): using commit statuses instead", "err", err)
}

func (d *Deploy) status(ctx context.Context, node, state, desc string) {
	st := CommitStatus{Context: NodeCheckName(d.Env, node), State: state, Description: shorten(desc, DescriptionLimit), TargetURL: d.Run.RunURL}
	if err := d.API.CreateStatus(ctx, d.Run.HeadSHA, st); err != nil {
		d.warn(fmt.Sprintf("set the commit status of %s", node), err)
	}
}

func (d *Deploy) deploymentStatus(ctx context.Context, state, desc string) {
	st := DeploymentStatus{State: state, Description: shorten(desc, DescriptionLimit), LogURL: d.Run.RunURL, EnvironmentURL: d.EnvURL}
	if err := d.API.CreateDeploymentStatus(ctx, d.deployment, st); err != nil {
		d.warn("set the deployment status to "+state, err)
	}
}

// ApprovedBy lists the users who approved the run's deployment gate, from
// GitHub's review history of the run.
func ApprovedBy(ctx context.Context, api Approvals, runID int64) ([]string, error) {
	as, err := api.RunApprovals(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("read the run's approvals: %w", err)
	}
	var users []string
	seen := map[string]bool{}
	for _, a := range as {
		if a.State == "approved" && !seen[a.User] {
			seen[a.User] = true
			users = append(users, a.User)
		}
	}
	return users, nil
}
