package githubfake

import (
	"net/http"
	"net/url"
	"slices"
)

func (c *call) environmentJSON(id int64, name string) map[string]any {
	return map[string]any{
		"id":       id,
		"node_id":  nodeID("EN", id),
		"name":     name,
		"url":      c.api("/repos/%s/environments/%s", c.repo(), url.PathEscape(name)),
		"html_url": c.web("/%s/deployments/activity_log?environments_filter=%s", c.repo(), url.QueryEscape(name)),
	}
}

func listApprovals(c *call) {
	var items []any
	for _, a := range c.s.approvals[c.id("run_id")] {
		envs := make([]any, len(a.Environments))
		for i, name := range a.Environments {
			envs[i] = c.environmentJSON(userID("env:"+name), name)
		}
		items = append(items, c.render("environment-approvals", map[string]any{
			"environments": envs,
			"state":        a.State,
			"user":         c.user(a.User),
			"comment":      a.Comment,
		}))
	}
	if items == nil {
		items = []any{}
	}
	c.ans = jsonAnswer(http.StatusOK, items)
}

func listPendingDeployments(c *call) {
	items := []any{}
	for _, p := range c.s.pending[c.id("run_id")] {
		reviewers := make([]any, len(p.Reviewers))
		for i, r := range p.Reviewers {
			reviewers[i] = map[string]any{"type": "User", "reviewer": c.user(r)}
		}
		var started any
		if p.WaitTimer > 0 {
			started = placeholderTime
		}
		items = append(items, c.render("pending-deployment", map[string]any{
			"environment":              c.environmentJSON(p.EnvironmentID, p.Environment),
			"wait_timer":               p.WaitTimer,
			"wait_timer_started_at":    started,
			"current_user_can_approve": p.CurrentUserCanApprove,
			"reviewers":                reviewers,
		}))
	}
	c.ans = jsonAnswer(http.StatusOK, items)
}

// reviewPendingDeployments approves or rejects environments a run waits on,
// as a required reviewer does; the review shows up in the run's approvals.
func reviewPendingDeployments(c *call) {
	var req struct {
		EnvironmentIDs []int64 `json:"environment_ids"`
		State          string  `json:"state"`
		Comment        string  `json:"comment"`
	}
	if !c.decode(&req) {
		return
	}
	run := c.id("run_id")
	review := Approval{User: c.s.actor, State: req.State, Comment: req.Comment}
	left := c.s.pending[run][:0:0]
	for _, p := range c.s.pending[run] {
		if !slices.Contains(req.EnvironmentIDs, p.EnvironmentID) {
			left = append(left, p)
			continue
		}
		if !p.CurrentUserCanApprove {
			c.reject("%s is not a required reviewer of environment %s", c.s.actor, p.Environment)
			return
		}
		review.Environments = append(review.Environments, p.Environment)
	}
	if len(review.Environments) != len(req.EnvironmentIDs) {
		c.reject("environment_ids %v are not all pending for run %d", req.EnvironmentIDs, run)
		return
	}
	c.s.pending[run] = left
	c.s.approvals[run] = append(c.s.approvals[run], review)
	c.ans = jsonAnswer(http.StatusOK, []any{})
}

// roles maps a repository role to the permission GitHub reports next to it.
var roles = map[string]string{
	"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read", "none": "none",
}

func getPermission(c *call) {
	login := c.params["username"]
	role, ok := c.s.permissions[login]
	if !ok {
		role = "none"
	}
	perm, known := roles[role]
	if !known {
		c.s.violation("SetPermission(%q, %q): unknown role", login, role)
		perm = "none"
	}
	u := c.user(login)
	u["role_name"] = role
	c.reply(http.StatusOK, "repository-collaborator-permission", map[string]any{
		"permission": perm,
		"role_name":  role,
		"user":       u,
	})
}

func createDispatch(c *call) {
	var req struct {
		Ref    string         `json:"ref"`
		Inputs map[string]any `json:"inputs"`
	}
	if !c.decode(&req) {
		return
	}
	c.s.dispatches = append(c.s.dispatches, Dispatch{Repo: c.repo(), Workflow: c.params["workflow_id"], Ref: req.Ref, Inputs: req.Inputs})
	c.noContent()
}
