package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/nix-deploy-action/nix-deploy-action/internal/agent"
	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
	"github.com/nix-deploy-action/nix-deploy-action/internal/deploy"
	"github.com/nix-deploy-action/nix-deploy-action/internal/exit"
	"github.com/nix-deploy-action/nix-deploy-action/internal/render"
)

func init() {
	register(&Command{
		Name:    "deploy",
		Summary: "build and deploy the selected nodes with magic rollback",
		Run: func(ctx context.Context, io IO, args []string) error {
			o, err := parseDeployFlags(args, io)
			if err != nil {
				return err
			}
			return runDeploy(ctx, io, o)
		},
	})
}

// deployOptions are the flags of `nix-deploy deploy`.
type deployOptions struct {
	PlanFile    string
	Env         string
	Nodes       string
	Reviewed    string // plan.json from a plan job: what was reviewed is what ships
	Mode        agent.Mode
	ResultFile  string
	Interactive bool
	NixArgs     []string
	SSH         sshOptions
}

func parseDeployFlags(args []string, io IO) (*deployOptions, error) {
	o := &deployOptions{}
	var mode string
	fs := newFlagSet("deploy", "deploy -f PLAN --env ENV [--nodes SELECTOR] [--plan plan.json] [--mode switch|boot|test|dry-activate] [--result FILE] [--interactive] [-- NIX ARGS]", io.Out)
	fs.StringVar(&o.PlanFile, "f", "nix-deploy.yml", "the deploy plan `file`")
	fs.StringVar(&o.Env, "env", "", "the `environment` to deploy (required)")
	fs.StringVar(&o.Nodes, "nodes", "", "narrow the environment to these nodes: names, @tags, globs, comma-separated")
	fs.StringVar(&o.Reviewed, "plan", "", "the reviewed plan.json: refuse to deploy any store path that differs from it")
	fs.StringVar(&mode, "mode", "switch", "activation `mode`: switch, boot, test or dry-activate")
	fs.StringVar(&o.ResultFile, "result", "", "write the result as JSON to this `file`")
	fs.BoolVar(&o.Interactive, "interactive", false, "show what will be activated where and ask before deploying")
	o.SSH.addFlags(fs)
	rest, passthrough, err := parseFlags(fs, args)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, exit.Usagef("deploy: unexpected argument %q (nix arguments go after --)", rest[0])
	}
	if o.Env == "" {
		return nil, exit.Usagef("deploy: --env is required")
	}
	switch m := agent.Mode(mode); m {
	case agent.ModeSwitch, agent.ModeBoot, agent.ModeTest, agent.ModeDryActivate:
		o.Mode = m
	default:
		return nil, exit.Usagef("deploy: --mode must be switch, boot, test or dry-activate, not %q", mode)
	}
	o.NixArgs = passthrough
	return o, nil
}

func runDeploy(ctx context.Context, io IO, o *deployOptions) error {
	cfg, nodes, err := loadNodes(ctx, o.PlanFile, o.Env, o.Nodes, o.NixArgs)
	if err != nil {
		return err
	}
	req := deploy.Request{Env: cfg.Environments[o.Env], Nodes: nodes, Mode: o.Mode}
	if o.Reviewed != "" {
		p, err := readPlanJSON(o.Reviewed)
		if err != nil {
			return err
		}
		req.Reviewed = p
		if o.Interactive {
			render.PlanText(io.Err, p)
		}
	}
	if o.Interactive {
		req.Approve = func(ctx context.Context, targets []deploy.Target) (bool, error) {
			if req.Reviewed == nil {
				showDiffs(ctx, io, &o.SSH, targets)
			}
			return approve(io, o.Mode, targets)
		}
	}
	d, err := newDeployer(io, &o.SSH, o.NixArgs)
	if err != nil {
		return err
	}
	wireOutput(d, io)
	res, err := d.Deploy(ctx, req)
	if err != nil {
		if errors.Is(err, deploy.ErrNotApproved) {
			return exit.WithCode(exit.Failure, err)
		}
		return err
	}
	return report(io, res, o.ResultFile)
}

// wireOutput sends progress lines and build logs to stderr (the table goes
// to stdout) and engine logs through slog. Nodes run concurrently: every
// line goes through one lock so lines never interleave.
func wireOutput(d *deploy.Deployer, io IO) {
	w := &lockedWriter{w: io.Err}
	d.Log = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d.BuildLog = func(node, profile, line string) {
		fmt.Fprintf(w, "[%s/%s] %s\n", node, profile, line)
	}
	d.Events = func(e deploy.Event) {
		fmt.Fprintln(w, progressLine(e))
	}
}

// progressLine is one plain line per event: no spinner, CI logs keep it.
func progressLine(e deploy.Event) string {
	who := e.Node
	if e.Profile != "" {
		who += "/" + e.Profile
	}
	switch e.Kind {
	case deploy.NodeStarted:
		return who + ": started"
	case deploy.StepStarted:
		return who + ": " + string(e.Step)
	}
	line := who + ": " + string(e.Result.Outcome)
	if e.Result.Reason != "" {
		line += " (" + string(e.Result.Reason) + ")"
	}
	return line
}

// report prints the table, writes the JSON and returns the exit error.
func report(io IO, res *deploy.Result, file string) error {
	if err := res.WriteTable(io.Out); err != nil {
		return err
	}
	if file != "" {
		f, err := os.Create(file)
		if err != nil {
			return fmt.Errorf("write result: %w", err)
		}
		if err := res.WriteJSON(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
	}
	return res.Err()
}

// approve shows what will be activated where and asks; anything but yes
// is no.
// showDiffs prints, for each target, what changes against what its node
// runs now (read as the SSH user, without sudo, as plan --diff-against
// target does). A node that cannot be read is said so; the question is
// still asked.
func showDiffs(ctx context.Context, io IO, o *sshOptions, targets []deploy.Target) {
	store := newClosureStore()
	defer store.Close()
	nodes := &sshTargets{io: io, ssh: o}
	current := map[string]map[string]*closure.Closure{}
	for _, t := range targets {
		cur, seen := current[t.Node.Name]
		if !seen {
			var err error
			if cur, err = nodes.Current(ctx, t.Node); err != nil {
				fmt.Fprintf(io.Err, "\n%s: cannot read what it runs now: %v\n", t.Node.Name, err)
			}
			current[t.Node.Name] = cur
		}
		after, err := store.Closure(ctx, t.Path)
		if err != nil {
			fmt.Fprintf(io.Err, "\n%s/%s: cannot read the new closure: %v\n", t.Node.Name, t.Profile.Name, err)
			continue
		}
		before := cur[t.Profile.Name]
		if before == nil {
			before = &closure.Closure{}
		}
		fmt.Fprintf(io.Err, "\n%s/%s: %s -> %s\n", t.Node.Name, t.Profile.Name, orNone(before.Root), t.Path)
		render.DiffText(io.Err, closure.Compare(before, after))
	}
}

func orNone(p string) string {
	if p == "" {
		return "(nothing yet)"
	}
	return p
}

func approve(io IO, mode agent.Mode, targets []deploy.Target) (bool, error) {
	fmt.Fprintf(io.Err, "\nnix-deploy will %s:\n", mode)
	for _, t := range targets {
		fmt.Fprintf(io.Err, "  %s (%s)  %s  %s\n", t.Node.Name, t.Node.Host, t.Profile.Name, t.Path)
	}
	fmt.Fprint(io.Err, "Deploy? [y/N] ")
	line, err := bufio.NewReader(io.In).ReadString('\n')
	if err != nil && !errors.Is(err, ioEOF) {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// ioEOF: the io parameter of commands shadows the package.
var ioEOF = io.EOF
