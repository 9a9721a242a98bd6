package cli

import (
	"context"

	"github.com/nix-deploy-action/nix-deploy-action/internal/deploy"
	"github.com/nix-deploy-action/nix-deploy-action/internal/exit"
)

func init() {
	register(&Command{
		Name:    "rollback",
		Summary: "put nodes back on an earlier generation, with the deploy's safety",
		Run: func(ctx context.Context, io IO, args []string) error {
			o, err := parseRollbackFlags(args, io)
			if err != nil {
				return err
			}
			return runRollback(ctx, io, o)
		},
	})
}

// rollbackOptions are the flags of `nix-deploy rollback`.
type rollbackOptions struct {
	PlanFile   string
	Env        string
	Nodes      string
	Profile    string
	To         int
	ResultFile string
	SSH        sshOptions
}

func parseRollbackFlags(args []string, io IO) (*rollbackOptions, error) {
	o := &rollbackOptions{}
	fs := newFlagSet("rollback", "rollback -f PLAN --env ENV --nodes SELECTOR [--to GENERATION] [--profile P] [--result FILE]", io.Out)
	fs.StringVar(&o.PlanFile, "f", "nix-deploy.yml", "the deploy plan `file`")
	fs.StringVar(&o.Env, "env", "", "the `environment` (required)")
	fs.StringVar(&o.Nodes, "nodes", "", "the nodes to roll back: names, @tags, globs, comma-separated (required)")
	fs.StringVar(&o.Profile, "profile", "", "the `profile` to roll back (default: each node's first, system)")
	fs.IntVar(&o.To, "to", 0, "the `generation` to go back to (default: the one before the current)")
	fs.StringVar(&o.ResultFile, "result", "", "write the result as JSON to this `file`")
	o.SSH.addFlags(fs)
	rest, _, err := parseFlags(fs, args)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, exit.Usagef("rollback: unexpected argument %q", rest[0])
	}
	if o.Env == "" || o.Nodes == "" {
		return nil, exit.Usagef("rollback: --env and --nodes are required (break glass is explicit)")
	}
	if o.To < 0 {
		return nil, exit.Usagef("rollback: --to must be a generation number")
	}
	return o, nil
}

func runRollback(ctx context.Context, io IO, o *rollbackOptions) error {
	cfg, nodes, err := loadNodes(ctx, o.PlanFile, o.Env, o.Nodes, nil)
	if err != nil {
		return err
	}
	d, err := newDeployer(io, &o.SSH, nil)
	if err != nil {
		return err
	}
	wireOutput(d, io)
	res, err := d.Rollback(ctx, deploy.RollbackRequest{Env: cfg.Environments[o.Env], Nodes: nodes, Profile: o.Profile, To: o.To})
	if err != nil {
		return err
	}
	return report(io, res, o.ResultFile)
}
