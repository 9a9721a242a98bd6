package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
	"github.com/nix-deploy-action/nix-deploy-action/internal/deploy"
	"github.com/nix-deploy-action/nix-deploy-action/internal/plan"
)

// DeploySummary is the job summary of a deploy: the per-node table, who
// approved, and each failed node's reason and error.
func DeploySummary(res *deploy.Result, approvedBy []string, run Run) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### nix-deploy to `%s`: %s\n\n", res.Environment, res.Summary())
	if len(approvedBy) > 0 {
		fmt.Fprintf(&b, "Approved by %s.\n\n", mentions(approvedBy))
	}
	b.WriteString("| Node | Profile | Outcome | Reason | Generation | Time |\n|---|---|---|---|---|---|\n")
	for _, n := range res.Nodes {
		if len(n.Profiles) == 0 {
			fmt.Fprintf(&b, "| %s | | %s | %s | | %s |\n", n.Name, outcomeCell(n.Outcome), n.Reason, seconds(time.Duration(n.Duration)))
		}
		for _, p := range n.Profiles {
			gen := ""
			if p.Generation > 0 {
				gen = fmt.Sprint(p.Generation)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", n.Name, p.Name, outcomeCell(p.Outcome), p.Reason, gen, seconds(time.Duration(n.Duration)))
		}
	}
	for _, n := range res.Nodes {
		if n.Outcome.OK() || n.Error == "" {
			continue
		}
		fmt.Fprintf(&b, "\n<details><summary><b>%s</b>: %s</summary>\n\n%s</details>\n", n.Name, outcomeTitle(n), codeBlock(n.Error))
	}
	if run.RunURL != "" {
		fmt.Fprintf(&b, "\n<sub>[workflow run](%s)</sub>\n", run.RunURL)
	}
	return b.String()
}

func outcomeCell(o deploy.Outcome) string {
	switch {
	case o == deploy.Unchanged:
		return "unchanged"
	case o.OK():
		return "✅ " + string(o)
	case o == deploy.Skipped, o == deploy.Cancelled:
		return "⏭️ " + string(o)
	}
	return "❌ " + string(o)
}

// Matrix is the `matrix` output: strategy.matrix for a fan-out of the
// deploy across jobs, one entry per shard of nodes.
type Matrix struct {
	Include []Shard `json:"include"`
}

// Shard is one matrix leg: the nodes it deploys, comma-separated, as the
// `nodes` input takes them.
type Shard struct {
	Shard string `json:"shard"`
	Nodes string `json:"nodes"`
}

// PlanMatrix shards the plan's changed nodes: the canary nodes of a canary
// environment first, together, then one node per shard (the workflow's
// max-parallel then paces the legs).
func PlanMatrix(p *plan.Plan, env *config.Environment) Matrix {
	changed := p.ChangedNodes()
	m := Matrix{Include: []Shard{}}
	add := func(nodes []string) {
		m.Include = append(m.Include, Shard{Shard: fmt.Sprint(len(m.Include) + 1), Nodes: strings.Join(nodes, ",")})
	}
	if env != nil && env.Strategy == config.Canary && env.Canary > 0 && len(changed) > env.Canary {
		add(changed[:env.Canary])
		changed = changed[env.Canary:]
	}
	for _, n := range changed {
		add([]string{n})
	}
	return m
}
