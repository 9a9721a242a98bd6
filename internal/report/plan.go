package report

import (
	"context"
	"log/slog"
	"time"

	"github.com/nix-deploy-action/nix-deploy-action/internal/plan"
)

// CommentMode says when the plan is commented on a pull request.
type CommentMode string

// The comment modes of the `comment` input.
const (
	// CommentAuto comments when something changes, and keeps an existing
	// comment up to date when nothing does.
	CommentAuto   CommentMode = "auto"
	CommentAlways CommentMode = "always"
	CommentNever  CommentMode = "never"
)

// Plan publishes a plan: the sticky comment on the pull request (PR 0
// means there is none) and the nix-deploy/plan check run.
type Plan struct {
	API     API
	Warn    *slog.Logger
	Run     Run
	PR      int
	Comment CommentMode
	Checks  bool
	Now     func() time.Time
}

// Publish posts p. Failures are warnings; the returned comment URL is ""
// when nothing was posted.
func (pp *Plan) Publish(ctx context.Context, p *plan.Plan) (commentURL string) {
	if pp.PR > 0 && pp.Comment != CommentNever {
		create := pp.Comment == CommentAlways || len(p.ChangedNodes()) > 0 || p.Failed()
		c, _, err := UpsertComment(ctx, pp.API, pp.PR, Marker(p.PlanFile, p.Environment), PlanComment(p, pp.Run), create)
		if err != nil {
			pp.Warn.Warn("could not post the plan comment", "err", err)
		}
		commentURL = c.URL
	}
	if pp.Checks && pp.Run.HeadSHA != "" {
		pp.check(ctx, PlanCheck(p, pp.Run, pp.now()))
	}
	return commentURL
}

// PublishCheck posts a prepared nix-deploy/plan check run, such as
// PlanErrorsCheck.
func (pp *Plan) PublishCheck(ctx context.Context, c CheckRun) {
	if pp.Checks && pp.Run.HeadSHA != "" {
		pp.check(ctx, c)
	}
}

// check creates a completed check run, its annotations 50 per request, or
// a commit status when check runs are refused.
func (pp *Plan) check(ctx context.Context, c CheckRun) {
	var rest []Annotation
	if len(c.Annotations) > AnnotationsPerRequest {
		c.Annotations, rest = c.Annotations[:AnnotationsPerRequest], c.Annotations[AnnotationsPerRequest:]
	}
	id, err := pp.API.CreateCheckRun(ctx, c)
	if isNotPermitted(err) {
		pp.Warn.Warn("the token may not create check runs (a personal access token?): using a commit status instead", "err", err)
		st := CommitStatus{Context: c.Name, State: "success", Description: shorten(c.Title, DescriptionLimit), TargetURL: pp.Run.RunURL}
		if c.Conclusion != Success && c.Conclusion != Neutral && c.Conclusion != Skipped {
			st.State = "failure"
		}
		if err := pp.API.CreateStatus(ctx, c.HeadSHA, st); err != nil {
			pp.Warn.Warn("could not set the commit status", "err", err)
		}
		return
	}
	if err != nil {
		pp.Warn.Warn("could not create the check run", "name", c.Name, "err", err)
		return
	}
	for len(rest) > 0 {
		n := min(len(rest), AnnotationsPerRequest)
		upd := CheckRun{Name: c.Name, Title: c.Title, Summary: c.Summary, Annotations: rest[:n]}
		rest = rest[n:]
		if err := pp.API.UpdateCheckRun(ctx, id, upd); err != nil {
			pp.Warn.Warn("could not add annotations to the check run", "name", c.Name, "err", err)
			return
		}
	}
}

func (pp *Plan) now() time.Time {
	if pp.Now != nil {
		return pp.Now()
	}
	return time.Now()
}
