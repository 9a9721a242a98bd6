package github_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v60/github"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
	"github.com/nix-deploy-action/nix-deploy-action/internal/github"
	"github.com/nix-deploy-action/nix-deploy-action/internal/githubfake"
	"github.com/nix-deploy-action/nix-deploy-action/internal/plan"
	"github.com/nix-deploy-action/nix-deploy-action/internal/report"
)

// These tests run the adapter (and the report core over it) against the
// fake GitHub, which fails them on any request GitHub would refuse.

func newClient(t *testing.T, fake *githubfake.Server, apiPath string) *github.Client {
	t.Helper()
	c, err := github.New(github.Options{APIURL: fake.URL() + apiPath, Token: "ghs_x", Repository: "o/r", Retry: github.Retry{Backoff: time.Millisecond}})
	require.NoError(t, err)
	return c
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		o   github.Options
		err string
	}{
		{github.Options{APIURL: "https://api.github.com", Token: "t", Repository: "noslash"}, `repository "noslash" is not owner/name`},
		{github.Options{APIURL: "https://api.github.com", Token: "t", Repository: "a/b/c"}, `repository "a/b/c" is not owner/name`},
		{github.Options{APIURL: "https://api.github.com", Repository: "a/b"}, "no GitHub token"},
		{github.Options{APIURL: "ftp://x", Token: "t", Repository: "a/b"}, `GitHub API URL "ftp://x" is not an http(s) URL`},
	}
	for _, tt := range tests {
		_, err := github.New(tt.o)
		assert.EqualError(t, err, tt.err)
	}
}

// TestStickyComment: the plan comment is created once, then edited in place
// (on GitHub.com and Enterprise Server paths alike); a user's comment that
// quotes the marker is not taken for ours when ours exists.
func TestStickyComment(t *testing.T) {
	for _, apiPath := range []string{"", "/api/v3"} {
		t.Run("api"+apiPath, func(t *testing.T) {
			ctx := context.Background()
			fake := githubfake.New(t)
			pr := fake.AddPullRequest("o", "r", githubfake.PullRequest{Number: 4})
			for i := range 120 { // more than a page
				fake.AddComment("o", "r", pr, "someone", fmt.Sprintf("comment %d", i))
			}
			c := newClient(t, fake, apiPath)
			marker := report.Marker("nix-deploy.yml", "prod")

			first, written, err := report.UpsertComment(ctx, c, pr, marker, marker+"\nv1", true)
			require.NoError(t, err)
			assert.True(t, written)
			fake.AddComment("o", "r", pr, "someone", marker+"\nquoted by a user")
			second, written, err := report.UpsertComment(ctx, c, pr, marker, marker+"\nv2", true)
			require.NoError(t, err)
			assert.True(t, written)
			assert.Equal(t, first.ID, second.ID)
			_, written, err = report.UpsertComment(ctx, c, pr, marker, marker+"\nv2", true)
			require.NoError(t, err)
			assert.False(t, written, "an unchanged body is not sent again")

			all := fake.Comments("o", "r", pr)
			require.Len(t, all, 122)
			assert.Equal(t, marker+"\nv2", all[120].Body)

			other := report.Marker("nix-deploy.yml", "staging")
			_, written, err = report.UpsertComment(ctx, c, pr, other, other+"\nnothing changes", false)
			require.NoError(t, err)
			assert.False(t, written, "auto mode does not start a comment when nothing changes")
		})
	}
}

// TestPlanCheckAnnotations: 120 plan errors go out as one check run
// created with 50 annotations and two updates adding the rest.
func TestPlanCheckAnnotations(t *testing.T) {
	fake := githubfake.New(t)
	c := newClient(t, fake, "")
	var errs config.Errors
	for i := range 120 {
		errs = append(errs, &config.Error{File: "nix-deploy.yml", Line: i + 1, Column: 3, Msg: "bad"})
	}
	run := report.Run{HeadSHA: strings.Repeat("a", 40), RunURL: "https://github.com/o/r/actions/runs/1"}
	pub := &report.Plan{API: c, Warn: slog.New(slog.DiscardHandler), Run: run, Checks: true}
	pub.PublishCheck(context.Background(), report.PlanErrorsCheck(errs, func(s string) string { return s }, run, time.Now()))
	runs := fake.CheckRuns("o", "r")
	require.Len(t, runs, 1)
	assert.Equal(t, "failure", runs[0].Conclusion)
	assert.Len(t, runs[0].Output.Annotations, 120)
	assert.Equal(t, 2, runs[0].Updates)
}

// TestPlanCheckAndComment publishes a plan on a pull request.
func TestPlanCheckAndComment(t *testing.T) {
	fake := githubfake.New(t)
	pr := fake.AddPullRequest("o", "r", githubfake.PullRequest{Number: 8})
	c := newClient(t, fake, "")
	run := report.Run{HeadSHA: strings.Repeat("b", 40), RunURL: "https://github.com/o/r/actions/runs/1"}
	p := &plan.Plan{PlanFile: "nix-deploy.yml", Environment: "prod", Nodes: []*plan.Node{
		{Name: "web1", Profiles: []*plan.Profile{{Name: "system", Status: plan.Failed, Error: "builder failed\n::error::x"}}},
	}}
	pub := &report.Plan{API: c, Warn: slog.New(slog.DiscardHandler), Run: run, PR: pr, Comment: report.CommentAuto, Checks: true}
	url := pub.Publish(context.Background(), p)
	assert.Contains(t, url, "/issues/8#issuecomment-")
	runs := fake.CheckRuns("o", "r")
	require.Len(t, runs, 1)
	assert.Equal(t, "failure", runs[0].Conclusion)
	assert.Equal(t, run.HeadSHA, runs[0].HeadSHA)
	require.Len(t, fake.Comments("o", "r", pr), 1)
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name   string
		status int
		times  int
		ok     bool
	}{
		{"502 once", http.StatusBadGateway, 1, true},
		{"503 three times", http.StatusServiceUnavailable, 3, true},
		{"secondary rate limit (403, Retry-After)", http.StatusForbidden, 2, true},
		{"429 with Retry-After", http.StatusTooManyRequests, 1, true},
		{"502 on every try", http.StatusBadGateway, 4, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := githubfake.New(t, githubfake.WithRetryAfter(0))
			c := newClient(t, fake, "")
			fake.FailNext("POST", "/repos/{owner}/{repo}/statuses/{sha}", tt.status, tt.times)
			err := c.CreateStatus(context.Background(), strings.Repeat("c", 40), report.CommitStatus{Context: "nix-deploy/prod/web1", State: "success"})
			if tt.ok {
				require.NoError(t, err)
				assert.Len(t, fake.Statuses("o", "r", strings.Repeat("c", 40)), 1)
			} else {
				require.Error(t, err)
				assert.False(t, errors.Is(err, report.ErrNotPermitted))
			}
		})
	}
}

func TestRetryAfterTooLong(t *testing.T) {
	fake := githubfake.New(t, githubfake.WithRetryAfter(3600))
	c, err := github.New(github.Options{APIURL: fake.URL(), Token: "t", Repository: "o/r", Retry: github.Retry{MaxWait: time.Second}})
	require.NoError(t, err)
	fake.FailNext("", "/repos/{owner}/{repo}/statuses/{sha}", http.StatusTooManyRequests, 1)
	err = c.CreateStatus(context.Background(), strings.Repeat("c", 40), report.CommitStatus{Context: "x", State: "success"})
	require.Error(t, err, "a rate limit asking for an hour fails at once instead of holding the deploy")
}

func TestDeploymentAndApprovals(t *testing.T) {
	ctx := context.Background()
	fake := githubfake.New(t)
	sha := strings.Repeat("d", 40)
	fake.AddDeployment("o", "r", githubfake.Deployment{Ref: "main", SHA: sha, Environment: "staging"})
	want := fake.AddDeployment("o", "r", githubfake.Deployment{Ref: "main", SHA: sha, Environment: "prod"})
	fake.AddApproval(9, githubfake.Approval{User: "lead", State: "approved", Environments: []string{"prod"}})
	fake.AddApproval(9, githubfake.Approval{User: "grump", State: "rejected", Environments: []string{"prod"}})
	c := newClient(t, fake, "")

	id, found, err := c.FindDeployment(ctx, sha, "prod")
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, want, id)
	_, found, err = c.FindDeployment(ctx, sha, "dev")
	require.NoError(t, err)
	assert.False(t, found)
	require.NoError(t, c.CreateDeploymentStatus(ctx, id, report.DeploymentStatus{State: "in_progress", LogURL: "https://github.com/o/r/actions/runs/9"}))
	sts := fake.DeploymentStatuses(id)
	require.Len(t, sts, 1)
	assert.Equal(t, "in_progress", sts[0].State)

	by, err := report.ApprovedBy(ctx, c, 9)
	require.NoError(t, err)
	assert.Equal(t, []string{"lead"}, by)
}

func TestPermission(t *testing.T) {
	fake := githubfake.New(t)
	fake.SetPermission("m", "maintain")
	fake.SetPermission("tr", "triage")
	c := newClient(t, fake, "")
	for user, want := range map[string]string{"m": "write", "tr": "read", "nobody": "none"} {
		got, err := c.Permission(context.Background(), user)
		require.NoError(t, err)
		assert.Equal(t, want, got, user)
	}
}

// TestNotPermitted: GitHub's answer to a token without the right (a
// personal access token creating a check run) is marked so callers fall
// back to commit statuses. The fake has no such token, so the error is
// built as go-github returns it.
func TestNotPermitted(t *testing.T) {
	resp := &http.Response{StatusCode: http.StatusForbidden, Request: &http.Request{Method: "POST"}}
	refused := &gh.ErrorResponse{Response: resp, Message: "Resource not accessible by personal access token"}
	assert.True(t, errors.Is(github.APIError("create check run", refused), report.ErrNotPermitted))
	other := &gh.ErrorResponse{Response: &http.Response{StatusCode: http.StatusNotFound, Request: resp.Request}, Message: "Not Found"}
	assert.False(t, errors.Is(github.APIError("create check run", other), report.ErrNotPermitted))
	assert.False(t, errors.Is(github.APIError("create check run", &gh.AbuseRateLimitError{Response: resp}), report.ErrNotPermitted))
}
