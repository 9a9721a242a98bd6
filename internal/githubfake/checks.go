package githubfake

import (
	"net/http"
	"slices"
)

// maxOutputBytes is the check run limit on output.summary and output.text.
// The description says 65535 characters; the fake counts UTF-8 bytes, the
// stricter reading, so multi-byte diffs cannot slip through here and fail on
// GitHub.
const maxOutputBytes = 65535

// maxDescription is GitHub's limit on commit and deployment status
// descriptions, in characters.
const maxDescription = 140

type checkRunOutputRequest struct {
	Title       *string      `json:"title"`
	Summary     *string      `json:"summary"`
	Text        *string      `json:"text"`
	Annotations []Annotation `json:"annotations"`
}

type checkRunRequest struct {
	Name        *string                `json:"name"`
	HeadSHA     string                 `json:"head_sha"`
	DetailsURL  *string                `json:"details_url"`
	ExternalID  *string                `json:"external_id"`
	Status      *string                `json:"status"`
	StartedAt   *string                `json:"started_at"`
	Conclusion  *string                `json:"conclusion"`
	CompletedAt *string                `json:"completed_at"`
	Output      *checkRunOutputRequest `json:"output"`
}

// apply checks a create or update request against the rules GitHub enforces
// beyond the description and applies it to run.
func (c *call) applyCheckRun(run *CheckRun, req checkRunRequest) bool {
	if req.Status != nil {
		switch *req.Status {
		case "waiting", "requested", "pending":
			c.reject("status %q can only be set by GitHub Actions", *req.Status)
			return false
		}
	}
	if req.Conclusion != nil && *req.Conclusion == "stale" {
		c.reject("conclusion stale can only be set by GitHub")
		return false
	}
	completing := (req.Status != nil && *req.Status == "completed") || req.CompletedAt != nil
	if completing && req.Conclusion == nil && run.Conclusion == "" {
		c.reject("conclusion is required when status is completed or completed_at is given")
		return false
	}
	if o := req.Output; o != nil {
		for _, text := range []*string{o.Summary, o.Text} {
			if text != nil && len(*text) > maxOutputBytes {
				c.reject("output text of %d bytes is over the %d limit", len(*text), maxOutputBytes)
				return false
			}
		}
		for i, a := range o.Annotations {
			if (a.StartColumn != 0 || a.EndColumn != 0) && a.StartLine != a.EndLine {
				c.reject("annotation %d: start_column and end_column need start_line == end_line", i)
				return false
			}
		}
	}
	setIf(&run.Name, req.Name)
	setIf(&run.DetailsURL, req.DetailsURL)
	setIf(&run.ExternalID, req.ExternalID)
	setIf(&run.Status, req.Status)
	setIf(&run.StartedAt, req.StartedAt)
	setIf(&run.CompletedAt, req.CompletedAt)
	if req.Conclusion != nil {
		run.Conclusion = *req.Conclusion
		run.Status = "completed"
	}
	if run.Status == "completed" && run.CompletedAt == "" {
		run.CompletedAt = stamp(c.s.now())
	}
	if o := req.Output; o != nil {
		setIf(&run.Output.Title, o.Title)
		setIf(&run.Output.Summary, o.Summary)
		setIf(&run.Output.Text, o.Text)
		run.Output.Annotations = append(run.Output.Annotations, o.Annotations...)
	}
	return true
}

func setIf(dst *string, v *string) {
	if v != nil {
		*dst = *v
	}
}

func (c *call) checkRunJSON(run *CheckRun) map[string]any {
	return map[string]any{
		"id":           run.ID,
		"node_id":      nodeID("CR", run.ID),
		"name":         run.Name,
		"head_sha":     run.HeadSHA,
		"status":       run.Status,
		"conclusion":   optional(run.Conclusion),
		"started_at":   optional(run.StartedAt),
		"completed_at": optional(run.CompletedAt),
		"external_id":  optional(run.ExternalID),
		"details_url":  optional(run.DetailsURL),
		"url":          c.api("/repos/%s/check-runs/%d", run.Repo, run.ID),
		"html_url":     c.web("/%s/runs/%d", run.Repo, run.ID),
		"output": map[string]any{
			"title":             optional(run.Output.Title),
			"summary":           optional(run.Output.Summary),
			"text":              optional(run.Output.Text),
			"annotations_count": len(run.Output.Annotations),
			"annotations_url":   c.api("/repos/%s/check-runs/%d/annotations", run.Repo, run.ID),
		},
		"check_suite":   map[string]any{"id": 1},
		"app":           nil,
		"pull_requests": []any{},
	}
}

func createCheckRun(c *call) {
	var req checkRunRequest
	if !c.decode(&req) {
		return
	}
	if !fullSHA.MatchString(req.HeadSHA) {
		c.reject("head_sha %q is not a full commit SHA", req.HeadSHA)
		return
	}
	run := &CheckRun{Repo: c.repo(), HeadSHA: req.HeadSHA, Status: "queued"}
	if !c.applyCheckRun(run, req) {
		return
	}
	if run.StartedAt == "" {
		run.StartedAt = stamp(c.s.now())
	}
	run.ID = c.s.nextID()
	c.s.checkRuns = append(c.s.checkRuns, run)
	c.reply(http.StatusCreated, "check-run", c.checkRunJSON(run))
}

func updateCheckRun(c *call) {
	var req checkRunRequest
	if !c.decode(&req) {
		return
	}
	run := c.s.checkRun(c.repo(), c.id("check_run_id"))
	if run == nil {
		c.notFound()
		return
	}
	next := *run
	next.Output.Annotations = slices.Clone(run.Output.Annotations)
	if !c.applyCheckRun(&next, req) {
		return
	}
	next.Updates++
	*run = next
	c.reply(http.StatusOK, "check-run", c.checkRunJSON(run))
}

func getCheckRun(c *call) {
	run := c.s.checkRun(c.repo(), c.id("check_run_id"))
	if run == nil {
		c.notFound()
		return
	}
	c.reply(http.StatusOK, "check-run", c.checkRunJSON(run))
}

func listCheckRunsForRef(c *call) {
	key, ref := c.repo(), c.params["ref"]
	name, status, filter := c.query("check_name"), c.query("status"), c.query("filter")
	var runs []*CheckRun
	for _, run := range slices.Backward(c.s.checkRuns) {
		switch {
		case run.Repo != key || run.HeadSHA != ref:
		case name != "" && run.Name != name:
		case status != "" && run.Status != status:
		case filter != "all" && slices.ContainsFunc(runs, func(r *CheckRun) bool { return r.Name == run.Name }):
			// "latest" (the default) keeps the newest run of each name.
		default:
			runs = append(runs, run)
		}
	}
	items := make([]map[string]any, len(runs))
	for i, run := range runs {
		items[i] = c.checkRunJSON(run)
	}
	c.replyPage("check-run", items, func(total int, page []any) any {
		return map[string]any{"total_count": total, "check_runs": page}
	})
}

func createStatus(c *call) {
	var req struct {
		State       string  `json:"state"`
		TargetURL   *string `json:"target_url"`
		Description *string `json:"description"`
		Context     *string `json:"context"`
	}
	if !c.decode(&req) {
		return
	}
	sha := c.params["sha"]
	if !fullSHA.MatchString(sha) {
		c.reject("%q is not a full commit SHA", sha)
		return
	}
	st := &Status{ID: c.s.nextID(), Repo: c.repo(), SHA: sha, State: req.State, Context: "default", Creator: c.s.actor, CreatedAt: c.s.now()}
	setIf(&st.TargetURL, req.TargetURL)
	setIf(&st.Description, req.Description)
	setIf(&st.Context, req.Context)
	if n := len([]rune(st.Description)); n > maxDescription {
		c.reject("description is too long (%d characters, maximum is %d)", n, maxDescription)
		return
	}
	c.s.statuses = append(c.s.statuses, st)
	c.reply(http.StatusCreated, "status", c.statusJSON(st))
	c.ans.header.Set("Location", c.api("/repos/%s/statuses/%s", st.Repo, st.SHA))
}

func (c *call) statusJSON(st *Status) map[string]any {
	return map[string]any{
		"id":          st.ID,
		"node_id":     nodeID("SC", st.ID),
		"url":         c.api("/repos/%s/statuses/%s", st.Repo, st.SHA),
		"state":       st.State,
		"description": optional(st.Description),
		"target_url":  optional(st.TargetURL),
		"context":     st.Context,
		"creator":     c.user(st.Creator),
		"created_at":  stamp(st.CreatedAt),
		"updated_at":  stamp(st.CreatedAt),
	}
}

func listStatuses(c *call) {
	key, ref := c.repo(), c.params["ref"]
	var items []map[string]any
	for _, st := range slices.Backward(c.s.statuses) {
		if st.Repo == key && st.SHA == ref {
			items = append(items, c.statusJSON(st))
		}
	}
	c.replyPage("status", items, nil)
}
