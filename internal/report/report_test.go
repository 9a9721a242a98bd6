package report

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
	"github.com/nix-deploy-action/nix-deploy-action/internal/deploy"
	"github.com/nix-deploy-action/nix-deploy-action/internal/plan"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(file, []byte(got), 0o644))
	}
	want, err := os.ReadFile(file)
	require.NoError(t, err, "run with -update to create it")
	assert.Equal(t, string(want), got)
}

var run = Run{HeadSHA: "1111111111111111111111111111111111111111", SHA: "2222222222222222222222222222222222222222", RunID: 42, RunURL: "https://github.com/o/r/actions/runs/42"}

func sec(s float64) deploy.Duration { return deploy.Duration(s * float64(time.Second)) }

// result is a deploy with one node of each kind of ending.
func result() *deploy.Result {
	return &deploy.Result{
		Version: deploy.ResultVersion, ID: "nd-1", Environment: "production", Mode: "switch", ExitCode: 3,
		Nodes: []*deploy.NodeResult{
			{Name: "web1", Host: "web1.example.com", Outcome: deploy.Deployed, Duration: sec(12.3),
				Profiles: []*deploy.ProfileResult{{Name: "system", Path: "/nix/store/aaa-nixos-system-web1-2", Outcome: deploy.Deployed, Generation: 2}},
				Steps: []deploy.StepTiming{
					{Step: deploy.StepConnect, Duration: sec(0.2)}, {Step: deploy.StepTransfer, Profile: "system", Duration: sec(8)},
					{Step: deploy.StepActivate, Profile: "system", Duration: sec(3)}, {Step: deploy.StepConfirm, Profile: "system", Duration: sec(1.1)},
				}},
			{Name: "web2", Host: "web2.example.com", Outcome: deploy.RolledBack, Reason: deploy.ReasonActivationFailed, Duration: sec(4),
				Error: "activation failed: exit 1\n```\n::set-output name=x::pwned",
				Profiles: []*deploy.ProfileResult{{Name: "system", Path: "/nix/store/bbb-nixos-system-web2-2", Outcome: deploy.RolledBack, Reason: deploy.ReasonActivationFailed,
					Log: []string{"starting units", "nginx.service failed <script>"}}}},
			{Name: "db1", Host: "db1.example.com", Outcome: deploy.Skipped,
				Profiles: []*deploy.ProfileResult{{Name: "system", Outcome: deploy.Skipped}}},
		},
	}
}

func TestNodeSummaryGolden(t *testing.T) {
	res := result()
	for _, n := range res.Nodes {
		t.Run(n.Name, func(t *testing.T) {
			got := NodeSummary(NodeDeploy{Env: "production", Result: n, ApprovedBy: []string{"lead"}, Run: run})
			golden(t, "node-"+n.Name+".md", got)
		})
	}
	got := NodeSummary(NodeDeploy{Env: "production", Result: res.Nodes[1]})
	assert.Contains(t, got, "````\nactivation failed: exit 1\n```\n::set-output name=x::pwned\n````\n",
		"an error holding a fence stays inside a longer one")
}

func TestDeploySummaryGolden(t *testing.T) {
	golden(t, "deploy-summary.md", DeploySummary(result(), []string{"lead", "ops"}, run))
}

func TestNodeCheckLimits(t *testing.T) {
	n := result().Nodes[1]
	n.Error = strings.Repeat("é error line\n", 20000)
	c := NodeFinishedCheck(NodeDeploy{Env: "production", Result: n, Run: run}, time.Unix(0, 0))
	assert.LessOrEqual(t, len(c.Summary), SummaryLimit)
	assert.True(t, strings.HasSuffix(c.Summary, cutNote))
	assert.Equal(t, Failure, c.Conclusion)
	assert.Equal(t, "nix-deploy/production/web2", c.Name)
}

func TestNodeConclusion(t *testing.T) {
	tests := []struct {
		outcome deploy.Outcome
		want    Conclusion
		state   string
	}{
		{deploy.Deployed, Success, "success"},
		{deploy.DryActivated, Success, "success"},
		{deploy.Unchanged, Success, "success"},
		{deploy.RolledBack, Failure, "failure"},
		{deploy.RollbackFailed, Failure, "failure"},
		{deploy.Unreachable, Failure, "failure"},
		{deploy.Failed, Failure, "failure"},
		{deploy.Skipped, Skipped, "error"},
		{deploy.Cancelled, Cancelled, "error"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, NodeConclusion(tt.outcome), tt.outcome)
		assert.Equal(t, tt.state, NodeState(tt.outcome), tt.outcome)
	}
}

func TestMarker(t *testing.T) {
	tests := []struct{ file, env, want string }{
		{"nix-deploy.yml", "production", "<!-- nix-deploy:plan file=nix-deploy.yml env=production -->"},
		{"deploy/plan.yml", "staging", "<!-- nix-deploy:plan file=deploy/plan.yml env=staging -->"},
		{"a b-->c.yml", "x", "<!-- nix-deploy:plan file=a%20b--%3Ec.yml env=x -->"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Marker(tt.file, tt.env))
	}
	assert.NotEqual(t, Marker("a", "b c"), Marker("a env=b", "c"), "values cannot forge another marker")
}

func TestPlanMatrix(t *testing.T) {
	p := &plan.Plan{Nodes: []*plan.Node{
		{Name: "web1", Profiles: []*plan.Profile{{Status: plan.Changed}}},
		{Name: "web2", Profiles: []*plan.Profile{{Status: plan.Unchanged}}},
		{Name: "web3", Profiles: []*plan.Profile{{Status: plan.New}}},
		{Name: "db1", Profiles: []*plan.Profile{{Status: plan.Changed}}},
	}}
	tests := []struct {
		name string
		env  *config.Environment
		want []Shard
	}{
		{"parallel", &config.Environment{Strategy: config.Parallel}, []Shard{{"1", "web1"}, {"2", "web3"}, {"3", "db1"}}},
		{"canary", &config.Environment{Strategy: config.Canary, Canary: 2}, []Shard{{"1", "web1,web3"}, {"2", "db1"}}},
		{"no environment", nil, []Shard{{"1", "web1"}, {"2", "web3"}, {"3", "db1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, PlanMatrix(p, tt.env).Include)
		})
	}
	assert.Equal(t, []Shard{}, PlanMatrix(&plan.Plan{}, nil).Include, "nothing changed: an empty include, never null")
}

func TestPlanErrorsCheck(t *testing.T) {
	errs := config.Errors{
		{File: "/ws/nix-deploy.yml", Line: 3, Column: 5, Field: "nodes.web1.port", Msg: "not a number"},
		{File: "/ws/nix-deploy.yml", Line: 9, Field: "environments.prod", Msg: "unknown tag @db"},
		{Msg: "no environments"},
	}
	c := PlanErrorsCheck(errs, func(p string) string { return strings.TrimPrefix(p, "/ws/") }, run, time.Unix(0, 0))
	assert.Equal(t, Failure, c.Conclusion)
	assert.Equal(t, []Annotation{
		{Path: "nix-deploy.yml", StartLine: 3, EndLine: 3, StartColumn: 5, EndColumn: 5, Level: LevelFailure, Title: "invalid deploy plan", Message: "nodes.web1.port: not a number"},
		{Path: "nix-deploy.yml", StartLine: 9, EndLine: 9, Level: LevelFailure, Title: "invalid deploy plan", Message: "environments.prod: unknown tag @db"},
	}, c.Annotations)
	assert.Contains(t, c.Summary, "3 problem(s)")
}

// stubAPI records calls and refuses check runs, as GitHub does for a
// personal access token.
type stubAPI struct {
	API
	mu       sync.Mutex
	refuse   bool
	calls    []string
	statuses []CommitStatus
}

func (s *stubAPI) record(f string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, fmt.Sprintf(f, args...))
}

func (s *stubAPI) CreateCheckRun(_ context.Context, c CheckRun) (int64, error) {
	s.record("create %s %s %s", c.Name, c.Status, c.Conclusion)
	if s.refuse {
		return 0, fmt.Errorf("create check run: %w: Resource not accessible by personal access token", ErrNotPermitted)
	}
	return int64(len(s.calls)), nil
}

func (s *stubAPI) UpdateCheckRun(_ context.Context, id int64, c CheckRun) error {
	s.record("update %d %s %s", id, c.Status, c.Conclusion)
	return nil
}

func (s *stubAPI) CreateStatus(_ context.Context, sha string, st CommitStatus) error {
	s.record("status %s %s %s", sha[:4], st.Context, st.State)
	return nil
}

func (s *stubAPI) FindDeployment(context.Context, string, string) (int64, bool, error) {
	return 0, false, errors.New("502 Bad Gateway")
}

func events() []deploy.Event {
	res := result()
	return []deploy.Event{
		{Kind: deploy.NodeStarted, Node: "web1"},
		{Kind: deploy.StepStarted, Node: "web1", Step: deploy.StepConnect},
		{Kind: deploy.NodeFinished, Node: "db1", Result: res.Nodes[2]},
		{Kind: deploy.NodeFinished, Node: "web1", Result: res.Nodes[0]},
	}
}

func TestDeployPublishes(t *testing.T) {
	tests := []struct {
		name   string
		refuse bool
		want   []string
	}{
		{"check runs", false, []string{
			"create nix-deploy/prod/web1 in_progress ",
			"create nix-deploy/prod/db1 completed skipped",
			"update 1 completed success",
		}},
		{"statuses when check runs are refused", true, []string{
			"create nix-deploy/prod/web1 in_progress ",
			"status 1111 nix-deploy/prod/web1 pending",
			"status 1111 nix-deploy/prod/db1 error",
			"status 1111 nix-deploy/prod/web1 success",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &stubAPI{refuse: tt.refuse}
			var logs strings.Builder
			d := &Deploy{API: api, Warn: slog.New(slog.NewTextHandler(&logs, nil)), Env: "prod", Run: run, Checks: true}
			d.Start(context.Background())
			for _, e := range events() {
				d.Event(e)
			}
			d.Finish(result())
			assert.Equal(t, tt.want, api.calls)
			assert.Contains(t, logs.String(), "could not find the job's deployment", "a reporting failure is a warning")
		})
	}
}
