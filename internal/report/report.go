// Package report decides what nix-deploy publishes to GitHub and when: the
// sticky plan comment, the check runs (nix-deploy/plan and one per node),
// commit statuses where check runs are refused, the statuses of the job's
// deployment, and the job summary.
//
// It talks to GitHub through the small interfaces below; internal/github
// implements them. Publishing is best effort: a failure is logged as a
// warning and never changes the outcome of a plan or a deploy.
package report

import (
	"context"
	"errors"
	"time"
)

// ErrNotPermitted is wrapped by API errors for requests the token may not
// make (403 "Resource not accessible by integration/personal access token"),
// as opposed to failures worth retrying.
var ErrNotPermitted = errors.New("not permitted")

// Conclusion is how a check run ended.
type Conclusion string

// The conclusions nix-deploy sets (GitHub reserves "stale").
const (
	Success   Conclusion = "success"
	Failure   Conclusion = "failure"
	Neutral   Conclusion = "neutral"
	Cancelled Conclusion = "cancelled"
	Skipped   Conclusion = "skipped"
	TimedOut  Conclusion = "timed_out"
)

// Check run statuses nix-deploy sets.
const (
	StatusInProgress = "in_progress"
	StatusCompleted  = "completed"
)

// CheckRun is a check run as created or updated. Zero fields are not sent.
type CheckRun struct {
	Name    string
	HeadSHA string
	Status  string
	// Conclusion, when set, completes the run.
	Conclusion  Conclusion
	DetailsURL  string
	ExternalID  string
	StartedAt   time.Time
	CompletedAt time.Time
	// Title and Summary make the output; Summary is at most SummaryLimit
	// bytes.
	Title       string
	Summary     string
	Annotations []Annotation
}

// Annotation levels of check run annotations.
const (
	LevelNotice  = "notice"
	LevelWarning = "warning"
	LevelFailure = "failure"
)

// Annotation marks a line of a file in a check run.
type Annotation struct {
	Path                   string
	StartLine, EndLine     int
	StartColumn, EndColumn int
	Level                  string
	Title, Message         string
}

// CommitStatus is a commit status, the fallback for a check run.
type CommitStatus struct {
	Context     string
	State       string // pending | success | failure | error
	Description string // at most 140 characters
	TargetURL   string
}

// DeploymentStatus is one status of a deployment.
type DeploymentStatus struct {
	State          string // in_progress | success | failure | error
	Description    string // at most 140 characters
	LogURL         string
	EnvironmentURL string
}

// Comment is a comment on an issue or pull request. Its body is untrusted.
type Comment struct {
	ID        int64
	User      string
	Bot       bool // written by an app, such as github-actions[bot]
	Body      string
	URL       string
	CreatedAt time.Time
}

// Approval is a review of the run's deployment gate.
type Approval struct {
	User    string
	State   string // approved | rejected
	Comment string
}

// Checks publishes results on a commit.
type Checks interface {
	CreateCheckRun(ctx context.Context, run CheckRun) (id int64, err error)
	UpdateCheckRun(ctx context.Context, id int64, run CheckRun) error
	CreateStatus(ctx context.Context, sha string, st CommitStatus) error
}

// Comments reads and writes the comments of an issue or pull request.
type Comments interface {
	// ListComments lists the comments updated at or after since (all
	// when since is zero), oldest first.
	ListComments(ctx context.Context, issue int, since time.Time) ([]Comment, error)
	CreateComment(ctx context.Context, issue int, body string) (Comment, error)
	EditComment(ctx context.Context, id int64, body string) (Comment, error)
}

// Deployments finds the job's deployment and sets its statuses.
type Deployments interface {
	// FindDeployment returns the newest deployment of sha to env; found is
	// false when there is none.
	FindDeployment(ctx context.Context, sha, env string) (id int64, found bool, err error)
	CreateDeploymentStatus(ctx context.Context, id int64, st DeploymentStatus) error
}

// Approvals reads who approved the run's deployment gate.
type Approvals interface {
	RunApprovals(ctx context.Context, runID int64) ([]Approval, error)
}

// API is everything the reporter uses.
type API interface {
	Checks
	Comments
	Deployments
	Approvals
}

// Run is what the reports say about the workflow run.
type Run struct {
	// HeadSHA is where check runs and statuses go: the pull request's head
	// on pull_request events.
	HeadSHA string
	// SHA is GITHUB_SHA, the commit of the job's deployment.
	SHA    string
	RunID  int64
	RunURL string
}
