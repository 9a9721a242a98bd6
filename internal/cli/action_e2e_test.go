package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/deploy"
	"github.com/nix-deploy-action/nix-deploy-action/internal/github"
	"github.com/nix-deploy-action/nix-deploy-action/internal/githubfake"
	"github.com/nix-deploy-action/nix-deploy-action/internal/plan"
	"github.com/nix-deploy-action/nix-deploy-action/internal/testbed"
)

// End-to-end tests of `nix-deploy action` as the runner runs it: GITHUB_*
// and INPUT_* variables, an event payload file, output and summary files,
// against the local fleet and the fake GitHub (which fails the test on any
// request GitHub would refuse).

func init() {
	// Short waits: the fake answers at once and retries need not back off
	// for long; comment approval polls often.
	githubRetry = github.Retry{Backoff: 10 * time.Millisecond}
	approvalPoll = 100 * time.Millisecond
}

const (
	testOwner = "octo"
	testRepo  = "fleet"
	testToken = "ghs_jobtoken0123456789"
	headSHA   = "1111111111111111111111111111111111111111"
	mergeSHA  = "2222222222222222222222222222222222222222"
	baseSHA   = "3333333333333333333333333333333333333333"
	pushSHA   = "4444444444444444444444444444444444444444"
	testRunID = 4242
)

// runner is one step run of the action: its environment and files.
type runner struct {
	t      *testing.T
	env    map[string]string
	dir    string
	stdout string
}

// newRunner prepares a step in workspace ws for event, whose payload is
// written to the event file.
func newRunner(t *testing.T, gh *githubfake.Server, ws, event string, payload any) *runner {
	t.Helper()
	dir := t.TempDir()
	data, err := json.Marshal(payload)
	require.NoError(t, err)
	eventFile := filepath.Join(dir, "event.json")
	require.NoError(t, os.WriteFile(eventFile, data, 0o644))
	sha := pushSHA
	if event == "pull_request" {
		sha = mergeSHA
	}
	r := &runner{t: t, dir: dir, env: map[string]string{
		"GITHUB_ACTIONS":      "true",
		"GITHUB_REPOSITORY":   testOwner + "/" + testRepo,
		"GITHUB_API_URL":      gh.URL(),
		"GITHUB_SERVER_URL":   "https://github.com",
		"GITHUB_RUN_ID":       "4242",
		"GITHUB_RUN_NUMBER":   "7",
		"GITHUB_RUN_ATTEMPT":  "1",
		"GITHUB_SHA":          sha,
		"GITHUB_REF":          "refs/heads/main",
		"GITHUB_ACTOR":        "author",
		"GITHUB_EVENT_NAME":   event,
		"GITHUB_EVENT_PATH":   eventFile,
		"GITHUB_WORKSPACE":    ws,
		"GITHUB_OUTPUT":       filepath.Join(dir, "output"),
		"GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary"),
		"INPUT_GITHUB-TOKEN":  testToken,
	}}
	return r
}

// inputs sets INPUT_* variables as the runner does (hyphens kept).
func (r *runner) inputs(kv ...string) *runner {
	for i := 0; i+1 < len(kv); i += 2 {
		r.env["INPUT_"+strings.ToUpper(kv[i])] = kv[i+1]
	}
	return r
}

func (r *runner) run(ctx context.Context) int {
	r.t.Helper()
	var out bytes.Buffer
	code := Run(ctx, []string{"action"}, IO{In: strings.NewReader(""), Out: &out, Err: &out, Getenv: func(k string) string { return r.env[k] }})
	r.stdout = out.String()
	r.t.Logf("nix-deploy action (%s): exit %d\n%s", r.env["INPUT_COMMAND"], code, r.stdout)
	for _, secret := range []string{testToken, r.env["INPUT_SSH-PRIVATE-KEY"]} {
		if secret != "" {
			assert.Contains(r.t, r.stdout, "::add-mask::"+firstLineOf(secret), "secrets are masked")
		}
	}
	return code
}

func firstLineOf(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// outputs parses GITHUB_OUTPUT (name<<DELIM ... DELIM records).
func (r *runner) outputs() map[string]string {
	r.t.Helper()
	data, err := os.ReadFile(r.env["GITHUB_OUTPUT"])
	require.NoError(r.t, err)
	out := map[string]string{}
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		name, delim, ok := strings.Cut(lines[i], "<<")
		if !ok {
			continue
		}
		var val []string
		for i++; i < len(lines) && lines[i] != delim; i++ {
			val = append(val, lines[i])
		}
		out[name] = strings.Join(val, "\n")
	}
	return out
}

func (r *runner) summary() string {
	data, _ := os.ReadFile(r.env["GITHUB_STEP_SUMMARY"])
	return string(data)
}

func prPayload(number int, head string) map[string]any {
	repo := map[string]any{"full_name": testOwner + "/" + testRepo, "fork": false}
	return map[string]any{
		"number": number,
		"pull_request": map[string]any{
			"number": number,
			"head":   map[string]any{"sha": head, "ref": "bump", "repo": repo},
			"base":   map[string]any{"sha": baseSHA, "ref": "main", "repo": repo},
		},
	}
}

func pushPayload() map[string]any {
	return map[string]any{"ref": "refs/heads/main", "after": pushSHA}
}

func keyOf(t *testing.T, f *testbed.Fleet) string {
	t.Helper()
	data, err := os.ReadFile(f.KeyFile)
	require.NoError(t, err)
	return string(data)
}

// TestActionPlanStickyComment: a PR plan posts one comment and a
// nix-deploy/plan check run on the PR head; the next push edits the same
// comment instead of adding one.
func TestActionPlanStickyComment(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, planFile := startFleet(t, 1, nil)
	require.NoError(t, f.SetRelease("node1", "2"))
	gh := githubfake.New(t, githubfake.WithToken(testToken))
	pr := gh.AddPullRequest(testOwner, testRepo, githubfake.PullRequest{Number: 5, HeadSHA: headSHA, BaseSHA: baseSHA})
	gh.AddComment(testOwner, testRepo, pr, "reviewer", "looks good, waiting for the plan")

	planRun := func(head string) *runner {
		r := newRunner(t, gh, f.Dir, "pull_request", prPayload(pr, head)).inputs(
			"command", "plan", "plan-file", filepath.Base(planFile), "environment", "local",
			"diff-against", "target", "ssh-private-key", keyOf(t, f))
		require.Equal(t, 0, r.run(ctx))
		return r
	}

	r := planRun(headSHA)
	out := r.outputs()
	assert.Equal(t, filepath.Join(".nix-deploy", "local", "plan.json"), out["plan"])
	assert.Equal(t, `["node1"]`, out["changed-nodes"])
	assert.JSONEq(t, `{"include":[{"shard":"1","nodes":"node1"}]}`, out["matrix"])
	p, err := readPlanJSON(filepath.Join(f.Dir, out["plan"]))
	require.NoError(t, err)
	assert.Equal(t, plan.Changed, p.Nodes[0].Profiles[0].Status)
	assert.Contains(t, r.summary(), "| node1 | system | 🔄 changed |")
	assert.Contains(t, r.stdout, "::stop-commands::", "build output is printed as untrusted text")

	comments := gh.Comments(testOwner, testRepo, pr)
	require.Len(t, comments, 2)
	first := comments[1]
	marker := "<!-- nix-deploy:plan file=" + filepath.Base(planFile) + " env=local -->"
	assert.True(t, strings.HasPrefix(first.Body, marker), first.Body)
	assert.Contains(t, first.Body, "| node1 | system | 🔄 changed |")
	assert.Contains(t, first.Body, "Built from "+headSHA)
	assert.Contains(t, first.Body, "https://github.com/octo/fleet/actions/runs/4242")
	runs := gh.CheckRuns(testOwner, testRepo)
	require.Len(t, runs, 1)
	assert.Equal(t, "nix-deploy/plan", runs[0].Name)
	assert.Equal(t, headSHA, runs[0].HeadSHA, "on the PR head, not the merge commit")
	assert.Equal(t, "success", runs[0].Conclusion)

	// The next push: another release, a new head.
	require.NoError(t, f.SetRelease("node1", "3"))
	nextHead := "5555555555555555555555555555555555555555"
	planRun(nextHead)
	comments = gh.Comments(testOwner, testRepo, pr)
	require.Len(t, comments, 2, "the sticky comment is edited, not added")
	assert.Equal(t, first.ID, comments[1].ID)
	assert.Contains(t, comments[1].Body, "Built from "+nextHead)
	assert.Contains(t, comments[1].Body, "nixos-system-node1-3")
	runs = gh.CheckRuns(testOwner, testRepo)
	require.Len(t, runs, 2)
	assert.Equal(t, nextHead, runs[1].HeadSHA)
}

// TestActionDeployOneNodeBroken deploys two nodes on a push, node2's new
// system failing to activate; GitHub answers 502 now and then meanwhile.
// Each node gets its check run with the right conclusion, the job's
// deployment a failure status, the outputs say what happened, and the step
// fails.
func TestActionDeployOneNodeBroken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, planFile := startFleet(t, 2, func(s string) string {
		s = strings.Replace(s, "strategy: parallel", "strategy: parallel\n    on-failure: continue\n    url: https://fleet.example.com", 1)
		return s
	})
	require.NoError(t, f.SetRelease("node1", "2"))
	require.NoError(t, f.SetRelease("node2", "2"))
	require.NoError(t, f.SetBehaviour("node2", "fail"))
	gh := githubfake.New(t, githubfake.WithToken(testToken), githubfake.WithRetryAfter(0))
	dep := gh.AddDeployment(testOwner, testRepo, githubfake.Deployment{Ref: "main", SHA: pushSHA, Environment: "local"})
	gh.AddApproval(testRunID, githubfake.Approval{User: "lead", State: "approved", Environments: []string{"local"}})
	// Reporting hits server errors: one retried away, one that outlasts
	// every retry. Neither may stop or fail the deploy.
	gh.FailNext("POST", "/repos/{owner}/{repo}/check-runs", 502, 1)
	gh.FailNext("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}", 502, 10)

	r := newRunner(t, gh, f.Dir, "push", pushPayload()).inputs(
		"command", "deploy", "plan-file", filepath.Base(planFile), "environment", "local",
		"ssh-private-key", keyOf(t, f))
	code := r.run(ctx)
	assert.Equal(t, 3, code, "a rolled-back node fails the step (exit 3)")

	out := r.outputs()
	assert.Equal(t, `["node2"]`, out["rolled-back"])
	res, err := os.ReadFile(filepath.Join(f.Dir, out["result"]))
	require.NoError(t, err)
	result, err := deploy.ReadResult(res)
	require.NoError(t, err)
	outcomes := map[string]deploy.Outcome{}
	for _, n := range result.Nodes {
		outcomes[n.Name] = n.Outcome
	}
	assert.Equal(t, map[string]deploy.Outcome{"node1": deploy.Deployed, "node2": deploy.RolledBack}, outcomes)
	sys, err := f.Node("node1").CurrentSystem(ctx)
	require.NoError(t, err)
	assert.Contains(t, sys, "nixos-system-node1-2", "the deploy went on despite GitHub's errors")

	runs := map[string]githubfake.CheckRun{}
	for _, c := range gh.CheckRuns(testOwner, testRepo) {
		runs[c.Name] = c
	}
	require.Len(t, runs, 2)
	for name, c := range runs {
		assert.Equal(t, pushSHA, c.HeadSHA, name)
		assert.Equal(t, "in_progress", c.Status, "%s: its completion failed on every retry: a warning only", name)
	}
	assert.Contains(t, r.stdout, "::warning title=nix-deploy::could not complete the check run of node")

	var states []string
	for _, s := range gh.DeploymentStatuses(dep) {
		states = append(states, s.State)
		assert.Equal(t, "https://fleet.example.com", s.EnvironmentURL)
		assert.Equal(t, "https://github.com/octo/fleet/actions/runs/4242", s.LogURL)
	}
	assert.Equal(t, []string{"in_progress", "failure"}, states)
	assert.Len(t, gh.Deployments(), 1, "the job's deployment is used, none created")

	sum := r.summary()
	assert.Contains(t, sum, "Approved by @lead")
	assert.Contains(t, sum, "| node2 | system | ❌ rolled-back | activation-failed |")
	assert.Contains(t, r.stdout, "::group::node2: rolled-back (activation-failed)")
}

// TestActionDeployCheckRuns: without server errors, each node's check run
// goes in_progress → completed with its conclusion and a summary naming
// who approved, the timings and the rollback reason.
func TestActionDeployCheckRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, planFile := startFleet(t, 2, func(s string) string {
		return strings.Replace(s, "strategy: parallel", "strategy: parallel\n    on-failure: continue", 1)
	})
	require.NoError(t, f.SetRelease("node1", "2"))
	require.NoError(t, f.SetRelease("node2", "2"))
	require.NoError(t, f.SetBehaviour("node2", "fail"))
	gh := githubfake.New(t, githubfake.WithToken(testToken))
	gh.AddApproval(testRunID, githubfake.Approval{User: "lead", State: "approved", Environments: []string{"local"}})

	r := newRunner(t, gh, f.Dir, "push", pushPayload()).inputs(
		"command", "deploy", "plan-file", filepath.Base(planFile), "environment", "local",
		"ssh-private-key", keyOf(t, f))
	assert.Equal(t, 3, r.run(ctx))

	runs := map[string]githubfake.CheckRun{}
	for _, c := range gh.CheckRuns(testOwner, testRepo) {
		runs[c.Name] = c
	}
	require.Len(t, runs, 2)
	good, bad := runs["nix-deploy/local/node1"], runs["nix-deploy/local/node2"]
	assert.Equal(t, "completed", good.Status)
	assert.Equal(t, "success", good.Conclusion)
	assert.Equal(t, "completed", bad.Status)
	assert.Equal(t, "failure", bad.Conclusion)
	assert.Equal(t, "Rolled-back (activation-failed)", bad.Output.Title)
	for _, c := range []githubfake.CheckRun{good, bad} {
		assert.NotEmpty(t, c.StartedAt)
		assert.Contains(t, c.Output.Summary, "Approved by @lead")
		assert.Contains(t, c.Output.Summary, "| activate |")
	}
	assert.Contains(t, bad.Output.Summary, "Rolled back because the activation failed")
	assert.Empty(t, gh.Deployments(), "no deployment for the job: none is created")
}

// TestActionDeployStatusFallback: where check runs are refused (a
// personal access token), each node's result becomes a commit status.
func TestActionDeployStatusFallback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, planFile := startFleet(t, 2, func(s string) string {
		return strings.Replace(s, "strategy: parallel", "strategy: parallel\n    on-failure: continue", 1)
	})
	require.NoError(t, f.SetRelease("node1", "2"))
	require.NoError(t, f.SetRelease("node2", "2"))
	require.NoError(t, f.SetBehaviour("node2", "fail"))
	gh := githubfake.New(t, githubfake.WithToken(testToken), githubfake.WithoutCheckRuns())

	r := newRunner(t, gh, f.Dir, "push", pushPayload()).inputs(
		"command", "deploy", "plan-file", filepath.Base(planFile), "environment", "local",
		"ssh-private-key", keyOf(t, f))
	assert.Equal(t, 3, r.run(ctx), "a reporting fallback never changes the deploy's outcome")

	assert.Empty(t, gh.CheckRuns(testOwner, testRepo))
	final := map[string]string{}
	for _, st := range gh.Statuses(testOwner, testRepo, pushSHA) {
		final[st.Context] = st.State // in creation order: the last one wins
	}
	assert.Equal(t, map[string]string{
		"nix-deploy/local/node1": "success",
		"nix-deploy/local/node2": "failure",
	}, final)
}

// TestActionScheduledDeploy is the nightly staging job: a schedule event
// has no pull request, so the plan posts no comment (its diff is in the
// job summary and the plan output for the PR the workflow opens), and the
// deploy reports a check run per node on the scheduled commit.
func TestActionScheduledDeploy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, planFile := startFleet(t, 1, nil)
	require.NoError(t, f.SetRelease("node1", "2"))
	gh := githubfake.New(t, githubfake.WithToken(testToken))
	schedule := map[string]any{"schedule": "0 3 * * *"}

	r := newRunner(t, gh, f.Dir, "schedule", schedule).inputs(
		"command", "plan", "plan-file", filepath.Base(planFile), "environment", "local",
		"diff-against", "target", "ssh-private-key", keyOf(t, f))
	require.Equal(t, 0, r.run(ctx))
	assert.Contains(t, r.summary(), "| node1 | system | 🔄 changed |")
	assert.Equal(t, `["node1"]`, r.outputs()["changed-nodes"])
	for _, req := range gh.Requests() {
		assert.NotContains(t, req.Path, "/comments", "no pull request: no comment")
	}

	r = newRunner(t, gh, f.Dir, "schedule", schedule).inputs(
		"command", "deploy", "plan-file", filepath.Base(planFile), "environment", "local",
		"ssh-private-key", keyOf(t, f))
	require.Equal(t, 0, r.run(ctx))
	cur, err := f.Node("node1").CurrentSystem(ctx)
	require.NoError(t, err)
	assert.Contains(t, cur, "-nixos-system-node1-2")
	var deployRuns []githubfake.CheckRun
	for _, c := range gh.CheckRuns(testOwner, testRepo) {
		if c.Name == "nix-deploy/local/node1" {
			deployRuns = append(deployRuns, c)
		}
	}
	require.Len(t, deployRuns, 1)
	assert.Equal(t, pushSHA, deployRuns[0].HeadSHA)
	assert.Equal(t, "success", deployRuns[0].Conclusion)
}

// TestActionRollback: the break-glass rollback reports like a deploy: a
// check run per node, the result output, who approved.
func TestActionRollback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, planFile := startFleet(t, 1, nil)
	first, err := f.Node("node1").CurrentSystem(ctx)
	require.NoError(t, err)
	require.NoError(t, f.SetRelease("node1", "2"))
	gh := githubfake.New(t, githubfake.WithToken(testToken))
	gh.AddApproval(testRunID, githubfake.Approval{User: "oncall", State: "approved", Environments: []string{"local"}})

	r := newRunner(t, gh, f.Dir, "push", pushPayload()).inputs(
		"command", "deploy", "plan-file", filepath.Base(planFile), "environment", "local",
		"ssh-private-key", keyOf(t, f))
	require.Equal(t, 0, r.run(ctx))
	second, err := f.Node("node1").CurrentSystem(ctx)
	require.NoError(t, err)
	require.NotEqual(t, first, second)

	r = newRunner(t, gh, f.Dir, "workflow_dispatch", map[string]any{"inputs": map[string]any{"command": "rollback"}}).inputs(
		"command", "rollback", "plan-file", filepath.Base(planFile), "environment", "local", "nodes", "node1",
		"ssh-private-key", keyOf(t, f))
	require.Equal(t, 0, r.run(ctx))
	cur, err := f.Node("node1").CurrentSystem(ctx)
	require.NoError(t, err)
	assert.Equal(t, first, cur, "back on the first generation's system")
	assert.NotEmpty(t, r.outputs()["result"])

	var runs []githubfake.CheckRun
	for _, c := range gh.CheckRuns(testOwner, testRepo) {
		if c.Name == "nix-deploy/local/node1" {
			runs = append(runs, c)
		}
	}
	require.Len(t, runs, 2, "one check run for the deploy, one for the rollback")
	for _, c := range runs {
		assert.Equal(t, "success", c.Conclusion)
		assert.Contains(t, c.Output.Summary, "Approved by @oncall")
	}
}

// TestActionCommentApproval waits for /approve or /deny: an approval from
// a user with write permission deploys (a command from a reader is
// ignored); a denial on the issue opened for a push deploys nothing; so
// does a timeout. Denial and timeout fail the step.
func TestActionCommentApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, planFile := startFleet(t, 1, nil)
	node := f.Node("node1")
	gh := githubfake.New(t, githubfake.WithToken(testToken))
	gh.SetPermission("maintainer", "maintain")
	gh.SetPermission("reader", "read")
	gh.SetPermission("author", "admin")
	pr := gh.AddPullRequest(testOwner, testRepo, githubfake.PullRequest{Number: 9, HeadSHA: headSHA, BaseSHA: baseSHA})

	deployRun := func(event string, payload any, timeout string) *runner {
		return newRunner(t, gh, f.Dir, event, payload).inputs(
			"command", "deploy", "plan-file", filepath.Base(planFile), "environment", "local",
			"ssh-private-key", keyOf(t, f), "approval", "comment", "approval-timeout", timeout)
	}
	// answer waits for the approval request on issue and replies.
	answer := func(issue func() int, replies ...[2]string) func() {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 600 {
				if n := issue(); n > 0 {
					for _, c := range gh.Comments(testOwner, testRepo, n) {
						if c.User == githubfake.DefaultActor && strings.Contains(c.Body, "/approve") {
							for _, rp := range replies {
								gh.AddComment(testOwner, testRepo, n, rp[0], rp[1])
							}
							return
						}
					}
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Error("no approval request was posted")
		}()
		return wg.Wait
	}
	approvalIssue := func() int {
		for _, is := range gh.Issues(testOwner, testRepo) {
			if !is.PullRequest && strings.Contains(is.Title, "approve") && is.State == "open" {
				return is.Number
			}
		}
		return 0
	}

	t.Run("approve", func(t *testing.T) {
		require.NoError(t, f.SetRelease("node1", "2"))
		wait := answer(func() int { return pr },
			[2]string{"reader", "/approve"},
			[2]string{"author", "/approve"},
			[2]string{"maintainer", "/approve looks right"})
		r := deployRun("pull_request", prPayload(pr, headSHA), "1m")
		code := r.run(ctx)
		wait()
		require.Equal(t, 0, code)
		sys, err := node.CurrentSystem(ctx)
		require.NoError(t, err)
		assert.Contains(t, sys, "nixos-system-node1-2")
		comments := gh.Comments(testOwner, testRepo, pr)
		assert.Contains(t, comments[len(comments)-1].Body, "Approved by @maintainer")
		assert.Contains(t, r.summary(), "Approved by @maintainer")
		assert.Contains(t, r.stdout, "ignoring a command from a user who may not approve user=reader")
		assert.Contains(t, r.stdout, "ignoring a command from a user who may not approve user=author", "the run's actor may not approve it")
	})

	t.Run("deny", func(t *testing.T) {
		require.NoError(t, f.SetRelease("node1", "3"))
		before, err := node.CurrentSystem(ctx)
		require.NoError(t, err)
		wait := answer(approvalIssue, [2]string{"maintainer", "/deny not today"})
		r := deployRun("push", pushPayload(), "1m")
		code := r.run(ctx)
		wait()
		assert.Equal(t, 1, code)
		assert.Contains(t, r.stdout, "denied by maintainer")
		after, err := node.CurrentSystem(ctx)
		require.NoError(t, err)
		assert.Equal(t, before, after, "nothing deployed")
		var opened *githubfake.Issue
		for _, is := range gh.Issues(testOwner, testRepo) {
			if !is.PullRequest {
				opened = &is
			}
		}
		require.NotNil(t, opened, "an issue is opened when there is no pull request")
		assert.Equal(t, "closed", opened.State)
		assert.Contains(t, opened.Body, "node1")
	})

	t.Run("timeout", func(t *testing.T) {
		before, err := node.CurrentSystem(ctx)
		require.NoError(t, err)
		r := deployRun("pull_request", prPayload(pr, headSHA), "1s")
		assert.Equal(t, 1, r.run(ctx))
		assert.Contains(t, r.stdout, "nobody approved the deploy in time")
		after, err := node.CurrentSystem(ctx)
		require.NoError(t, err)
		assert.Equal(t, before, after, "nothing deployed")
		comments := gh.Comments(testOwner, testRepo, pr)
		assert.Contains(t, comments[len(comments)-1].Body, "Nobody approved within 1s")
	})
}
