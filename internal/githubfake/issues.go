package githubfake

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxBodyBytes is GitHub's limit on comment, issue and pull request bodies:
// "Body is too long (maximum is 65536 characters)". Reports disagree on
// characters or bytes, so the fake counts UTF-8 bytes, the stricter reading.
const maxBodyBytes = 65536

func (c *call) checkBody(body string) bool {
	if len(body) > maxBodyBytes {
		c.reject("body is too long (%d bytes, maximum is %d)", len(body), maxBodyBytes)
		return false
	}
	return true
}

func (c *call) commentJSON(cm *Comment) map[string]any {
	return map[string]any{
		"id":                 cm.ID,
		"node_id":            nodeID("IC", cm.ID),
		"url":                c.api("/repos/%s/issues/comments/%d", cm.Repo, cm.ID),
		"html_url":           c.web("/%s/issues/%d#issuecomment-%d", cm.Repo, cm.Issue, cm.ID),
		"issue_url":          c.api("/repos/%s/issues/%d", cm.Repo, cm.Issue),
		"body":               cm.Body,
		"user":               c.user(cm.User),
		"created_at":         stamp(cm.CreatedAt),
		"updated_at":         stamp(cm.UpdatedAt),
		"author_association": "NONE",
	}
}

func listComments(c *call) {
	key, n := c.repo(), int(c.id("issue_number"))
	if c.s.issue(key, n) == nil {
		c.notFound()
		return
	}
	var since time.Time
	if v := c.query("since"); v != "" {
		// The description has already checked the date-time format.
		since, _ = time.Parse(time.RFC3339, v)
	}
	var items []map[string]any
	for _, cm := range c.s.comments {
		if cm.Repo == key && cm.Issue == n && !cm.UpdatedAt.Before(since) {
			items = append(items, c.commentJSON(cm))
		}
	}
	c.replyPage("issue-comment", items, nil)
}

func getComment(c *call) {
	cm := c.s.comment(c.repo(), c.id("comment_id"))
	if cm == nil {
		c.notFound()
		return
	}
	c.reply(http.StatusOK, "issue-comment", c.commentJSON(cm))
}

func createComment(c *call) {
	key, n := c.repo(), int(c.id("issue_number"))
	var req struct {
		Body string `json:"body"`
	}
	if !c.decode(&req) || !c.checkBody(req.Body) {
		return
	}
	if c.s.issue(key, n) == nil {
		c.notFound()
		return
	}
	now := c.s.now()
	cm := &Comment{ID: c.s.nextID(), Repo: key, Issue: n, User: c.s.actor, Body: req.Body, CreatedAt: now, UpdatedAt: now}
	c.s.comments = append(c.s.comments, cm)
	c.reply(http.StatusCreated, "issue-comment", c.commentJSON(cm))
	c.ans.header.Set("Location", c.api("/repos/%s/issues/comments/%d", key, cm.ID))
}

func updateComment(c *call) {
	var req struct {
		Body string `json:"body"`
	}
	if !c.decode(&req) || !c.checkBody(req.Body) {
		return
	}
	cm := c.s.comment(c.repo(), c.id("comment_id"))
	if cm == nil {
		c.notFound()
		return
	}
	if cm.User != c.s.actor {
		c.s.violation("%s %s: %s edits a comment by %s; a workflow token may not", c.r.Method, c.r.URL.Path, c.s.actor, cm.User)
		c.ans = errorAnswer(http.StatusForbidden, "Resource not accessible by integration")
		return
	}
	cm.Body = req.Body
	cm.UpdatedAt = c.s.now()
	c.reply(http.StatusOK, "issue-comment", c.commentJSON(cm))
}

func deleteComment(c *call) {
	key, id := c.repo(), c.id("comment_id")
	i := slices.IndexFunc(c.s.comments, func(cm *Comment) bool { return cm.Repo == key && cm.ID == id })
	if i < 0 {
		c.notFound()
		return
	}
	c.s.comments = slices.Delete(c.s.comments, i, i+1)
	c.noContent()
}

func (c *call) issueJSON(is *Issue) map[string]any {
	comments := 0
	for _, cm := range c.s.comments {
		if cm.Repo == is.Repo && cm.Issue == is.Number {
			comments++
		}
	}
	labels := make([]any, len(is.Labels))
	for i, l := range is.Labels {
		labels[i] = map[string]any{"name": l}
	}
	assignees := make([]any, len(is.Assignees))
	for i, a := range is.Assignees {
		assignees[i] = c.user(a)
	}
	var assignee any
	if len(is.Assignees) > 0 {
		assignee = c.user(is.Assignees[0])
	}
	id := int64(is.Number) + 5_000_000
	m := map[string]any{
		"id":             id,
		"node_id":        nodeID("I", id),
		"number":         is.Number,
		"title":          is.Title,
		"body":           is.Body,
		"state":          is.State,
		"user":           c.user(is.User),
		"labels":         labels,
		"assignee":       assignee,
		"assignees":      assignees,
		"comments":       comments,
		"locked":         false,
		"url":            c.api("/repos/%s/issues/%d", is.Repo, is.Number),
		"repository_url": c.api("/repos/%s", is.Repo),
		"html_url":       c.web("/%s/issues/%d", is.Repo, is.Number),
	}
	if is.PullRequest {
		m["pull_request"] = map[string]any{
			"url":      c.api("/repos/%s/pulls/%d", is.Repo, is.Number),
			"html_url": c.web("/%s/pull/%d", is.Repo, is.Number),
			"diff_url": nil, "patch_url": nil,
		}
	}
	return m
}

type issueRequest struct {
	Title     *any      `json:"title"`
	Body      *string   `json:"body"`
	State     *string   `json:"state"`
	Labels    []any     `json:"labels"`
	Assignees *[]string `json:"assignees"`
}

func labelNames(ls []any) []string {
	var out []string
	for _, l := range ls {
		switch v := l.(type) {
		case string:
			out = append(out, v)
		case map[string]any:
			if name, ok := v["name"].(string); ok {
				out = append(out, name)
			}
		}
	}
	return out
}

func titleString(t *any) string {
	switch v := (*t).(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

func createIssue(c *call) {
	var req issueRequest
	if !c.decode(&req) {
		return
	}
	if req.Title == nil {
		c.reject("title is required")
		return
	}
	is := Issue{Repo: c.repo(), Title: titleString(req.Title), User: c.s.actor, Labels: labelNames(req.Labels)}
	if req.Body != nil {
		if !c.checkBody(*req.Body) {
			return
		}
		is.Body = *req.Body
	}
	if req.Assignees != nil {
		is.Assignees = *req.Assignees
	}
	p := c.s.addIssue(is)
	c.reply(http.StatusCreated, "issue", c.issueJSON(p))
	c.ans.header.Set("Location", c.api("/repos/%s/issues/%d", p.Repo, p.Number))
}

func getIssue(c *call) {
	is := c.s.issue(c.repo(), int(c.id("issue_number")))
	if is == nil {
		c.notFound()
		return
	}
	c.reply(http.StatusOK, "issue", c.issueJSON(is))
}

func updateIssue(c *call) {
	var req issueRequest
	if !c.decode(&req) {
		return
	}
	is := c.s.issue(c.repo(), int(c.id("issue_number")))
	if is == nil {
		c.notFound()
		return
	}
	if req.Body != nil && !c.checkBody(*req.Body) {
		return
	}
	if req.Title != nil {
		is.Title = titleString(req.Title)
	}
	if req.Body != nil {
		is.Body = *req.Body
	}
	if req.State != nil {
		is.State = *req.State
	}
	if req.Labels != nil {
		is.Labels = labelNames(req.Labels)
	}
	if req.Assignees != nil {
		is.Assignees = *req.Assignees
	}
	if pr := c.s.pulls[is.Repo][is.Number]; pr != nil {
		pr.Title, pr.Body, pr.State = is.Title, is.Body, is.State
	}
	c.reply(http.StatusOK, "issue", c.issueJSON(is))
}

func (c *call) pullJSON(pr *PullRequest, schema string) map[string]any {
	headRepo := pr.HeadRepo
	if headRepo == "" {
		headRepo = pr.Repo
	}
	id := int64(pr.Number) + 7_000_000
	m := c.issueJSON(c.s.issue(pr.Repo, pr.Number))
	delete(m, "pull_request")
	delete(m, "repository_url")
	delete(m, "comments")
	m["id"] = id
	m["node_id"] = nodeID("PR", id)
	m["url"] = c.api("/repos/%s/pulls/%d", pr.Repo, pr.Number)
	m["html_url"] = c.web("/%s/pull/%d", pr.Repo, pr.Number)
	m["issue_url"] = c.api("/repos/%s/issues/%d", pr.Repo, pr.Number)
	m["draft"] = pr.Draft
	m["head"] = c.branch(headRepo, pr.HeadRef, pr.HeadSHA, headRepo != pr.Repo)
	m["base"] = c.branch(pr.Repo, pr.BaseRef, pr.BaseSHA, false)
	if schema == "pull-request" {
		m["merged"] = false
		m["mergeable"] = nil
		m["mergeable_state"] = "unknown"
	}
	return m
}

func (c *call) branch(repo, ref, sha string, fork bool) map[string]any {
	owner, name, _ := strings.Cut(repo, "/")
	return map[string]any{
		"label": owner + ":" + ref,
		"ref":   ref,
		"sha":   sha,
		"user":  c.user(owner),
		"repo": map[string]any{
			"name":      name,
			"full_name": repo,
			"fork":      fork,
			"owner":     c.user(owner),
			"url":       c.api("/repos/%s", repo),
			"html_url":  c.web("/%s", repo),
		},
	}
}

func getPull(c *call) {
	pr := c.s.pulls[c.repo()][int(c.id("pull_number"))]
	if pr == nil {
		c.notFound()
		return
	}
	c.reply(http.StatusOK, "pull-request", c.pullJSON(pr, "pull-request"))
}

func listPulls(c *call) {
	state := c.query("state")
	if state == "" {
		state = "open"
	}
	head, base := c.query("head"), c.query("base")
	var prs []*PullRequest
	for _, pr := range c.s.pulls[c.repo()] {
		headRepo := pr.HeadRepo
		if headRepo == "" {
			headRepo = pr.Repo
		}
		owner, _, _ := strings.Cut(headRepo, "/")
		switch {
		case state != "all" && pr.State != state:
		case head != "" && head != owner+":"+pr.HeadRef:
		case base != "" && base != pr.BaseRef:
		default:
			prs = append(prs, pr)
		}
	}
	// GitHub's default order: newest first.
	slices.SortFunc(prs, func(a, b *PullRequest) int { return b.Number - a.Number })
	items := make([]map[string]any, len(prs))
	for i, pr := range prs {
		items[i] = c.pullJSON(pr, "pull-request-simple")
	}
	c.replyPage("pull-request-simple", items, nil)
}

func createPull(c *call) {
	var req struct {
		Title string `json:"title"`
		Head  string `json:"head"`
		Base  string `json:"base"`
		Body  string `json:"body"`
		Draft bool   `json:"draft"`
	}
	if !c.decode(&req) || !c.checkBody(req.Body) {
		return
	}
	key := c.repo()
	owner, _, _ := strings.Cut(key, "/")
	headRepo, headRef := key, req.Head
	if o, ref, ok := strings.Cut(req.Head, ":"); ok {
		headRef = ref
		if o != owner {
			headRepo = o + "/" + strings.SplitN(key, "/", 2)[1]
		}
	}
	for _, pr := range c.s.pulls[key] {
		if pr.State == "open" && pr.HeadRef == headRef && pr.BaseRef == req.Base {
			c.reject("a pull request already exists for %s:%s", owner, headRef)
			return
		}
	}
	pr := c.s.addPull(PullRequest{
		Repo: key, Title: req.Title, Body: req.Body, User: c.s.actor, Draft: req.Draft,
		HeadRef: headRef, HeadSHA: fakeSHA(headRef), HeadRepo: headRepo,
		BaseRef: req.Base, BaseSHA: fakeSHA(req.Base),
	})
	c.reply(http.StatusCreated, "pull-request", c.pullJSON(pr, "pull-request"))
	c.ans.header.Set("Location", c.api("/repos/%s/pulls/%d", key, pr.Number))
}

func updatePull(c *call) {
	var req struct {
		Title *string `json:"title"`
		Body  *string `json:"body"`
		State *string `json:"state"`
		Base  *string `json:"base"`
	}
	if !c.decode(&req) {
		return
	}
	pr := c.s.pulls[c.repo()][int(c.id("pull_number"))]
	if pr == nil {
		c.notFound()
		return
	}
	if req.Body != nil && !c.checkBody(*req.Body) {
		return
	}
	is := c.s.issue(pr.Repo, pr.Number)
	if req.Title != nil {
		pr.Title, is.Title = *req.Title, *req.Title
	}
	if req.Body != nil {
		pr.Body, is.Body = *req.Body, *req.Body
	}
	if req.State != nil {
		pr.State, is.State = *req.State, *req.State
	}
	if req.Base != nil {
		pr.BaseRef = *req.Base
	}
	c.reply(http.StatusOK, "pull-request", c.pullJSON(pr, "pull-request"))
}
