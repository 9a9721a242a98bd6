package githubfake_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-github/v60/github"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/githubfake"
)

const (
	owner = "acme"
	repo  = "fleet"
	sha   = "0123456789abcdef0123456789abcdef01234567"
)

// recorder stands in for the test when a case expects the fake to report a
// violation: it keeps the reports instead of failing.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) reports() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.errs, "\n")
}

func client(t testing.TB, s *githubfake.Server) *github.Client {
	t.Helper()
	c, err := github.NewClient(nil).WithAuthToken("ghs_test").WithEnterpriseURLs(s.URL(), s.URL())
	require.NoError(t, err)
	return c
}

// TestValidCallsPass drives every implemented endpoint with the client our
// code uses; the fake fails the test on any request or response GitHub's
// description rejects, so passing is the assertion.
func TestValidCallsPass(t *testing.T) {
	ctx := context.Background()
	s := githubfake.New(t)
	gh := client(t, s)
	pr := s.AddPullRequest(owner, repo, githubfake.PullRequest{HeadRef: "feature", HeadSHA: sha, BaseRef: "main", BaseSHA: strings.Repeat("b", 40)})

	t.Run("comments", func(t *testing.T) {
		c, _, err := gh.Issues.CreateComment(ctx, owner, repo, pr, &github.IssueComment{Body: github.String("plan <!-- nix-deploy -->")})
		require.NoError(t, err)
		assert.Equal(t, githubfake.DefaultActor, c.GetUser().GetLogin())
		_, _, err = gh.Issues.EditComment(ctx, owner, repo, c.GetID(), &github.IssueComment{Body: github.String("plan v2 <!-- nix-deploy -->")})
		require.NoError(t, err)
		s.AddComment(owner, repo, pr, "alice", "/approve")
		got, _, err := gh.Issues.ListComments(ctx, owner, repo, pr, nil)
		require.NoError(t, err)
		require.Len(t, got, 2)
		assert.Equal(t, "plan v2 <!-- nix-deploy -->", got[0].GetBody())
		assert.Equal(t, "alice", got[1].GetUser().GetLogin())
		since := s.Comments(owner, repo, pr)[1].UpdatedAt
		got, _, err = gh.Issues.ListComments(ctx, owner, repo, pr, &github.IssueListCommentsOptions{Since: &since})
		require.NoError(t, err)
		require.Len(t, got, 1, "since keeps comments updated at or after it")
		assert.Equal(t, "/approve", got[0].GetBody())
		_, err = gh.Issues.DeleteComment(ctx, owner, repo, c.GetID())
		require.NoError(t, err)
		assert.Len(t, s.Comments(owner, repo, pr), 1)
	})

	t.Run("issues and pulls", func(t *testing.T) {
		is, _, err := gh.Issues.Create(ctx, owner, repo, &github.IssueRequest{Title: github.String("Approve deploy"), Body: github.String("reply /approve"), Labels: &[]string{"deploy"}})
		require.NoError(t, err)
		assert.Equal(t, pr+1, is.GetNumber())
		_, _, err = gh.Issues.Edit(ctx, owner, repo, is.GetNumber(), &github.IssueRequest{State: github.String("closed")})
		require.NoError(t, err)
		assert.Equal(t, "closed", s.Issues(owner, repo)[1].State)

		got, _, err := gh.PullRequests.Get(ctx, owner, repo, pr)
		require.NoError(t, err)
		assert.Equal(t, sha, got.GetHead().GetSHA())
		assert.Equal(t, "main", got.GetBase().GetRef())

		nw, _, err := gh.PullRequests.Create(ctx, owner, repo, &github.NewPullRequest{Title: github.String("flake.lock: update"), Head: github.String("update-lock"), Base: github.String("main"), Body: github.String("diff")})
		require.NoError(t, err)
		list, _, err := gh.PullRequests.List(ctx, owner, repo, &github.PullRequestListOptions{Head: owner + ":update-lock", Base: "main"})
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, nw.GetNumber(), list[0].GetNumber())
		_, _, err = gh.PullRequests.Edit(ctx, owner, repo, nw.GetNumber(), &github.PullRequest{Body: github.String("new diff")})
		require.NoError(t, err)
	})

	t.Run("check runs", func(t *testing.T) {
		run, _, err := gh.Checks.CreateCheckRun(ctx, owner, repo, github.CreateCheckRunOptions{
			Name: "nix-deploy/production/web1", HeadSHA: sha, Status: github.String("in_progress"),
		})
		require.NoError(t, err)
		anns := make([]*github.CheckRunAnnotation, 50)
		for i := range anns {
			anns[i] = &github.CheckRunAnnotation{Path: github.String("deploy.yaml"), StartLine: github.Int(i + 1), EndLine: github.Int(i + 1), AnnotationLevel: github.String("failure"), Message: github.String("bad")}
		}
		for range 2 {
			_, _, err = gh.Checks.UpdateCheckRun(ctx, owner, repo, run.GetID(), github.UpdateCheckRunOptions{
				Name:       "nix-deploy/production/web1",
				Conclusion: github.String("failure"),
				Output:     &github.CheckRunOutput{Title: github.String("rolled back"), Summary: github.String(strings.Repeat("x", 65535)), Annotations: anns},
			})
			require.NoError(t, err)
		}
		got := s.CheckRuns(owner, repo)
		require.Len(t, got, 1)
		assert.Equal(t, "completed", got[0].Status)
		assert.Equal(t, "failure", got[0].Conclusion)
		assert.Len(t, got[0].Output.Annotations, 100, "annotations append across updates")

		list, _, err := gh.Checks.ListCheckRunsForRef(ctx, owner, repo, sha, &github.ListCheckRunsOptions{CheckName: github.String("nix-deploy/production/web1")})
		require.NoError(t, err)
		assert.Equal(t, 1, list.GetTotal())
	})

	t.Run("commit statuses", func(t *testing.T) {
		_, _, err := gh.Repositories.CreateStatus(ctx, owner, repo, sha, &github.RepoStatus{State: github.String("success"), Context: github.String("nix-deploy/production/web1"), Description: github.String("deployed")})
		require.NoError(t, err)
		got, _, err := gh.Repositories.ListStatuses(ctx, owner, repo, sha, nil)
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.Len(t, s.Statuses(owner, repo, sha), 1)
	})

	t.Run("deployments", func(t *testing.T) {
		job := s.AddDeployment(owner, repo, githubfake.Deployment{Ref: "main", SHA: sha, Environment: "production"})
		list, _, err := gh.Repositories.ListDeployments(ctx, owner, repo, &github.DeploymentsListOptions{SHA: sha, Environment: "production"})
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, job, list[0].GetID())
		for _, state := range []string{"in_progress", "success"} {
			_, _, err = gh.Repositories.CreateDeploymentStatus(ctx, owner, repo, job, &github.DeploymentStatusRequest{
				State: github.String(state), EnvironmentURL: github.String("https://web1.example.com"), LogURL: github.String("https://github.com/acme/fleet/actions/runs/7"),
			})
			require.NoError(t, err)
		}
		statuses, _, err := gh.Repositories.ListDeploymentStatuses(ctx, owner, repo, job, nil)
		require.NoError(t, err)
		assert.Equal(t, "success", statuses[0].GetState(), "newest first")

		d, _, err := gh.Repositories.CreateDeployment(ctx, owner, repo, &github.DeploymentRequest{
			Ref: github.String("main"), Environment: github.String("staging"), AutoMerge: github.Bool(false), RequiredContexts: &[]string{}, Payload: map[string]any{"nodes": []string{"web1"}},
		})
		require.NoError(t, err)
		assert.Equal(t, "staging", d.GetEnvironment())
		assert.Len(t, s.Deployments(), 2)
		assert.Len(t, s.DeploymentStatuses(job), 2)
	})

	t.Run("approvals and permissions", func(t *testing.T) {
		s.AddApproval(7, githubfake.Approval{User: "alice", State: "approved", Comment: "ship it", Environments: []string{"production"}})
		var approvals []struct {
			State string `json:"state"`
			User  struct {
				Login string `json:"login"`
			} `json:"user"`
		}
		req, err := gh.NewRequest(http.MethodGet, "repos/acme/fleet/actions/runs/7/approvals", nil)
		require.NoError(t, err)
		_, err = gh.Do(ctx, req, &approvals)
		require.NoError(t, err)
		require.Len(t, approvals, 1)
		assert.Equal(t, "alice", approvals[0].User.Login)

		env := s.AddPendingDeployment(8, githubfake.PendingDeployment{Environment: "production", Reviewers: []string{"bob"}, CurrentUserCanApprove: true})
		req, err = gh.NewRequest(http.MethodGet, "repos/acme/fleet/actions/runs/8/pending_deployments", nil)
		require.NoError(t, err)
		_, err = gh.Do(ctx, req, nil)
		require.NoError(t, err)
		_, _, err = gh.Actions.PendingDeployments(ctx, owner, repo, 8, &github.PendingDeploymentsRequest{EnvironmentIDs: []int64{env}, State: "approved", Comment: "ok"})
		require.NoError(t, err)
		assert.Equal(t, "approved", s.Approvals(8)[0].State)

		s.SetPermission("alice", "maintain")
		p, _, err := gh.Repositories.GetPermissionLevel(ctx, owner, repo, "alice")
		require.NoError(t, err)
		assert.Equal(t, "write", p.GetPermission())
		p, _, err = gh.Repositories.GetPermissionLevel(ctx, owner, repo, "mallory")
		require.NoError(t, err)
		assert.Equal(t, "none", p.GetPermission())
	})

	t.Run("workflow dispatch", func(t *testing.T) {
		_, err := gh.Actions.CreateWorkflowDispatchEventByFileName(ctx, owner, repo, "deploy.yml", github.CreateWorkflowDispatchEventRequest{Ref: "main", Inputs: map[string]any{"environment": "production"}})
		require.NoError(t, err)
		assert.Equal(t, "deploy.yml", s.Dispatches()[0].Workflow)
	})
}

// TestInvalidCallsAreCaught shows that calls GitHub would refuse are
// answered 422 (or 401/404) and reported as test failures.
func TestInvalidCallsAreCaught(t *testing.T) {
	ctx := context.Background()
	anns := make([]*github.CheckRunAnnotation, 51)
	for i := range anns {
		anns[i] = &github.CheckRunAnnotation{Path: github.String("deploy.yaml"), StartLine: github.Int(1), EndLine: github.Int(1), AnnotationLevel: github.String("warning"), Message: github.String("m")}
	}
	raw := func(method, path string, body any) func(*githubfake.Server, *github.Client) error {
		return func(_ *githubfake.Server, gh *github.Client) error {
			req, err := gh.NewRequest(method, path, body)
			if err != nil {
				return err
			}
			_, err = gh.Do(ctx, req, nil)
			return err
		}
	}
	tests := []struct {
		name   string
		call   func(*githubfake.Server, *github.Client) error
		status int
		report string
	}{
		{
			name: "check run status running",
			call: func(_ *githubfake.Server, gh *github.Client) error {
				_, _, err := gh.Checks.CreateCheckRun(ctx, owner, repo, github.CreateCheckRunOptions{Name: "n", HeadSHA: sha, Status: github.String("running")})
				return err
			},
			status: 422, report: `value is not one of the allowed values`,
		},
		{
			name: "51 annotations",
			call: func(_ *githubfake.Server, gh *github.Client) error {
				_, _, err := gh.Checks.CreateCheckRun(ctx, owner, repo, github.CreateCheckRunOptions{Name: "n", HeadSHA: sha, Output: &github.CheckRunOutput{Title: github.String("t"), Summary: github.String("s"), Annotations: anns}})
				return err
			},
			status: 422, report: "maximum number of items is 50",
		},
		{
			name:   "missing required head_sha",
			call:   raw(http.MethodPost, "repos/acme/fleet/check-runs", map[string]any{"name": "n"}),
			status: 422, report: `property "head_sha" is missing`,
		},
		{
			name: "summary over 65535 characters",
			call: func(_ *githubfake.Server, gh *github.Client) error {
				_, _, err := gh.Checks.CreateCheckRun(ctx, owner, repo, github.CreateCheckRunOptions{Name: "n", HeadSHA: sha, Output: &github.CheckRunOutput{Title: github.String("t"), Summary: github.String(strings.Repeat("x", 65536))}})
				return err
			},
			status: 422, report: "maximum string length is 65535",
		},
		{
			name: "summary over 65535 bytes",
			call: func(_ *githubfake.Server, gh *github.Client) error {
				_, _, err := gh.Checks.CreateCheckRun(ctx, owner, repo, github.CreateCheckRunOptions{Name: "n", HeadSHA: sha, Output: &github.CheckRunOutput{Title: github.String("t"), Summary: github.String(strings.Repeat("→", 30000))}})
				return err
			},
			status: 422, report: "output text of 90000 bytes",
		},
		{
			name: "completed without conclusion",
			call: func(_ *githubfake.Server, gh *github.Client) error {
				_, _, err := gh.Checks.CreateCheckRun(ctx, owner, repo, github.CreateCheckRunOptions{Name: "n", HeadSHA: sha, Status: github.String("completed")})
				return err
			},
			status: 422, report: "conclusion is required",
		},
		{
			name: "check run on a branch name",
			call: func(_ *githubfake.Server, gh *github.Client) error {
				_, _, err := gh.Checks.CreateCheckRun(ctx, owner, repo, github.CreateCheckRunOptions{Name: "n", HeadSHA: "main"})
				return err
			},
			status: 422, report: "not a full commit SHA",
		},
		{
			name: "comment body too long",
			call: func(_ *githubfake.Server, gh *github.Client) error {
				_, _, err := gh.Issues.CreateComment(ctx, owner, repo, 1, &github.IssueComment{Body: github.String(strings.Repeat("x", 65537))})
				return err
			},
			status: 422, report: "body is too long",
		},
		{
			name: "deployment status description over 140",
			call: func(s *githubfake.Server, gh *github.Client) error {
				_, _, err := gh.Repositories.CreateDeploymentStatus(ctx, owner, repo, s.Deployments()[0].ID, &github.DeploymentStatusRequest{State: github.String("success"), Description: github.String(strings.Repeat("d", 141))})
				return err
			},
			status: 422, report: "description is too long",
		},
		{
			name: "deployment status state done",
			call: func(_ *githubfake.Server, gh *github.Client) error {
				_, _, err := gh.Repositories.CreateDeploymentStatus(ctx, owner, repo, 1, &github.DeploymentStatusRequest{State: github.String("done")})
				return err
			},
			status: 422, report: "value is not one of the allowed values",
		},
		{
			name:   "review without comment",
			call:   raw(http.MethodPost, "repos/acme/fleet/actions/runs/1/pending_deployments", map[string]any{"environment_ids": []int{1}, "state": "approved"}),
			status: 422, report: `property "comment" is missing`,
		},
		{
			name:   "path GitHub does not have",
			call:   raw(http.MethodGet, "repos/acme/fleet/deploy-results", nil),
			status: 404, report: "not an endpoint of GitHub's REST API",
		},
		{
			name:   "endpoint the fake does not implement",
			call:   raw(http.MethodGet, "repos/acme/fleet", nil),
			status: 404, report: "unexpected request: the fake does not implement repos/get",
		},
		{
			name: "no token",
			call: func(s *githubfake.Server, _ *github.Client) error {
				resp, err := http.Get(s.URL() + "/repos/acme/fleet/issues/1/comments")
				if err != nil {
					return err
				}
				resp.Body.Close()
				return &github.ErrorResponse{Response: resp}
			},
			status: 401, report: "no \"Authorization: Bearer <token>\" header",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			s := githubfake.New(rec)
			s.AddIssue(owner, repo, githubfake.Issue{Title: "x"})
			s.AddDeployment(owner, repo, githubfake.Deployment{Ref: "main"})
			err := tt.call(s, client(t, s))
			var er *github.ErrorResponse
			require.True(t, errors.As(err, &er), "want an error response, got %v", err)
			assert.Equal(t, tt.status, er.Response.StatusCode)
			assert.Contains(t, rec.reports(), tt.report)
		})
	}
}

func TestFailNext(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		method     string
		pattern    string
		status     int
		times      int
		retryAfter string
		rateLimit  bool
	}{
		{name: "502 by template", method: http.MethodPost, pattern: "/repos/{owner}/{repo}/check-runs", status: 502, times: 2},
		{name: "503 by glob, any method", pattern: "/repos/acme/*/check-runs", status: 503, times: 1},
		{name: "secondary rate limit 403", method: http.MethodPost, pattern: "/repos/{owner}/{repo}/check-runs", status: 403, times: 1, retryAfter: "0", rateLimit: true},
		{name: "429", method: http.MethodPost, pattern: "/repos/{owner}/{repo}/check-runs", status: 429, times: 1, retryAfter: "0", rateLimit: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := githubfake.New(t, githubfake.WithRetryAfter(0))
			gh := client(t, s)
			s.FailNext(tt.method, tt.pattern, tt.status, tt.times)
			opts := github.CreateCheckRunOptions{Name: "n", HeadSHA: sha}
			for range tt.times {
				_, resp, err := gh.Checks.CreateCheckRun(ctx, owner, repo, opts)
				require.Error(t, err)
				assert.Equal(t, tt.status, resp.StatusCode)
				assert.Equal(t, tt.retryAfter, resp.Header.Get("Retry-After"))
				if tt.rateLimit && tt.status == http.StatusForbidden {
					var rl *github.AbuseRateLimitError
					assert.True(t, errors.As(err, &rl), "go-github sees a secondary rate limit: %v", err)
				}
			}
			_, _, err := gh.Checks.CreateCheckRun(ctx, owner, repo, opts)
			require.NoError(t, err)
			assert.Len(t, s.CheckRuns(owner, repo), 1, "failed requests change nothing")
			reqs := s.Requests()
			require.Len(t, reqs, tt.times+1)
			assert.Equal(t, tt.status, reqs[0].Status)
			assert.Equal(t, "checks/create", reqs[0].Operation)
		})
	}
}

func TestPagination(t *testing.T) {
	ctx := context.Background()
	s := githubfake.New(t)
	gh := client(t, s)
	pr := s.AddPullRequest(owner, repo, githubfake.PullRequest{HeadRef: "f", HeadSHA: sha, BaseRef: "main", BaseSHA: sha})
	for i := range 75 {
		s.AddComment(owner, repo, pr, "alice", fmt.Sprintf("comment %d", i))
	}
	tests := []struct {
		perPage, pages int
	}{{0, 3}, {30, 3}, {100, 1}, {25, 3}}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.perPage), func(t *testing.T) {
			opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: tt.perPage}}
			var bodies []string
			pages := 0
			for {
				got, resp, err := gh.Issues.ListComments(ctx, owner, repo, pr, opts)
				require.NoError(t, err)
				pages++
				for _, c := range got {
					bodies = append(bodies, c.GetBody())
				}
				if resp.NextPage == 0 {
					break
				}
				opts.Page = resp.NextPage
			}
			assert.Equal(t, tt.pages, pages)
			require.Len(t, bodies, 75)
			assert.Equal(t, "comment 74", bodies[74])
		})
	}
}

func TestRequestsAreRecorded(t *testing.T) {
	ctx := context.Background()
	s := githubfake.New(t)
	gh := client(t, s)
	pr := s.AddPullRequest(owner, repo, githubfake.PullRequest{HeadRef: "f", HeadSHA: sha, BaseRef: "main", BaseSHA: sha})
	_, _, err := gh.Issues.CreateComment(ctx, owner, repo, pr, &github.IssueComment{Body: github.String("hi")})
	require.NoError(t, err)
	reqs := s.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, http.MethodPost, reqs[0].Method)
	assert.Equal(t, "/repos/acme/fleet/issues/1/comments", reqs[0].Path, "the /api/v3 prefix is dropped")
	assert.Equal(t, http.StatusCreated, reqs[0].Status)
	var body map[string]string
	require.NoError(t, reqs[0].Decode(&body))
	assert.Equal(t, map[string]string{"body": "hi"}, body)
}

func TestToken(t *testing.T) {
	ctx := context.Background()
	s := githubfake.New(t, githubfake.WithToken("right"), githubfake.WithActor("deploy-bot[bot]"))
	pr := s.AddPullRequest(owner, repo, githubfake.PullRequest{HeadRef: "f", HeadSHA: sha, BaseRef: "main", BaseSHA: sha})
	tests := []struct {
		token  string
		status int
	}{{"wrong", http.StatusUnauthorized}, {"right", http.StatusCreated}}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			gh, err := github.NewClient(nil).WithAuthToken(tt.token).WithEnterpriseURLs(s.URL(), s.URL())
			require.NoError(t, err)
			_, resp, _ := gh.Issues.CreateComment(ctx, owner, repo, pr, &github.IssueComment{Body: github.String("x")})
			assert.Equal(t, tt.status, resp.StatusCode)
		})
	}
	assert.Equal(t, "deploy-bot[bot]", s.Comments(owner, repo, pr)[0].User)
}
