package report

import (
	"context"
	"fmt"
	"strings"

	"github.com/nix-deploy-action/nix-deploy-action/internal/plan"
	"github.com/nix-deploy-action/nix-deploy-action/internal/render"
)

// Marker is the hidden first line of the sticky plan comment for one plan
// file and environment. Values are escaped so that no file name can end the
// HTML comment or forge another marker.
func Marker(planFile, env string) string {
	return fmt.Sprintf("<!-- nix-deploy:plan file=%s env=%s -->", markerValue(planFile), markerValue(env))
}

func markerValue(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("._/-@+", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// PlanComment is the body of the sticky comment: the marker, the plan's
// markdown, then the head commit and a link to the run. It fits GitHub's
// comment limit (render.CommentLimit).
func PlanComment(p *plan.Plan, run Run) string {
	return render.PlanMarkdown(p, render.MarkdownOptions{
		Header: Marker(p.PlanFile, p.Environment),
		Footer: footer(run),
	})
}

func footer(run Run) string {
	var parts []string
	if run.HeadSHA != "" {
		parts = append(parts, "Built from "+run.HeadSHA)
	}
	if run.RunURL != "" {
		parts = append(parts, fmt.Sprintf("[workflow run](%s)", run.RunURL))
	}
	if len(parts) == 0 {
		return ""
	}
	return "<sub>" + strings.Join(parts, " · ") + "</sub>"
}

// UpsertComment makes body the one comment of issue that starts with
// marker: the existing one is edited in place, so a pull request keeps a
// single plan comment however often it is pushed to. When several carry the
// marker, the newest one written by an app (the job token's identity) wins;
// a comment the token may not edit is left alone and a new one is written.
// create is false when nothing exists yet and only an update is wanted.
func UpsertComment(ctx context.Context, api Comments, issue int, marker, body string, create bool) (c Comment, written bool, err error) {
	comments, err := api.ListComments(ctx, issue, timeZero)
	if err != nil {
		return Comment{}, false, fmt.Errorf("list comments of #%d: %w", issue, err)
	}
	var mine *Comment
	for i := range comments {
		cm := &comments[i]
		if !strings.HasPrefix(cm.Body, marker) {
			continue
		}
		if mine == nil || cm.Bot || !mine.Bot {
			mine = cm
		}
	}
	if mine != nil {
		if mine.Body == body {
			return *mine, false, nil
		}
		c, err := api.EditComment(ctx, mine.ID, body)
		if err == nil {
			return c, true, nil
		}
		if !isNotPermitted(err) {
			return Comment{}, false, fmt.Errorf("edit comment %d: %w", mine.ID, err)
		}
	} else if !create {
		return Comment{}, false, nil
	}
	c, err = api.CreateComment(ctx, issue, body)
	if err != nil {
		return Comment{}, false, fmt.Errorf("comment on #%d: %w", issue, err)
	}
	return c, true, nil
}
