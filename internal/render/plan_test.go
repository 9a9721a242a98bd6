package render

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
	"github.com/nix-deploy-action/nix-deploy-action/internal/plan"
)

// samplePlan has one changed, one unchanged, one new, one failed and one
// unknown profile, the cases a comment must show.
func samplePlan(t *testing.T) *plan.Plan {
	before := side(t, "b", `
nixos-system-web1-1 1000
*openssl-3.0.12 800000
*hello-2.12.1 50000 shared
libfoo-1.1 40000`)
	after := side(t, "a", `
nixos-system-web1-2 1000
*openssl-3.0.13 800512
*hello-2.12.1 50000 shared
libfoo-1.2 60000
*curl-8.4.0 500000`)
	d := closure.Compare(before, after)
	fresh := closure.Compare(&closure.Closure{}, after)
	p := &plan.Plan{
		Version: plan.SchemaVersion, PlanFile: "deploy.yml", Environment: "production",
		DiffAgainst: plan.BaselineBase, BaseRef: "origin/main",
		Nodes: []*plan.Node{
			{Name: "web1", Host: "web1.example.com", Profiles: []*plan.Profile{
				{Name: "system", OutPath: after.Root, Status: plan.Changed, Diff: d, Summary: &d.Summary,
					Baseline: &plan.Baseline{Kind: plan.BaselineBase, Path: before.Root}},
			}},
			{Name: "web2", Host: "web2.example.com", Profiles: []*plan.Profile{
				{Name: "system", OutPath: before.Root, Status: plan.Unchanged, Baseline: &plan.Baseline{Kind: plan.BaselineBase, Path: before.Root}},
			}},
			{Name: "db1", Host: "db1.example.com", Profiles: []*plan.Profile{
				{Name: "system", OutPath: after.Root, Status: plan.New, Diff: fresh, Summary: &fresh.Summary, Baseline: &plan.Baseline{Kind: plan.BaselineBase, Error: "not present at origin/main"}},
				{Name: "app", Status: plan.Failed, Error: "nix build: exit status 1\nerror: builder failed\n```\n<script>", Baseline: &plan.Baseline{Kind: plan.BaselineBase}},
			}},
		},
	}
	p.Hash = p.ComputeHash()
	return p
}

func TestPlanMarkdownGolden(t *testing.T) {
	p := samplePlan(t)
	got := PlanMarkdown(p, MarkdownOptions{Header: "<!-- nix-deploy:plan file=deploy.yml env=production -->", Footer: "Head abc1234 · [run](https://example.com/run/1)"})
	golden(t, "plan.md", got)
	// A build log can never close our code fence and inject markup.
	assert.NotContains(t, got, "```\n<script>")
}

func TestPlanTextGolden(t *testing.T) {
	var b strings.Builder
	PlanText(&b, samplePlan(t))
	golden(t, "plan.txt", b.String())
}

// TestPlanMarkdownLimit: a plan too big for one comment keeps the whole
// summary table, drops details from the end, says so, and fits.
func TestPlanMarkdownLimit(t *testing.T) {
	one := samplePlan(t).Nodes[0].Profiles[0]
	p := &plan.Plan{Version: plan.SchemaVersion, Environment: "production", DiffAgainst: plan.BaselineTarget}
	for i := range 400 {
		p.Nodes = append(p.Nodes, &plan.Node{Name: fmt.Sprintf("node%03d", i), Profiles: []*plan.Profile{one}})
	}
	const limit = 20_000
	got := PlanMarkdown(p, MarkdownOptions{Limit: limit, Footer: "FOOTER"})
	require.True(t, utf8.ValidString(got))
	// A table over budget by itself loses its tail, with a note.
	assert.LessOrEqual(t, len(got), limit)
	assert.Contains(t, got, "| node000 | system |")
	assert.NotContains(t, got, "| node399 | system |")
	assert.Regexp(t, `\d+ more row\(s\) were cut`, got)
	assert.True(t, strings.HasSuffix(got, "FOOTER\n"))

	p.Nodes = p.Nodes[:120]
	got = PlanMarkdown(p, MarkdownOptions{Limit: limit, Footer: "FOOTER"})
	assert.LessOrEqual(t, len(got), limit)
	for i := range 120 {
		assert.Contains(t, got, fmt.Sprintf("| node%03d | system |", i), "the table is kept whole when it fits")
	}
	assert.Contains(t, got, "were cut to fit GitHub's comment size limit")

	p.Nodes = p.Nodes[:30]
	got = PlanMarkdown(p, MarkdownOptions{Limit: limit, Footer: "FOOTER"})
	assert.LessOrEqual(t, len(got), limit)
	assert.Contains(t, got, "<details><summary><b>node000/system</b>")
	assert.Contains(t, got, "were cut to fit")
	assert.NotContains(t, got, "<b>node029/system</b>", "the last details are the ones cut")

	p.Nodes = p.Nodes[:2]
	got = PlanMarkdown(p, MarkdownOptions{Limit: limit})
	assert.NotContains(t, got, "were cut")
	assert.Contains(t, got, "<b>node001/system</b>")
}
