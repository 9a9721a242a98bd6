package githubfake

import (
	"encoding/json"
	"slices"
	"time"
)

// Comment is a comment on an issue or pull request.
type Comment struct {
	ID        int64
	Repo      string // "owner/repo"
	Issue     int
	User      string
	Body      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Issue is an issue; pull requests are issues too (PullRequest set).
type Issue struct {
	Number      int
	Repo        string
	Title       string
	Body        string
	State       string // open | closed
	User        string
	Labels      []string
	Assignees   []string
	PullRequest bool
}

// PullRequest is a pull request, seeded by a test or opened through the API.
type PullRequest struct {
	Number  int
	Repo    string
	Title   string
	Body    string
	State   string // open | closed
	User    string
	Draft   bool
	HeadRef string
	HeadSHA string
	// HeadRepo is "owner/repo" of the head branch; a fork when it differs
	// from Repo. Empty means Repo.
	HeadRepo string
	BaseRef  string
	BaseSHA  string
}

// CheckRun is a check run with everything sent to it so far.
type CheckRun struct {
	ID          int64
	Repo        string
	Name        string
	HeadSHA     string
	Status      string // queued | in_progress | completed
	Conclusion  string
	DetailsURL  string
	ExternalID  string
	StartedAt   string
	CompletedAt string
	Output      CheckRunOutput
	// Updates counts the PATCH requests the run received.
	Updates int
}

// CheckRunOutput is a check run's output; annotations accumulate across
// requests as they do on GitHub.
type CheckRunOutput struct {
	Title       string
	Summary     string
	Text        string
	Annotations []Annotation
}

// Annotation is one check run annotation.
type Annotation struct {
	Path            string `json:"path"`
	StartLine       int    `json:"start_line"`
	EndLine         int    `json:"end_line"`
	StartColumn     int    `json:"start_column,omitempty"`
	EndColumn       int    `json:"end_column,omitempty"`
	AnnotationLevel string `json:"annotation_level"`
	Message         string `json:"message"`
	Title           string `json:"title,omitempty"`
	RawDetails      string `json:"raw_details,omitempty"`
}

// Status is a commit status.
type Status struct {
	ID          int64
	Repo        string
	SHA         string
	State       string
	TargetURL   string
	Description string
	Context     string
	Creator     string
	CreatedAt   time.Time
}

// Deployment is a deployment, seeded (the one GitHub creates for a job with
// `environment:`) or created through the API.
type Deployment struct {
	ID                    int64
	Repo                  string
	Ref                   string
	SHA                   string
	Task                  string
	Environment           string
	Description           string
	Creator               string
	Payload               json.RawMessage
	AutoMerge             bool
	RequiredContexts      []string // nil when the request left them to GitHub
	TransientEnvironment  bool
	ProductionEnvironment bool
	CreatedAt             time.Time
}

// DeploymentStatus is one status of a deployment.
type DeploymentStatus struct {
	ID             int64
	DeploymentID   int64
	State          string
	Description    string
	Environment    string
	EnvironmentURL string
	LogURL         string
	Creator        string
	CreatedAt      time.Time
}

// Approval is a review of a run's deployment gate, as listed by
// GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals.
type Approval struct {
	User         string
	State        string // approved | rejected
	Comment      string
	Environments []string
}

// PendingDeployment is an environment gate a run is waiting on.
type PendingDeployment struct {
	EnvironmentID int64 // assigned by AddPendingDeployment when zero
	Environment   string
	WaitTimer     int
	Reviewers     []string
	// CurrentUserCanApprove is what the token's user is told.
	CurrentUserCanApprove bool
}

// Dispatch is a workflow_dispatch event created through the API.
type Dispatch struct {
	Repo     string
	Workflow string
	Ref      string
	Inputs   map[string]any
}

type state struct {
	issues      map[string]map[int]*Issue
	pulls       map[string]map[int]*PullRequest
	lastNumber  map[string]int
	comments    []*Comment
	checkRuns   []*CheckRun
	statuses    []*Status
	deployments []*Deployment
	depStatuses []*DeploymentStatus
	permissions map[string]string
	approvals   map[int64][]Approval
	pending     map[int64][]PendingDeployment
	dispatches  []Dispatch
}

func newState() state {
	return state{
		issues:      map[string]map[int]*Issue{},
		pulls:       map[string]map[int]*PullRequest{},
		lastNumber:  map[string]int{},
		permissions: map[string]string{},
		approvals:   map[int64][]Approval{},
		pending:     map[int64][]PendingDeployment{},
	}
}

func repoKey(owner, repo string) string { return owner + "/" + repo }

// addIssue stores an issue under the next free number unless it has one.
func (st *state) addIssue(is Issue) *Issue {
	if is.Number == 0 {
		is.Number = st.lastNumber[is.Repo] + 1
	}
	st.lastNumber[is.Repo] = max(st.lastNumber[is.Repo], is.Number)
	if is.State == "" {
		is.State = "open"
	}
	if st.issues[is.Repo] == nil {
		st.issues[is.Repo] = map[int]*Issue{}
	}
	p := &is
	st.issues[is.Repo][is.Number] = p
	return p
}

func (st *state) addPull(pr PullRequest) *PullRequest {
	is := st.addIssue(Issue{Number: pr.Number, Repo: pr.Repo, Title: pr.Title, Body: pr.Body, State: pr.State, User: pr.User, PullRequest: true})
	pr.Number, pr.State = is.Number, is.State
	if st.pulls[pr.Repo] == nil {
		st.pulls[pr.Repo] = map[int]*PullRequest{}
	}
	p := &pr
	st.pulls[pr.Repo][pr.Number] = p
	return p
}

func (st *state) issue(repo string, number int) *Issue { return st.issues[repo][number] }

func (st *state) comment(repo string, id int64) *Comment {
	for _, c := range st.comments {
		if c.ID == id && c.Repo == repo {
			return c
		}
	}
	return nil
}

func (st *state) checkRun(repo string, id int64) *CheckRun {
	for _, c := range st.checkRuns {
		if c.ID == id && c.Repo == repo {
			return c
		}
	}
	return nil
}

func (st *state) deployment(repo string, id int64) *Deployment {
	for _, d := range st.deployments {
		if d.ID == id && d.Repo == repo {
			return d
		}
	}
	return nil
}

// AddPullRequest seeds a pull request (and its issue) and returns its number.
// Zero fields get defaults: the next number, state open, head repo = repo.
func (s *Server) AddPullRequest(owner, repo string, pr PullRequest) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr.Repo = repoKey(owner, repo)
	if pr.User == "" {
		pr.User = "octocat"
	}
	return s.addPull(pr).Number
}

// AddIssue seeds an issue and returns its number.
func (s *Server) AddIssue(owner, repo string, is Issue) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	is.Repo = repoKey(owner, repo)
	if is.User == "" {
		is.User = "octocat"
	}
	return s.addIssue(is).Number
}

// AddComment adds a comment by user (such as "/approve") to an existing
// issue or pull request and returns its id.
func (s *Server) AddComment(owner, repo string, issue int, user, body string) int64 {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	key := repoKey(owner, repo)
	if s.issue(key, issue) == nil {
		s.t.Errorf("githubfake: AddComment: no issue or pull request %s#%d (seed it with AddPullRequest or AddIssue)", key, issue)
		return 0
	}
	now := s.now()
	c := &Comment{ID: s.nextID(), Repo: key, Issue: issue, User: user, Body: body, CreatedAt: now, UpdatedAt: now}
	s.comments = append(s.comments, c)
	return c.ID
}

// SetPermission sets user's role on every repository: admin, maintain,
// write, triage, read or none. Users never set have none.
func (s *Server) SetPermission(user, role string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.permissions[user] = role
}

// AddApproval records a review of run runID's deployment gate.
func (s *Server) AddApproval(runID int64, a Approval) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.approvals[runID] = append(s.approvals[runID], a)
}

// AddPendingDeployment makes run runID wait on an environment; it returns
// the environment id to review.
func (s *Server) AddPendingDeployment(runID int64, p PendingDeployment) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.EnvironmentID == 0 {
		p.EnvironmentID = s.nextID()
	}
	s.pending[runID] = append(s.pending[runID], p)
	return p.EnvironmentID
}

// AddDeployment seeds a deployment, such as the one GitHub creates for a job
// with `environment:`, and returns its id.
func (s *Server) AddDeployment(owner, repo string, d Deployment) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	d.ID = s.nextID()
	d.Repo = repoKey(owner, repo)
	if d.Task == "" {
		d.Task = "deploy"
	}
	if d.Environment == "" {
		d.Environment = "production"
	}
	if d.Creator == "" {
		d.Creator = s.actor
	}
	if d.SHA == "" {
		d.SHA = fakeSHA(d.Ref)
	}
	d.CreatedAt = s.now()
	s.deployments = append(s.deployments, &d)
	return d.ID
}

// Comments returns the comments on an issue or pull request, oldest first.
func (s *Server) Comments(owner, repo string, issue int) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := repoKey(owner, repo)
	var out []Comment
	for _, c := range s.comments {
		if c.Repo == key && c.Issue == issue {
			out = append(out, *c)
		}
	}
	return out
}

// Issues returns the issues of a repository (pull requests included), by
// number.
func (s *Server) Issues(owner, repo string) []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Issue
	for _, is := range s.issues[repoKey(owner, repo)] {
		c := *is
		c.Labels = slices.Clone(is.Labels)
		c.Assignees = slices.Clone(is.Assignees)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Issue) int { return a.Number - b.Number })
	return out
}

// PullRequests returns the pull requests of a repository, by number.
func (s *Server) PullRequests(owner, repo string) []PullRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PullRequest
	for _, pr := range s.pulls[repoKey(owner, repo)] {
		out = append(out, *pr)
	}
	slices.SortFunc(out, func(a, b PullRequest) int { return a.Number - b.Number })
	return out
}

// CheckRuns returns the check runs of a repository, in creation order.
func (s *Server) CheckRuns(owner, repo string) []CheckRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := repoKey(owner, repo)
	var out []CheckRun
	for _, c := range s.checkRuns {
		if c.Repo == key {
			cp := *c
			cp.Output.Annotations = slices.Clone(c.Output.Annotations)
			out = append(out, cp)
		}
	}
	return out
}

// Statuses returns the commit statuses set on sha, oldest first.
func (s *Server) Statuses(owner, repo, sha string) []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := repoKey(owner, repo)
	var out []Status
	for _, st := range s.statuses {
		if st.Repo == key && st.SHA == sha {
			out = append(out, *st)
		}
	}
	return out
}

// Deployments returns every deployment, seeded or created, oldest first.
func (s *Server) Deployments() []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Deployment, len(s.deployments))
	for i, d := range s.deployments {
		out[i] = *d
	}
	return out
}

// DeploymentStatuses returns the statuses of a deployment, oldest first.
func (s *Server) DeploymentStatuses(id int64) []DeploymentStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []DeploymentStatus
	for _, ds := range s.depStatuses {
		if ds.DeploymentID == id {
			out = append(out, *ds)
		}
	}
	return out
}

// Approvals returns the reviews of run runID's deployment gates.
func (s *Server) Approvals(runID int64) []Approval {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.approvals[runID])
}

// Dispatches returns the workflow_dispatch events created through the API.
func (s *Server) Dispatches() []Dispatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.dispatches)
}
