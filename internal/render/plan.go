package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
	"github.com/nix-deploy-action/nix-deploy-action/internal/plan"
)

// CommentLimit is the byte budget for a PR comment: GitHub rejects bodies
// over 65,536 characters, and we keep room for the marker and footer.
const CommentLimit = 60_000

// PlanText writes the terminal report: per node and profile the store path,
// then unchanged or the diff.
func PlanText(w io.Writer, p *plan.Plan) {
	fmt.Fprintf(w, "Plan for %s (%s)\n", envName(p), againstText(p))
	for _, n := range p.Nodes {
		fmt.Fprintf(w, "\n== %s (%s)\n", n.Name, n.Host)
		if n.Error != "" {
			fmt.Fprintf(w, "   baseline unavailable: %s\n", firstLine(n.Error))
		}
		for _, pr := range n.Profiles {
			fmt.Fprintf(w, "-- %s/%s: %s\n", n.Name, pr.Name, pr.Status)
			switch pr.Status {
			case plan.Failed:
				fmt.Fprintf(w, "   build failed: %s\n", indent(pr.Error, "   "))
				continue
			case plan.Unknown:
				fmt.Fprintf(w, "   %s\n", pr.OutPath)
				fmt.Fprintf(w, "   baseline unavailable: %s\n", firstLine(pr.Baseline.Error))
				continue
			}
			if pr.Baseline.Path != "" && pr.Status != plan.Unchanged {
				fmt.Fprintf(w, "   %s\n-> %s\n", pr.Baseline.Path, pr.OutPath)
			} else {
				fmt.Fprintf(w, "   %s\n", pr.OutPath)
			}
			if pr.Status == plan.Unchanged || pr.Diff == nil {
				continue
			}
			var b strings.Builder
			DiffText(&b, pr.Diff)
			if s := strings.TrimRight(b.String(), "\n"); s != "" {
				fmt.Fprintf(w, "   %s\n", indent(s, "   "))
			}
		}
	}
}

// MarkdownOptions frame a plan comment.
type MarkdownOptions struct {
	// Header goes first (e.g. the hidden marker); Footer last (head SHA, run link).
	Header, Footer string
	// Limit is the byte budget; CommentLimit when zero.
	Limit int
}

// PlanMarkdown renders the plan for a PR comment or job summary: a summary
// table, then a collapsible diff per profile. When the budget is exceeded,
// details are dropped from the end and the comment says what was cut; the
// summary table is kept whole.
func PlanMarkdown(p *plan.Plan, o MarkdownOptions) string {
	limit := o.Limit
	if limit == 0 {
		limit = CommentLimit
	}
	var head strings.Builder
	if o.Header != "" {
		head.WriteString(o.Header + "\n")
	}
	changed := len(p.ChangedNodes())
	fmt.Fprintf(&head, "### nix-deploy plan for %s\n\n", envName(p))
	fmt.Fprintf(&head, "%d of %d nodes change (%s).\n\n", changed, len(p.Nodes), againstText(p))
	head.WriteString("| Node | Profile | Status | Paths +/− | Size Δ | Version changes |\n")
	head.WriteString("|---|---|---|---|---|---|\n")
	var rows []string
	for _, n := range p.Nodes {
		for _, pr := range n.Profiles {
			paths, size, versions := "", "", ""
			if s := pr.Summary; s != nil && pr.Status != plan.Unchanged {
				paths = fmt.Sprintf("+%d / −%d", s.PathsAdded, s.PathsRemoved)
				size = signedSize(s.SizeDelta)
				versions = fmt.Sprint(versionChanges(pr.Diff))
			}
			rows = append(rows, fmt.Sprintf("| %s | %s | %s | %s | %s | %s |\n", n.Name, pr.Name, statusCell(n, pr), paths, size, versions))
		}
	}
	footer := ""
	if o.Footer != "" {
		footer = "\n" + o.Footer + "\n"
	}

	var details []string
	for _, n := range p.Nodes {
		for _, pr := range n.Profiles {
			if d := profileDetails(n, pr); d != "" {
				details = append(details, d)
			}
		}
	}
	body := head.String()
	// The table is kept whole unless it alone is over budget (a very
	// large fleet); then its tail goes too, and the comment says so.
	for i, r := range rows {
		if len(body)+len(r)+len(tableCutNote)+len(footer)+20 > limit {
			body += fmt.Sprintf(tableCutNote, len(rows)-i)
			return body + footer
		}
		body += r
	}
	cut := 0
	for i, d := range details {
		note := ""
		if rest := len(details) - i - 1; rest > 0 {
			note = truncationNote(rest)
		}
		if len(body)+len(d)+len(note)+len(footer) > limit {
			cut = len(details) - i
			break
		}
		body += d
	}
	if cut > 0 {
		body += truncationNote(cut)
	}
	return body + footer
}

const tableCutNote = "\n> [!WARNING]\n> %d more row(s) were cut to fit GitHub's comment size limit. Run `nix-deploy plan` or see the job summary for the whole plan.\n"

func truncationNote(n int) string {
	return fmt.Sprintf("\n> [!NOTE]\n> Details of %d more profile(s) were cut to fit GitHub's comment size limit; the summary table above is complete. Run `nix-deploy plan` or see the job summary for the full diff.\n", n)
}

func profileDetails(n *plan.Node, pr *plan.Profile) string {
	var b strings.Builder
	switch {
	case pr.Status == plan.Failed:
		fmt.Fprintf(&b, "\n<details><summary><b>%s/%s</b>: build failed</summary>\n\n```\n%s\n```\n</details>\n", n.Name, pr.Name, fence(pr.Error))
	case pr.Status == plan.Unchanged || pr.Diff == nil:
		return ""
	default:
		fmt.Fprintf(&b, "\n<details><summary><b>%s/%s</b>: %s</summary>\n\n", n.Name, pr.Name, detailsTitle(pr))
		fmt.Fprintf(&b, "`%s`\n\n", pr.OutPath)
		b.WriteString(DiffMarkdown(pr.Diff))
		b.WriteString("\n</details>\n")
	}
	return b.String()
}

func detailsTitle(pr *plan.Profile) string {
	s := pr.Summary
	if s == nil {
		return string(pr.Status)
	}
	return fmt.Sprintf("%s, %d version changes, %s", pr.Status, versionChanges(pr.Diff), signedSize(s.SizeDelta))
}

func statusCell(n *plan.Node, pr *plan.Profile) string {
	switch pr.Status {
	case plan.Unknown:
		return "⚠️ baseline unavailable"
	case plan.Failed:
		return "❌ build failed"
	case plan.Unchanged:
		return "unchanged"
	case plan.New:
		return "🆕 new"
	}
	return "🔄 changed"
}

func envName(p *plan.Plan) string {
	if p.Environment == "" {
		return "every node"
	}
	return "`" + p.Environment + "`"
}

func againstText(p *plan.Plan) string {
	switch p.DiffAgainst {
	case plan.BaselineBase:
		return "compared with the build of " + p.BaseRef
	case plan.BaselineTarget:
		return "compared with what the nodes run now"
	}
	return "no baseline"
}

func versionChanges(d *closure.Diff) int {
	if d == nil {
		return 0
	}
	n := 0
	for i := range d.Changes {
		if d.Changes[i].VersionsChanged() {
			n++
		}
	}
	return n
}

// signedSize renders a byte delta with binary units and an explicit sign.
func signedSize(v int64) string {
	sign := "+"
	if v < 0 {
		sign, v = "−", -v
	}
	f := float64(v)
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%s%d B", sign, v)
	}
	return fmt.Sprintf("%s%.1f %s", sign, f, units[i])
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func indent(s, prefix string) string {
	return strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// fence keeps untrusted text from closing a code fence.
func fence(s string) string {
	return strings.ReplaceAll(s, "```", "`\u200b``")
}
