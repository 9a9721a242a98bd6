// Package github is the adapter for GitHub's REST API over
// github.com/google/go-github: comments, issues, check runs, commit
// statuses, deployment statuses, run approvals and permissions. It
// implements the interfaces of internal/report and internal/approval, and
// retries server errors and rate limits (see Retry).
package github

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/nix-deploy-action/nix-deploy-action/internal/report"
)

// Options configure a Client.
type Options struct {
	// APIURL is GITHUB_API_URL: https://api.github.com, or
	// https://HOST/api/v3 on GitHub Enterprise Server.
	APIURL string
	Token  string
	// Repository is "owner/name".
	Repository string
	Retry      Retry
	// Transport is the HTTP transport under the retries;
	// http.DefaultTransport when nil.
	Transport http.RoundTripper
	// Log receives a line for every retried request (not a warning: only
	// the final failure is one, reported by the caller).
	Log *slog.Logger
}

// Client talks to one repository.
type Client struct {
	gh          *gh.Client
	owner, repo string
}

// New returns a client for o.Repository.
func New(o Options) (*Client, error) {
	owner, repo, ok := strings.Cut(o.Repository, "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return nil, fmt.Errorf("repository %q is not owner/name", o.Repository)
	}
	if o.Token == "" {
		return nil, errors.New("no GitHub token")
	}
	base, err := url.Parse(strings.TrimSuffix(o.APIURL, "/") + "/")
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, fmt.Errorf("GitHub API URL %q is not an http(s) URL", o.APIURL)
	}
	tr := o.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hc := &http.Client{Transport: &retryTransport{base: tr, retry: o.Retry.withDefaults(), log: log, now: time.Now}}
	c := gh.NewClient(hc).WithAuthToken(o.Token)
	c.BaseURL = base
	c.UserAgent = "nix-deploy"
	return &Client{gh: c, owner: owner, repo: repo}, nil
}

// apiError marks refusals of the token (403 without a rate limit) with
// report.ErrNotPermitted, so callers can fall back.
func apiError(what string, err error) error {
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusForbidden {
		return fmt.Errorf("%s: %w: %w", what, report.ErrNotPermitted, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func str(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func stamp(t time.Time) *gh.Timestamp {
	if t.IsZero() {
		return nil
	}
	return &gh.Timestamp{Time: t.UTC()}
}

func output(c report.CheckRun) *gh.CheckRunOutput {
	if c.Title == "" && c.Summary == "" && len(c.Annotations) == 0 {
		return nil
	}
	title, summary := c.Title, c.Summary
	if title == "" {
		title = c.Name
	}
	if summary == "" {
		summary = title
	}
	o := &gh.CheckRunOutput{Title: &title, Summary: &summary}
	for _, a := range c.Annotations {
		a := a
		o.Annotations = append(o.Annotations, &gh.CheckRunAnnotation{
			Path: &a.Path, StartLine: &a.StartLine, EndLine: &a.EndLine,
			StartColumn: intOrNil(a.StartColumn), EndColumn: intOrNil(a.EndColumn),
			AnnotationLevel: &a.Level, Message: &a.Message, Title: str(a.Title),
		})
	}
	return o
}

func intOrNil(n int) *int {
	if n <= 0 {
		return nil
	}
	return &n
}

// CreateCheckRun creates a check run and returns its id.
func (c *Client) CreateCheckRun(ctx context.Context, run report.CheckRun) (int64, error) {
	opts := gh.CreateCheckRunOptions{
		Name: run.Name, HeadSHA: run.HeadSHA, DetailsURL: str(run.DetailsURL), ExternalID: str(run.ExternalID),
		Status: str(run.Status), Conclusion: str(string(run.Conclusion)),
		StartedAt: stamp(run.StartedAt), CompletedAt: stamp(run.CompletedAt), Output: output(run),
	}
	cr, _, err := c.gh.Checks.CreateCheckRun(ctx, c.owner, c.repo, opts)
	if err != nil {
		return 0, apiError("create check run "+run.Name, err)
	}
	return cr.GetID(), nil
}

// UpdateCheckRun updates check run id; annotations are appended to the
// ones it has.
func (c *Client) UpdateCheckRun(ctx context.Context, id int64, run report.CheckRun) error {
	opts := gh.UpdateCheckRunOptions{
		Name: run.Name, DetailsURL: str(run.DetailsURL), ExternalID: str(run.ExternalID),
		Status: str(run.Status), Conclusion: str(string(run.Conclusion)),
		CompletedAt: stamp(run.CompletedAt), Output: output(run),
	}
	if _, _, err := c.gh.Checks.UpdateCheckRun(ctx, c.owner, c.repo, id, opts); err != nil {
		return apiError("update check run "+run.Name, err)
	}
	return nil
}

// CreateStatus sets a commit status on sha.
func (c *Client) CreateStatus(ctx context.Context, sha string, st report.CommitStatus) error {
	s := &gh.RepoStatus{State: &st.State, Context: &st.Context, Description: str(st.Description), TargetURL: str(st.TargetURL)}
	if _, _, err := c.gh.Repositories.CreateStatus(ctx, c.owner, c.repo, sha, s); err != nil {
		return apiError("set commit status "+st.Context, err)
	}
	return nil
}

func comment(ic *gh.IssueComment) report.Comment {
	return report.Comment{
		ID:        ic.GetID(),
		User:      ic.GetUser().GetLogin(),
		Bot:       ic.GetUser().GetType() == "Bot",
		Body:      ic.GetBody(),
		URL:       ic.GetHTMLURL(),
		CreatedAt: ic.GetCreatedAt().Time,
	}
}

// ListComments lists the comments of an issue or pull request updated at
// or after since (every comment when since is zero), oldest first.
func (c *Client) ListComments(ctx context.Context, issue int, since time.Time) ([]report.Comment, error) {
	opts := &gh.IssueListCommentsOptions{ListOptions: gh.ListOptions{PerPage: 100}}
	if !since.IsZero() {
		opts.Since = &since
	}
	var out []report.Comment
	for {
		page, resp, err := c.gh.Issues.ListComments(ctx, c.owner, c.repo, issue, opts)
		if err != nil {
			return nil, apiError(fmt.Sprintf("list comments of #%d", issue), err)
		}
		for _, ic := range page {
			out = append(out, comment(ic))
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// CreateComment comments on an issue or pull request.
func (c *Client) CreateComment(ctx context.Context, issue int, body string) (report.Comment, error) {
	ic, _, err := c.gh.Issues.CreateComment(ctx, c.owner, c.repo, issue, &gh.IssueComment{Body: &body})
	if err != nil {
		return report.Comment{}, apiError(fmt.Sprintf("comment on #%d", issue), err)
	}
	return comment(ic), nil
}

// EditComment replaces a comment's body.
func (c *Client) EditComment(ctx context.Context, id int64, body string) (report.Comment, error) {
	ic, _, err := c.gh.Issues.EditComment(ctx, c.owner, c.repo, id, &gh.IssueComment{Body: &body})
	if err != nil {
		return report.Comment{}, apiError(fmt.Sprintf("edit comment %d", id), err)
	}
	return comment(ic), nil
}

// CreateIssue opens an issue and returns its number and address.
func (c *Client) CreateIssue(ctx context.Context, title, body string) (int, string, error) {
	is, _, err := c.gh.Issues.Create(ctx, c.owner, c.repo, &gh.IssueRequest{Title: &title, Body: &body})
	if err != nil {
		return 0, "", apiError("open issue", err)
	}
	return is.GetNumber(), is.GetHTMLURL(), nil
}

// CloseIssue closes an issue.
func (c *Client) CloseIssue(ctx context.Context, number int) error {
	state := "closed"
	if _, _, err := c.gh.Issues.Edit(ctx, c.owner, c.repo, number, &gh.IssueRequest{State: &state}); err != nil {
		return apiError(fmt.Sprintf("close issue #%d", number), err)
	}
	return nil
}

// Permission is user's permission on the repository: admin, write, read
// or none.
func (c *Client) Permission(ctx context.Context, user string) (string, error) {
	p, _, err := c.gh.Repositories.GetPermissionLevel(ctx, c.owner, c.repo, user)
	if err != nil {
		return "", apiError("read the permission of "+user, err)
	}
	return p.GetPermission(), nil
}

// FindDeployment returns the newest deployment of sha to env.
func (c *Client) FindDeployment(ctx context.Context, sha, env string) (int64, bool, error) {
	ds, _, err := c.gh.Repositories.ListDeployments(ctx, c.owner, c.repo, &gh.DeploymentsListOptions{
		SHA: sha, Environment: env, ListOptions: gh.ListOptions{PerPage: 1},
	})
	if err != nil {
		return 0, false, apiError("list deployments", err)
	}
	if len(ds) == 0 {
		return 0, false, nil
	}
	return ds[0].GetID(), true, nil
}

// CreateDeploymentStatus adds a status to deployment id.
func (c *Client) CreateDeploymentStatus(ctx context.Context, id int64, st report.DeploymentStatus) error {
	req := &gh.DeploymentStatusRequest{State: &st.State, Description: str(st.Description), LogURL: str(st.LogURL), EnvironmentURL: str(st.EnvironmentURL)}
	if _, _, err := c.gh.Repositories.CreateDeploymentStatus(ctx, c.owner, c.repo, id, req); err != nil {
		return apiError(fmt.Sprintf("set status %s of deployment %d", st.State, id), err)
	}
	return nil
}

// RunApprovals lists the reviews of run runID's deployment gates
// (GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals, which
// go-github v60 does not wrap).
func (c *Client) RunApprovals(ctx context.Context, runID int64) ([]report.Approval, error) {
	u := fmt.Sprintf("repos/%s/%s/actions/runs/%d/approvals", url.PathEscape(c.owner), url.PathEscape(c.repo), runID)
	req, err := c.gh.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("read approvals of run %d: %w", runID, err)
	}
	var reviews []struct {
		State   string `json:"state"`
		Comment string `json:"comment"`
		User    struct {
			Login string `json:"login"`
		} `json:"user"`
	}
	if _, err := c.gh.Do(ctx, req, &reviews); err != nil {
		return nil, apiError(fmt.Sprintf("read approvals of run %d", runID), err)
	}
	out := make([]report.Approval, len(reviews))
	for i, r := range reviews {
		out[i] = report.Approval{User: r.User.Login, State: r.State, Comment: r.Comment}
	}
	return out, nil
}
