// Package approval is the `approval: comment` flow, for repositories
// without required reviewers: nix-deploy asks on the pull request (or on an
// issue it opens) and waits for /approve or /deny from someone allowed to
// approve, until a timeout. Denial and timeout are failures: nothing is
// deployed.
//
// GitHub is reached through the small API interface; internal/github
// implements it.
package approval

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nix-deploy-action/nix-deploy-action/internal/report"
)

// API is what the flow needs of GitHub.
type API interface {
	CreateComment(ctx context.Context, issue int, body string) (report.Comment, error)
	ListComments(ctx context.Context, issue int, since time.Time) ([]report.Comment, error)
	CreateIssue(ctx context.Context, title, body string) (number int, url string, err error)
	CloseIssue(ctx context.Context, number int) error
	// Permission is the user's permission on the repository: admin,
	// write, read or none (maintain reads as write, triage as read).
	Permission(ctx context.Context, user string) (string, error)
}

// Command is what a comment asks for.
type Command int

// The commands.
const (
	None Command = iota
	Approve
	Deny
)

// ParseCommand reads a comment: its first non-blank line must start with
// /approve or /deny (any case), alone or followed by a space and a reason.
// Quoted text ("> /approve") and commands later in the comment do not count,
// so quoting or discussing the instructions approves nothing.
func ParseCommand(body string) Command {
	for line := range strings.SplitSeq(body, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		word, _, _ := strings.Cut(line, " ")
		word, _, _ = strings.Cut(word, "\t")
		switch strings.ToLower(word) {
		case "/approve":
			return Approve
		case "/deny":
			return Deny
		}
		return None
	}
	return None
}

// Policy says who may approve or deny.
type Policy struct {
	// Approvers, when set, are the only logins who may decide. Otherwise
	// anyone with write, maintain or admin permission may.
	Approvers []string
	// Exclude may never decide: the actor who started the run, so nobody
	// approves their own deploy.
	Exclude string
}

// Allowed reports whether user may decide, checking their permission on
// the repository through api when the policy has no approvers list.
func (p Policy) Allowed(ctx context.Context, api API, user string) (bool, error) {
	if user == "" || (p.Exclude != "" && strings.EqualFold(user, p.Exclude)) {
		return false, nil
	}
	if len(p.Approvers) > 0 {
		return slices.ContainsFunc(p.Approvers, func(a string) bool { return strings.EqualFold(a, user) }), nil
	}
	perm, err := api.Permission(ctx, user)
	if err != nil {
		return false, fmt.Errorf("read %s's permission: %w", user, err)
	}
	return perm == "admin" || perm == "write", nil
}

// Request is one approval to wait for.
type Request struct {
	// Issue is the pull request to ask on; 0 opens an issue.
	Issue int
	// Title of the issue opened when there is no pull request.
	Title string
	// Summary says what would be deployed (markdown).
	Summary string
	Policy  Policy
	Timeout time.Duration
	// Poll is the time between two reads of the comments.
	Poll time.Duration
	// RunURL links the request to the workflow run.
	RunURL string
}

// Decision is an approval.
type Decision struct {
	By    string
	Issue int
	// URL is the request comment's (or issue's) address.
	URL string
}

// DeniedError is a /deny.
type DeniedError struct{ By string }

func (e *DeniedError) Error() string {
	return "the deploy was denied by " + e.By + ": nothing was deployed"
}

// ErrTimeout is returned when nobody decided in time.
var ErrTimeout = errors.New("nobody approved the deploy in time: nothing was deployed")

// DefaultPoll is the time between two reads of the comments when the
// request does not say.
const DefaultPoll = 10 * time.Second

// Waiter runs the flow.
type Waiter struct {
	API API
	Log *slog.Logger
	Now func() time.Time
	// Sleep waits d or until ctx is done; time.Sleep-like by default.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Wait asks for approval and waits for a decision. It returns the
// decision, *DeniedError, ErrTimeout or the context's error.
func (w *Waiter) Wait(ctx context.Context, req Request) (Decision, error) {
	if req.Poll <= 0 {
		req.Poll = DefaultPoll
	}
	issue, url := req.Issue, ""
	body := requestBody(req, w.now().Add(req.Timeout))
	if issue == 0 {
		n, u, err := w.API.CreateIssue(ctx, req.Title, body)
		if err != nil {
			return Decision{}, fmt.Errorf("open the approval issue: %w", err)
		}
		issue, url = n, u
	}
	asked, err := w.API.CreateComment(ctx, issue, requestComment(req, body))
	if err != nil {
		return Decision{}, fmt.Errorf("ask for approval on #%d: %w", issue, err)
	}
	if url == "" {
		url = asked.URL
	}
	w.log().Info("waiting for /approve or /deny", "issue", issue, "url", url, "timeout", req.Timeout)
	d, err := w.poll(ctx, req, issue, asked)
	d.Issue, d.URL = issue, url
	w.conclude(ctx, req, issue, d, err)
	return d, err
}

// requestComment is the body posted on a pull request; an opened issue
// already carries it, so its comment is only a pointer.
func requestComment(req Request, body string) string {
	if req.Issue == 0 {
		return "Waiting for `/approve` or `/deny` in a new comment."
	}
	return body
}

func (w *Waiter) poll(ctx context.Context, req Request, issue int, asked report.Comment) (Decision, error) {
	deadline := w.now().Add(req.Timeout)
	since := asked.CreatedAt
	perms := map[string]bool{}
	seen := map[int64]bool{}
	for {
		last := !w.now().Before(deadline)
		comments, err := w.API.ListComments(ctx, issue, since)
		if err != nil {
			// A transient failure must not end the wait: the next read
			// may work. The deadline still holds.
			w.log().Warn("could not read comments", "issue", issue, "err", err)
		}
		for _, c := range comments {
			if c.ID <= asked.ID || seen[c.ID] {
				continue
			}
			cmd := ParseCommand(c.Body)
			if cmd == None {
				continue
			}
			ok, known := perms[c.User]
			if !known {
				ok, err = req.Policy.Allowed(ctx, w.API, c.User)
				if err != nil {
					w.log().Warn("could not check who may approve", "user", c.User, "err", err)
					continue
				}
				perms[c.User] = ok
			}
			seen[c.ID] = true
			if !ok {
				w.log().Warn("ignoring a command from a user who may not approve", "user", c.User)
				continue
			}
			if cmd == Deny {
				return Decision{By: c.User}, &DeniedError{By: c.User}
			}
			return Decision{By: c.User}, nil
		}
		if last {
			return Decision{}, ErrTimeout
		}
		wait := min(req.Poll, deadline.Sub(w.now()))
		if err := w.sleep(ctx, max(wait, 0)); err != nil {
			return Decision{}, err
		}
	}
}

// conclude says on the thread how it ended and closes an opened issue.
// Failures here are only logged: the decision stands.
func (w *Waiter) conclude(ctx context.Context, req Request, issue int, d Decision, err error) {
	var msg string
	var denied *DeniedError
	switch {
	case err == nil:
		msg = fmt.Sprintf("✅ Approved by @%s: deploying.", d.By)
	case errors.As(err, &denied):
		msg = fmt.Sprintf("⛔ Denied by @%s: nothing was deployed.", denied.By)
	case errors.Is(err, ErrTimeout):
		msg = fmt.Sprintf("⌛ Nobody approved within %s: nothing was deployed.", req.Timeout)
	default:
		return
	}
	if req.RunURL != "" {
		msg += fmt.Sprintf(" ([workflow run](%s))", req.RunURL)
	}
	if _, cerr := w.API.CreateComment(ctx, issue, msg); cerr != nil {
		w.log().Warn("could not comment the decision", "issue", issue, "err", cerr)
	}
	if req.Issue == 0 {
		if cerr := w.API.CloseIssue(ctx, issue); cerr != nil {
			w.log().Warn("could not close the approval issue", "issue", issue, "err", cerr)
		}
	}
}

func requestBody(req Request, until time.Time) string {
	var b strings.Builder
	b.WriteString("### nix-deploy is waiting for approval\n\n")
	b.WriteString(req.Summary)
	if !strings.HasSuffix(req.Summary, "\n") {
		b.WriteString("\n")
	}
	b.WriteString("\nReply with a comment starting with `/approve` to deploy, or `/deny` to cancel.\n")
	if len(req.Policy.Approvers) > 0 {
		fmt.Fprintf(&b, "Allowed to decide: @%s.", strings.Join(req.Policy.Approvers, ", @"))
	} else {
		b.WriteString("Anyone with write permission on the repository may decide")
		if req.Policy.Exclude != "" {
			fmt.Fprintf(&b, ", except %s who started the run", req.Policy.Exclude)
		}
		b.WriteString(".")
	}
	fmt.Fprintf(&b, " Waiting until %s.\n", until.UTC().Format("2006-01-02 15:04:05 UTC"))
	if req.RunURL != "" {
		fmt.Fprintf(&b, "\n<sub>[workflow run](%s)</sub>\n", req.RunURL)
	}
	return b.String()
}

func (w *Waiter) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Waiter) sleep(ctx context.Context, d time.Duration) error {
	if w.Sleep != nil {
		return w.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Waiter) log() *slog.Logger {
	if w.Log != nil {
		return w.Log
	}
	return slog.New(slog.DiscardHandler)
}
