package cli

import (
	"context"
	"fmt"

	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
	"github.com/nix-deploy-action/nix-deploy-action/internal/exit"
)

func init() {
	register(&Command{
		Name:    "check",
		Summary: "validate a deploy plan; contacts nothing",
		Run: func(ctx context.Context, io IO, args []string) error {
			o, err := parseCheckFlags(args, io)
			if err != nil {
				return err
			}
			return runCheck(ctx, io, o)
		},
	})
}

// checkOptions are the flags of `nix-deploy check`.
type checkOptions struct {
	PlanFile string
}

func parseCheckFlags(args []string, io IO) (*checkOptions, error) {
	o := &checkOptions{}
	fs := newFlagSet("check", "check [-f PLAN]", io.Out)
	fs.StringVar(&o.PlanFile, "f", "nix-deploy.yml", "the deploy plan `file`")
	rest, passthrough, err := parseFlags(fs, args)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, exit.Usagef("check: unexpected argument %q (the plan is given with -f)", rest[0])
	}
	if len(passthrough) > 0 {
		return nil, exit.Usagef("check: takes no nix arguments: it evaluates nothing")
	}
	return o, nil
}

// runCheck validates the plan without building, evaluating or contacting
// anything. Problems go to stderr one per line as FILE:LINE:COLUMN: message,
// the format editors and GitHub problem matchers read; the returned error
// is config.Errors, which Run prints that way, with exit code 2.
func runCheck(_ context.Context, io IO, o *checkOptions) error {
	p, err := config.Load(o.PlanFile)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "%s: %s\n", o.PlanFile, checkSummary(p))
	return nil
}

func checkSummary(p *config.Plan) string {
	envs := nounCount(len(p.EnvironmentNames), "environment")
	if p.NodesFrom != "" {
		return fmt.Sprintf("nodes from %s#%s (not evaluated), %s: valid", p.Flake, p.NodesFrom, envs)
	}
	return fmt.Sprintf("%s, %s, %s: valid", nounCount(len(p.Nodes), "node"), envs, nounCount(p.ProfileCount(), "profile"))
}

// nounCount renders "1 node", "3 nodes".
func nounCount(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
