package githubfake

import (
	"encoding/json"
	"net/http"
	"slices"
)

func (c *call) deploymentJSON(d *Deployment) map[string]any {
	var payload any = map[string]any{}
	if len(d.Payload) > 0 {
		_ = json.Unmarshal(d.Payload, &payload)
	}
	return map[string]any{
		"id":                     d.ID,
		"node_id":                nodeID("DE", d.ID),
		"url":                    c.api("/repos/%s/deployments/%d", d.Repo, d.ID),
		"statuses_url":           c.api("/repos/%s/deployments/%d/statuses", d.Repo, d.ID),
		"repository_url":         c.api("/repos/%s", d.Repo),
		"sha":                    d.SHA,
		"ref":                    d.Ref,
		"task":                   d.Task,
		"environment":            d.Environment,
		"original_environment":   d.Environment,
		"description":            optional(d.Description),
		"payload":                payload,
		"creator":                c.user(d.Creator),
		"transient_environment":  d.TransientEnvironment,
		"production_environment": d.ProductionEnvironment,
		"created_at":             stamp(d.CreatedAt),
		"updated_at":             stamp(d.CreatedAt),
	}
}

func listDeployments(c *call) {
	key := c.repo()
	q := c.r.URL.Query()
	var items []map[string]any
	for _, d := range slices.Backward(c.s.deployments) {
		switch {
		case d.Repo != key:
		case q.Has("sha") && q.Get("sha") != d.SHA:
		case q.Has("ref") && q.Get("ref") != d.Ref:
		case q.Has("task") && q.Get("task") != d.Task:
		case q.Has("environment") && q.Get("environment") != d.Environment:
		default:
			items = append(items, c.deploymentJSON(d))
		}
	}
	c.replyPage("deployment", items, nil)
}

func getDeployment(c *call) {
	d := c.s.deployment(c.repo(), c.id("deployment_id"))
	if d == nil {
		c.notFound()
		return
	}
	c.reply(http.StatusOK, "deployment", c.deploymentJSON(d))
}

func createDeployment(c *call) {
	var req struct {
		Ref                   string          `json:"ref"`
		Task                  *string         `json:"task"`
		AutoMerge             *bool           `json:"auto_merge"`
		RequiredContexts      []string        `json:"required_contexts"`
		Payload               json.RawMessage `json:"payload"`
		Environment           *string         `json:"environment"`
		Description           *string         `json:"description"`
		TransientEnvironment  bool            `json:"transient_environment"`
		ProductionEnvironment *bool           `json:"production_environment"`
	}
	if !c.decode(&req) {
		return
	}
	d := &Deployment{
		Repo: c.repo(), Ref: req.Ref, SHA: fakeSHA(req.Ref), Task: "deploy", Environment: "production",
		Creator: c.s.actor, AutoMerge: true, TransientEnvironment: req.TransientEnvironment,
	}
	setIf(&d.Task, req.Task)
	setIf(&d.Environment, req.Environment)
	setIf(&d.Description, req.Description)
	if req.AutoMerge != nil {
		d.AutoMerge = *req.AutoMerge
	}
	if c.has("required_contexts") {
		d.RequiredContexts = append([]string{}, req.RequiredContexts...)
	}
	if s := string(req.Payload); s != "" && s != "null" {
		// GitHub accepts an object or a JSON string holding one.
		var str string
		if json.Unmarshal(req.Payload, &str) == nil {
			d.Payload = json.RawMessage(str)
		} else {
			d.Payload = req.Payload
		}
	}
	d.ProductionEnvironment = d.Environment == "production"
	if req.ProductionEnvironment != nil {
		d.ProductionEnvironment = *req.ProductionEnvironment
	}
	d.ID = c.s.nextID()
	d.CreatedAt = c.s.now()
	c.s.deployments = append(c.s.deployments, d)
	c.reply(http.StatusCreated, "deployment", c.deploymentJSON(d))
}

func (c *call) deploymentStatusJSON(d *Deployment, ds *DeploymentStatus) map[string]any {
	return map[string]any{
		"id":              ds.ID,
		"node_id":         nodeID("DES", ds.ID),
		"url":             c.api("/repos/%s/deployments/%d/statuses/%d", d.Repo, d.ID, ds.ID),
		"deployment_url":  c.api("/repos/%s/deployments/%d", d.Repo, d.ID),
		"repository_url":  c.api("/repos/%s", d.Repo),
		"state":           ds.State,
		"description":     ds.Description,
		"environment":     ds.Environment,
		"environment_url": ds.EnvironmentURL,
		"log_url":         ds.LogURL,
		"target_url":      ds.LogURL,
		"creator":         c.user(ds.Creator),
		"created_at":      stamp(ds.CreatedAt),
		"updated_at":      stamp(ds.CreatedAt),
	}
}

func listDeploymentStatuses(c *call) {
	d := c.s.deployment(c.repo(), c.id("deployment_id"))
	if d == nil {
		c.notFound()
		return
	}
	var items []map[string]any
	for _, ds := range slices.Backward(c.s.depStatuses) {
		if ds.DeploymentID == d.ID {
			items = append(items, c.deploymentStatusJSON(d, ds))
		}
	}
	c.replyPage("deployment-status", items, nil)
}

func createDeploymentStatus(c *call) {
	var req struct {
		State          string  `json:"state"`
		TargetURL      *string `json:"target_url"`
		LogURL         *string `json:"log_url"`
		Description    *string `json:"description"`
		Environment    *string `json:"environment"`
		EnvironmentURL *string `json:"environment_url"`
		AutoInactive   *bool   `json:"auto_inactive"`
	}
	if !c.decode(&req) {
		return
	}
	d := c.s.deployment(c.repo(), c.id("deployment_id"))
	if d == nil {
		c.notFound()
		return
	}
	ds := &DeploymentStatus{DeploymentID: d.ID, State: req.State, Environment: d.Environment, Creator: c.s.actor}
	setIf(&ds.LogURL, req.TargetURL)
	setIf(&ds.LogURL, req.LogURL)
	setIf(&ds.Description, req.Description)
	setIf(&ds.Environment, req.Environment)
	setIf(&ds.EnvironmentURL, req.EnvironmentURL)
	if n := len([]rune(ds.Description)); n > maxDescription {
		c.reject("description is too long (%d characters, maximum is %d)", n, maxDescription)
		return
	}
	ds.ID = c.s.nextID()
	ds.CreatedAt = c.s.now()
	c.s.depStatuses = append(c.s.depStatuses, ds)
	if ds.State == "success" && (req.AutoInactive == nil || *req.AutoInactive) {
		c.s.deactivatePrior(d)
	}
	c.reply(http.StatusCreated, "deployment-status", c.deploymentStatusJSON(d, ds))
	c.ans.header.Set("Location", c.api("/repos/%s/deployments/%d/statuses/%d", d.Repo, d.ID, ds.ID))
}

// deactivatePrior does what auto_inactive promises: prior non-transient,
// non-production deployments to the same environment whose last state is
// success get an inactive status.
func (s *Server) deactivatePrior(current *Deployment) {
	for _, d := range s.deployments {
		if d.ID == current.ID || d.Repo != current.Repo || d.Environment != current.Environment ||
			d.TransientEnvironment || d.ProductionEnvironment {
			continue
		}
		var last *DeploymentStatus
		for _, ds := range s.depStatuses {
			if ds.DeploymentID == d.ID {
				last = ds
			}
		}
		if last != nil && last.State == "success" {
			s.depStatuses = append(s.depStatuses, &DeploymentStatus{
				ID: s.nextID(), DeploymentID: d.ID, State: "inactive", Environment: d.Environment,
				Creator: s.actor, CreatedAt: s.now(),
			})
		}
	}
}
