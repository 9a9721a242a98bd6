package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
	"github.com/nix-deploy-action/nix-deploy-action/internal/deploy"
	"github.com/nix-deploy-action/nix-deploy-action/internal/plan"
	"github.com/nix-deploy-action/nix-deploy-action/internal/render"
)

// PlanCheckName is the check run of a plan.
const PlanCheckName = "nix-deploy/plan"

// NodeCheckName is the check run of one node's deploy.
func NodeCheckName(env, node string) string { return "nix-deploy/" + env + "/" + node }

// PlanCheck is the completed nix-deploy/plan check run for a plan: failure
// when a profile did not build, neutral when a baseline could not be read,
// success otherwise.
func PlanCheck(p *plan.Plan, run Run, now time.Time) CheckRun {
	c := CheckRun{
		Name: PlanCheckName, HeadSHA: run.HeadSHA, Status: StatusCompleted,
		StartedAt: now, CompletedAt: now, DetailsURL: run.RunURL,
		Summary: render.PlanMarkdown(p, render.MarkdownOptions{Footer: footer(run), Limit: SummaryLimit}),
	}
	changed := len(p.ChangedNodes())
	switch {
	case p.Failed():
		c.Conclusion, c.Title = Failure, "Some profiles failed to build"
	case unknownBaseline(p):
		c.Conclusion, c.Title = Neutral, fmt.Sprintf("%d of %d nodes change; some baselines could not be read", changed, len(p.Nodes))
	default:
		c.Conclusion, c.Title = Success, fmt.Sprintf("%d of %d nodes change", changed, len(p.Nodes))
	}
	return c
}

func unknownBaseline(p *plan.Plan) bool {
	for _, n := range p.Nodes {
		for _, pr := range n.Profiles {
			if pr.Status == plan.Unknown {
				return true
			}
		}
	}
	return false
}

// PlanErrorsCheck is the failed nix-deploy/plan check run of an invalid
// plan file: one annotation per problem at its line. path makes a problem's
// file relative to the repository.
func PlanErrorsCheck(errs config.Errors, path func(string) string, run Run, now time.Time) CheckRun {
	var b strings.Builder
	fmt.Fprintf(&b, "### The deploy plan is invalid\n\n%d problem(s); nothing was built or contacted.\n\n", len(errs))
	var notes []Annotation
	for _, e := range errs {
		b.WriteString("- " + inlineCode(e.Error()) + "\n")
		if e.File == "" || e.Line <= 0 {
			continue
		}
		a := Annotation{Path: path(e.File), StartLine: e.Line, EndLine: e.Line, Level: LevelFailure, Title: "invalid deploy plan", Message: e.Msg}
		if e.Field != "" {
			a.Message = e.Field + ": " + e.Msg
		}
		if e.Column > 0 {
			a.StartColumn, a.EndColumn = e.Column, e.Column
		}
		notes = append(notes, a)
	}
	return CheckRun{
		Name: PlanCheckName, HeadSHA: run.HeadSHA, Status: StatusCompleted, Conclusion: Failure,
		StartedAt: now, CompletedAt: now, DetailsURL: run.RunURL,
		Title: "Invalid deploy plan", Summary: fit(b.String(), SummaryLimit), Annotations: notes,
	}
}

// NodeConclusion maps a node's outcome to its check run conclusion. Only
// deployed, dry-activated and unchanged nodes succeed, as the exit code says.
func NodeConclusion(o deploy.Outcome) Conclusion {
	switch {
	case o.OK():
		return Success
	case o == deploy.Skipped:
		return Skipped
	case o == deploy.Cancelled:
		return Cancelled
	}
	return Failure
}

// NodeState maps a node's outcome to a commit status state, for the
// fallback when check runs are refused.
func NodeState(o deploy.Outcome) string {
	switch {
	case o.OK():
		return "success"
	case o == deploy.Skipped, o == deploy.Cancelled:
		return "error"
	}
	return "failure"
}

// NodeDeploy is what a node's check run says.
type NodeDeploy struct {
	Env    string
	Result *deploy.NodeResult
	// Plan, when given (the reviewed plan), supplies the closure diff of
	// each profile.
	Plan       *plan.Plan
	ApprovedBy []string
	Run        Run
}

// NodeStartedCheck is a node's check run when its deploy starts.
func NodeStartedCheck(env, node string, run Run, started time.Time) CheckRun {
	return CheckRun{
		Name: NodeCheckName(env, node), HeadSHA: run.HeadSHA, Status: StatusInProgress,
		StartedAt: started, DetailsURL: run.RunURL,
		Title: "Deploying", Summary: fmt.Sprintf("Deploying `%s` to `%s`.", node, env),
	}
}

// NodeFinishedCheck is a node's completed check run.
func NodeFinishedCheck(nd NodeDeploy, completed time.Time) CheckRun {
	r := nd.Result
	return CheckRun{
		Name: NodeCheckName(nd.Env, r.Name), HeadSHA: nd.Run.HeadSHA, Status: StatusCompleted,
		Conclusion: NodeConclusion(r.Outcome), CompletedAt: completed, DetailsURL: nd.Run.RunURL,
		Title: outcomeTitle(r), Summary: fit(NodeSummary(nd), SummaryLimit),
	}
}

func outcomeTitle(r *deploy.NodeResult) string {
	t := strings.ToUpper(string(r.Outcome[:1])) + string(r.Outcome[1:])
	if r.Reason != "" {
		t += " (" + string(r.Reason) + ")"
	}
	return t
}

// NodeSummary is the markdown of a node's check run: outcome and why, who
// approved, the profiles, the timings per step, the errors and activation
// logs, and the closure diff of each profile from the reviewed plan.
func NodeSummary(nd NodeDeploy) string {
	r := nd.Result
	var b strings.Builder
	fmt.Fprintf(&b, "### `%s` → `%s`: %s\n\n", r.Name, nd.Env, outcomeTitle(r))
	if r.Outcome == deploy.RolledBack || r.Outcome == deploy.RollbackFailed {
		fmt.Fprintf(&b, "> [!WARNING]\n> %s\n\n", rollbackText(r))
	}
	if len(nd.ApprovedBy) > 0 {
		fmt.Fprintf(&b, "Approved by %s.\n\n", mentions(nd.ApprovedBy))
	}
	b.WriteString("| Profile | Outcome | Reason | Generation | Store path |\n|---|---|---|---|---|\n")
	for _, p := range r.Profiles {
		gen := ""
		if p.Generation > 0 {
			gen = fmt.Sprint(p.Generation)
		}
		path := ""
		if p.Path != "" {
			path = "`" + p.Path + "`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", p.Name, p.Outcome, p.Reason, gen, path)
	}
	if len(r.Steps) > 0 {
		b.WriteString("\n| Step | Profile | Time |\n|---|---|---|\n")
		for _, s := range r.Steps {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", s.Step, s.Profile, seconds(time.Duration(s.Duration)))
		}
		fmt.Fprintf(&b, "| **total** | | %s |\n", seconds(time.Duration(r.Duration)))
	}
	if r.Error != "" {
		b.WriteString("\n**Error**\n\n" + codeBlock(r.Error))
	}
	for _, p := range r.Profiles {
		if p.Error != "" && p.Error != r.Error {
			fmt.Fprintf(&b, "\n**%s**: error\n\n%s", p.Name, codeBlock(p.Error))
		}
		if p.Warning != "" {
			fmt.Fprintf(&b, "\n**%s**: warning\n\n%s", p.Name, codeBlock(p.Warning))
		}
		if len(p.Log) > 0 {
			fmt.Fprintf(&b, "\n<details><summary>%s: activation log</summary>\n\n%s</details>\n", p.Name, codeBlock(strings.Join(p.Log, "\n")))
		}
	}
	if nd.Plan != nil {
		for _, n := range nd.Plan.Nodes {
			if n.Name != r.Name {
				continue
			}
			for _, pr := range n.Profiles {
				if pr.Diff != nil && pr.Status != plan.Unchanged {
					fmt.Fprintf(&b, "\n<details><summary>%s: what changed</summary>\n\n%s\n</details>\n", pr.Name, render.DiffMarkdown(pr.Diff))
				}
			}
		}
	}
	if nd.Run.RunURL != "" {
		fmt.Fprintf(&b, "\n<sub>[workflow run](%s)</sub>\n", nd.Run.RunURL)
	}
	return b.String()
}

func rollbackText(r *deploy.NodeResult) string {
	if r.Outcome == deploy.RollbackFailed {
		return "The rollback failed: the node needs a human."
	}
	why := map[deploy.Reason]string{
		deploy.ReasonActivationFailed:  "the activation failed",
		deploy.ReasonActivationTimeout: "the activation timed out",
		deploy.ReasonUnreachable:       "the node could not be reached after activation",
		deploy.ReasonHealthCheck:       "a health check failed",
		deploy.ReasonDegraded:          "units failed to start",
		deploy.ReasonCancelled:         "the deploy was cancelled",
		deploy.ReasonConfirmTimeout:    "the health checks did not finish within the confirm timeout",
		deploy.ReasonBootFailed:        "the boot entry could not be written",
	}[r.Reason]
	if why == "" {
		why = "the deploy failed"
	}
	return "Rolled back because " + why + ": the node runs its previous generation."
}

func mentions(users []string) string {
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = "@" + u
	}
	return strings.Join(out, ", ")
}

func seconds(d time.Duration) string {
	return fmt.Sprintf("%.1fs", d.Seconds())
}
