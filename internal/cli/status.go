package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/nix-deploy-action/nix-deploy-action/internal/deploy"
	"github.com/nix-deploy-action/nix-deploy-action/internal/exit"
)

func init() {
	register(&Command{
		Name:    "status",
		Summary: "show each node's profiles and generations",
		Run: func(ctx context.Context, io IO, args []string) error {
			o, err := parseStatusFlags(args, io)
			if err != nil {
				return err
			}
			return runStatus(ctx, io, o)
		},
	})
}

// statusOptions are the flags of `nix-deploy status`.
type statusOptions struct {
	PlanFile string
	Env      string
	Nodes    string
	JSONFile string
	SSH      sshOptions
}

func parseStatusFlags(args []string, io IO) (*statusOptions, error) {
	o := &statusOptions{}
	fs := newFlagSet("status", "status -f PLAN --env ENV [--nodes SELECTOR] [--json FILE]", io.Out)
	fs.StringVar(&o.PlanFile, "f", "nix-deploy.yml", "the deploy plan `file`")
	fs.StringVar(&o.Env, "env", "", "the `environment` (required)")
	fs.StringVar(&o.Nodes, "nodes", "", "narrow the environment to these nodes: names, @tags, globs, comma-separated")
	fs.StringVar(&o.JSONFile, "json", "", "also write the status as JSON to this `file`")
	o.SSH.addFlags(fs)
	rest, _, err := parseFlags(fs, args)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, exit.Usagef("status: unexpected argument %q", rest[0])
	}
	if o.Env == "" {
		return nil, exit.Usagef("status: --env is required")
	}
	return o, nil
}

func runStatus(ctx context.Context, io IO, o *statusOptions) error {
	_, nodes, err := loadNodes(ctx, o.PlanFile, o.Env, o.Nodes, nil)
	if err != nil {
		return err
	}
	d, err := newDeployer(io, &o.SSH, nil)
	if err != nil {
		return err
	}
	st := d.Status(ctx, nodes)
	if err := deploy.WriteStatus(io.Out, st); err != nil {
		return err
	}
	if o.JSONFile != "" {
		data, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return fmt.Errorf("encode status: %w", err)
		}
		if err := os.WriteFile(o.JSONFile, append(data, '\n'), 0o644); err != nil {
			return fmt.Errorf("write status: %w", err)
		}
	}
	failed := 0
	for _, n := range st {
		if n.Error != "" {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("could not read %d of %d nodes", failed, len(st))
	}
	return nil
}
