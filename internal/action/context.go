package action

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Context is what the action needs to know about the run: the GITHUB_*
// variables and the fields of the event payload it uses.
type Context struct {
	EventName       string
	Repository      string // "owner/repo"
	Owner, Repo     string
	SHA             string // GITHUB_SHA: the merge commit on pull_request events
	Ref             string
	Actor           string
	TriggeringActor string
	Workflow        string
	Job             string
	RunID           int64
	RunNumber       int64
	RunAttempt      int64
	ServerURL       string // https://github.com or the GHES host
	APIURL          string // https://api.github.com or https://HOST/api/v3
	Workspace       string
	Event           Event
}

// Event is the part of the event payload (GITHUB_EVENT_PATH) the action uses.
type Event struct {
	// PullRequest is set on pull_request and pull_request_target events.
	PullRequest *PullRequest
	// IssueNumber is the issue or pull request of issues and issue_comment
	// events.
	IssueNumber int
	// Comment is set on issue_comment events.
	Comment *Comment
	// Inputs are the workflow_dispatch inputs.
	Inputs map[string]string
	// Schedule is the cron line of a schedule event.
	Schedule string
	// After is the new head of a push event.
	After string
}

// PullRequest is the pull request of the event.
type PullRequest struct {
	Number   int
	HeadSHA  string
	HeadRef  string
	HeadRepo string // "owner/repo"; "" when the head repository was deleted
	BaseSHA  string
	BaseRef  string
	// Fork is true when the head is not a branch of the base repository (or
	// is itself a fork): the job then gets a read-only token and no secrets.
	Fork bool
}

// Comment is the comment of an issue_comment event. Its body is untrusted.
type Comment struct {
	ID   int64
	Body string
	User string
}

// Context reads the run's context from the environment and the event
// payload file.
func (rt *Runtime) Context() (*Context, error) {
	gc, err := rt.gha.Context()
	if err != nil {
		return nil, fmt.Errorf("read github context: %w", err)
	}
	c := &Context{
		EventName:       gc.EventName,
		Repository:      gc.Repository,
		SHA:             gc.SHA,
		Ref:             gc.Ref,
		Actor:           gc.Actor,
		TriggeringActor: gc.TriggeringActor,
		Workflow:        gc.Workflow,
		Job:             gc.Job,
		RunID:           gc.RunID,
		RunNumber:       gc.RunNumber,
		RunAttempt:      gc.RunAttempt,
		ServerURL:       strings.TrimSuffix(gc.ServerURL, "/"),
		APIURL:          strings.TrimSuffix(gc.APIURL, "/"),
		Workspace:       gc.Workspace,
	}
	c.Owner, c.Repo = gc.Repo()
	if gc.Event != nil {
		// The library has read and decoded the file already; re-encoding
		// the map keeps one reader of the file and one typed parser.
		data, err := json.Marshal(gc.Event)
		if err != nil {
			return nil, fmt.Errorf("read event payload %s: %w", gc.EventPath, err)
		}
		if c.Event, err = ParseEvent(data); err != nil {
			return nil, fmt.Errorf("read event payload %s: %w", gc.EventPath, err)
		}
	}
	return c, nil
}

// HeadSHA is the commit check runs and statuses belong on: the pull
// request's head on PR events (GITHUB_SHA is then a merge commit the PR page
// never shows), GITHUB_SHA otherwise.
func (c *Context) HeadSHA() string {
	if pr := c.Event.PullRequest; pr != nil && pr.HeadSHA != "" {
		return pr.HeadSHA
	}
	return c.SHA
}

// RunURL links to the run (to its attempt when re-run).
func (c *Context) RunURL() string {
	u := fmt.Sprintf("%s/%s/actions/runs/%d", c.ServerURL, c.Repository, c.RunID)
	if c.RunAttempt > 1 {
		u += fmt.Sprintf("/attempts/%d", c.RunAttempt)
	}
	return u
}

type payloadRepo struct {
	FullName string `json:"full_name"`
	Fork     bool   `json:"fork"`
}

type payload struct {
	PullRequest *struct {
		Number int `json:"number"`
		Head   struct {
			SHA  string       `json:"sha"`
			Ref  string       `json:"ref"`
			Repo *payloadRepo `json:"repo"`
		} `json:"head"`
		Base struct {
			SHA  string       `json:"sha"`
			Ref  string       `json:"ref"`
			Repo *payloadRepo `json:"repo"`
		} `json:"base"`
	} `json:"pull_request"`
	Issue *struct {
		Number int `json:"number"`
	} `json:"issue"`
	Comment *struct {
		ID   int64  `json:"id"`
		Body string `json:"body"`
		User *struct {
			Login string `json:"login"`
		} `json:"user"`
	} `json:"comment"`
	Inputs   map[string]any `json:"inputs"`
	Schedule string         `json:"schedule"`
	After    string         `json:"after"`
}

// ParseEvent reads the fields the action uses from an event payload. It
// accepts any JSON object; a payload of the wrong shape is an error, never a
// panic.
func ParseEvent(data []byte) (Event, error) {
	var p payload
	if err := json.Unmarshal(data, &p); err != nil {
		return Event{}, fmt.Errorf("parse event payload: %w", err)
	}
	ev := Event{Schedule: p.Schedule, After: p.After}
	if pr := p.PullRequest; pr != nil {
		ev.PullRequest = &PullRequest{
			Number:  pr.Number,
			HeadSHA: pr.Head.SHA,
			HeadRef: pr.Head.Ref,
			BaseSHA: pr.Base.SHA,
			BaseRef: pr.Base.Ref,
			Fork:    true,
		}
		if h, b := pr.Head.Repo, pr.Base.Repo; h != nil && h.FullName != "" {
			ev.PullRequest.HeadRepo = h.FullName
			ev.PullRequest.Fork = h.Fork || b == nil || !strings.EqualFold(h.FullName, b.FullName)
		}
		ev.IssueNumber = pr.Number
	}
	if p.Issue != nil {
		ev.IssueNumber = p.Issue.Number
	}
	if cm := p.Comment; cm != nil {
		ev.Comment = &Comment{ID: cm.ID, Body: cm.Body}
		if cm.User != nil {
			ev.Comment.User = cm.User.Login
		}
	}
	if len(p.Inputs) > 0 {
		ev.Inputs = make(map[string]string, len(p.Inputs))
		for k, v := range p.Inputs {
			if s, ok := v.(string); ok {
				ev.Inputs[k] = s
			} else {
				b, _ := json.Marshal(v)
				ev.Inputs[k] = string(b)
			}
		}
	}
	return ev, nil
}
