package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
	"github.com/nix-deploy-action/nix-deploy-action/internal/exit"
	"github.com/nix-deploy-action/nix-deploy-action/internal/plan"
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
	// Eval also builds every selected profile and verifies it can be
	// activated; Env and Nodes select them (all nodes when Env is empty).
	Eval    bool
	Env     string
	Nodes   string
	NixArgs []string
}

func parseCheckFlags(args []string, io IO) (*checkOptions, error) {
	o := &checkOptions{}
	fs := newFlagSet("check", "check [-f PLAN] [--eval [--env ENV] [--nodes SELECTOR] [-- NIX ARGS]]", io.Out)
	fs.StringVar(&o.PlanFile, "f", "nix-deploy.yml", "the deploy plan `file`")
	fs.BoolVar(&o.Eval, "eval", false, "also evaluate and build every selected profile and verify it is activatable")
	fs.StringVar(&o.Env, "env", "", "with --eval: only this environment's nodes")
	fs.StringVar(&o.Nodes, "nodes", "", "with --eval: narrow to these nodes (names, @tags, globs)")
	rest, passthrough, err := parseFlags(fs, args)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, exit.Usagef("check: unexpected argument %q (the plan is given with -f)", rest[0])
	}
	if len(passthrough) > 0 && !o.Eval {
		return nil, exit.Usagef("check: nix arguments need --eval: without it nothing is evaluated")
	}
	if !o.Eval && (o.Env != "" || o.Nodes != "") {
		return nil, exit.Usagef("check: --env and --nodes select what --eval builds")
	}
	o.NixArgs = passthrough
	return o, nil
}

// runCheck validates the plan without building, evaluating or contacting
// anything. Problems go to stderr one per line as FILE:LINE:COLUMN: message,
// the format editors and GitHub problem matchers read; the returned error
// is config.Errors, which Run prints that way, with exit code 2.
func runCheck(ctx context.Context, io IO, o *checkOptions) error {
	if o.Eval {
		return runCheckEval(ctx, io, o)
	}
	p, err := config.Load(o.PlanFile)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "%s: %s\n", o.PlanFile, checkSummary(p))
	return nil
}

// runCheckEval builds every selected profile and checks that what was built
// can be activated: a NixOS system has bin/switch-to-configuration, a
// custom profile has its activation command, executable.
func runCheckEval(ctx context.Context, io IO, o *checkOptions) error {
	p, nodes, err := loadNodes(ctx, o.PlanFile, o.Env, o.Nodes, o.NixArgs)
	if err != nil {
		return err
	}
	b := newBuilder(p, o.NixArgs)
	var failed []string
	for _, n := range nodes {
		for _, pr := range n.Profiles {
			built, err := b.Build(ctx, plan.Installable(p, pr), func(line string) {
				fmt.Fprintf(io.Err, "[%s/%s] %s\n", n.Name, pr.Name, line)
			})
			if err == nil {
				err = activatable(built.OutPath, pr)
			}
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				failed = append(failed, fmt.Sprintf("%s/%s: %v", n.Name, pr.Name, err))
				fmt.Fprintf(io.Out, "%s/%s: FAILED\n", n.Name, pr.Name)
				continue
			}
			fmt.Fprintf(io.Out, "%s/%s: %s: activatable\n", n.Name, pr.Name, built.OutPath)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s not activatable:\n%s", nounCount(len(failed), "profile"), strings.Join(failed, "\n"))
	}
	fmt.Fprintf(io.Out, "%s: %s\n", o.PlanFile, checkSummary(p))
	return nil
}

// activatable checks the built profile has what activation will run.
func activatable(out string, p *config.Profile) error {
	cmd := p.Activate
	if p.Kind == config.NixOS {
		cmd = "bin/switch-to-configuration"
	}
	if cmd == "" {
		return nil
	}
	st, err := os.Stat(filepath.Join(out, cmd))
	if err != nil {
		return fmt.Errorf("%s has no %s: it cannot be activated", out, cmd)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s/%s is not executable", out, cmd)
	}
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
