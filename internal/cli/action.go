package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nix-deploy-action/nix-deploy-action/internal/action"
	"github.com/nix-deploy-action/nix-deploy-action/internal/agent"
	"github.com/nix-deploy-action/nix-deploy-action/internal/approval"
	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
	"github.com/nix-deploy-action/nix-deploy-action/internal/deploy"
	"github.com/nix-deploy-action/nix-deploy-action/internal/exit"
	"github.com/nix-deploy-action/nix-deploy-action/internal/github"
	"github.com/nix-deploy-action/nix-deploy-action/internal/plan"
	"github.com/nix-deploy-action/nix-deploy-action/internal/render"
	publish "github.com/nix-deploy-action/nix-deploy-action/internal/report"
)

func init() {
	register(&Command{
		Name:    "action",
		Summary: "run as the GitHub Action: inputs from INPUT_*, reports to GitHub",
		Run: func(ctx context.Context, io IO, args []string) error {
			if len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
				fmt.Fprint(io.Out, actionHelp)
				return nil
			}
			if len(args) > 0 {
				return exit.Usagef("action: takes no arguments: it reads INPUT_* variables (see action.yml)")
			}
			return runAction(ctx, io)
		},
	})
}

const actionHelp = `Usage: nix-deploy action

The GitHub Action's entrypoint. It takes no flags: it reads the step's inputs
from INPUT_* variables (INPUT_COMMAND, INPUT_PLAN-FILE, INPUT_ENVIRONMENT, ...),
the event from GITHUB_EVENT_PATH and the API from GITHUB_API_URL, and writes
outputs, the job summary and annotations through the runner's files.
Every input and output is documented in docs/action.md and action.yml.
`

// The inputs that hold secrets: masked before anything is printed.
var secretInputs = []string{"github-token", "ssh-private-key", "sudo-password"}

// actionOptions are the action's inputs (action.yml), checked.
type actionOptions struct {
	Command         string
	PlanFile        string // as given: relative to the workspace
	Env             string
	Nodes           string // comma-separated selector
	Mode            agent.Mode
	NixArgs         []string
	Token           string
	SSHKey          string
	KnownHosts      string
	SudoPassword    string
	DiffAgainst     string
	Comment         publish.CommentMode
	Checks          bool
	Reviewed        string
	Approval        string // environment | comment
	Approvers       []string
	ApprovalTimeout time.Duration
}

// parseActionInputs reads and checks every input; the runner enforces
// neither `required:` nor the allowed values.
func parseActionInputs(rt *action.Runtime) (*actionOptions, error) {
	o := &actionOptions{
		PlanFile:     rt.Input("plan-file"),
		Env:          rt.Input("environment"),
		Nodes:        strings.Join(fields(rt.Input("nodes")), ","),
		NixArgs:      strings.Fields(rt.Input("nix-args")),
		Token:        rt.Input("github-token"),
		SSHKey:       rt.Input("ssh-private-key"),
		KnownHosts:   rt.Input("ssh-known-hosts"),
		SudoPassword: rt.Input("sudo-password"),
		Reviewed:     rt.Input("reviewed-plan"),
		Approvers:    fields(rt.Input("approvers")),
	}
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	o.Command, err = rt.Choice("command", "plan", "plan", "deploy", "rollback", "check")
	check(err)
	if o.PlanFile == "" {
		o.PlanFile = "nix-deploy.yml"
	}
	mode, err := rt.Choice("mode", string(agent.ModeSwitch), string(agent.ModeSwitch), string(agent.ModeBoot), string(agent.ModeTest), string(agent.ModeDryActivate))
	check(err)
	o.Mode = agent.Mode(mode)
	o.DiffAgainst = rt.Input("diff-against")
	if o.DiffAgainst == "" {
		o.DiffAgainst = "auto"
	}
	if o.DiffAgainst != "auto" {
		if _, _, err := parseDiffAgainst(o.DiffAgainst); err != nil {
			check(fmt.Errorf("input \"diff-against\": %w", err))
		}
	}
	comment, err := rt.Choice("comment", string(publish.CommentAuto), string(publish.CommentAuto), string(publish.CommentAlways), string(publish.CommentNever))
	check(err)
	o.Comment = publish.CommentMode(comment)
	o.Checks, err = rt.Bool("checks", true)
	check(err)
	o.Approval, err = rt.Choice("approval", "environment", "environment", "comment")
	check(err)
	o.ApprovalTimeout, err = rt.Duration("approval-timeout", 30*time.Minute)
	check(err)
	if o.Approval == "comment" && o.ApprovalTimeout <= 0 {
		check(errors.New(`input "approval-timeout": must be more than 0 with approval: comment`))
	}
	if o.Command != "check" && o.Env == "" {
		check(fmt.Errorf(`input "environment": required for command %s`, o.Command))
	}
	if o.Command == "rollback" && o.Nodes == "" {
		check(errors.New(`input "nodes": required for command rollback (which nodes to roll back)`))
	}
	if o.Command == "deploy" && o.Approval == "comment" && o.Token == "" {
		check(errors.New(`input "github-token": required with approval: comment`))
	}
	if len(errs) > 0 {
		return nil, &exit.UsageError{Err: errors.Join(errs...)}
	}
	return o, nil
}

// fields splits a list input on commas and whitespace.
func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
}

// actionRun is one run of the action: the runtime, its context and the
// clients, shared by the commands.
type actionRun struct {
	io   IO // what the wrapped commands print to: the step's log, one stream
	rt   *action.Runtime
	gctx *action.Context
	o    *actionOptions
	log  *slog.Logger
	api  *github.Client // nil without a token or repository
	ws   string         // the workspace
	run  publish.Run
}

// runAction is `nix-deploy action`: the container's entrypoint.
func runAction(ctx context.Context, io IO) error {
	// One locked stream: the runner reads workflow commands from stdout
	// and stderr alike, and a stop-commands marker only protects what
	// follows it in the same stream.
	out := &lockedWriter{w: io.Out}
	rt := action.New(io.Getenv, out)
	rt.MaskInputs(secretInputs...)
	log := slog.New(&actionLogHandler{rt: rt, text: slog.NewTextHandler(out, &slog.HandlerOptions{ReplaceAttr: dropTime})})

	o, err := parseActionInputs(rt)
	if err != nil {
		rt.Annotate(action.Annotation{Title: "nix-deploy: invalid input", Message: err.Error()})
		return err
	}
	gctx, err := rt.Context()
	if err != nil {
		return err
	}
	ws := gctx.Workspace
	if ws == "" {
		if ws, err = os.Getwd(); err != nil {
			return fmt.Errorf("find the workspace: %w", err)
		}
	}
	a := &actionRun{
		rt: rt, gctx: gctx, o: o, log: log, ws: ws,
		run: publish.Run{HeadSHA: gctx.HeadSHA(), SHA: gctx.SHA, RunID: gctx.RunID, RunURL: gctx.RunURL()},
	}
	a.io = IO{In: io.In, Out: out, Err: out, Getenv: a.getenv(io.Getenv)}
	defer a.giveBackState()
	a.api, err = newGitHubAPI(o.Token, gctx, log)
	if err != nil {
		log.Warn("nothing will be published to GitHub", "err", err)
	}

	switch o.Command {
	case "check":
		err = a.check(ctx)
	case "plan":
		err = a.plan(ctx)
	case "deploy":
		err = a.deploy(ctx)
	case "rollback":
		err = a.rollback(ctx)
	}
	return a.failed(err)
}

// getenv hands the secret inputs to the SSH code the way the CLI takes
// them, so they never touch a file or a command line.
func (a *actionRun) getenv(getenv func(string) string) func(string) string {
	return func(k string) string {
		switch k {
		case envSSHKey:
			return a.o.SSHKey
		case envSudoPassword:
			return a.o.SudoPassword
		case "SSH_AUTH_SOCK":
			return ""
		}
		return getenv(k)
	}
}

// failed turns a command's error into the action's: invalid plans become
// annotations at their lines, and the message, which may quote build logs
// or remote output, is printed as untrusted text before a short error with
// the same exit code is returned.
func (a *actionRun) failed(err error) error {
	if err == nil {
		return nil
	}
	var ce config.Errors
	if errors.As(err, &ce) {
		for _, e := range ce {
			a.rt.Annotate(action.Annotation{
				Title: "invalid deploy plan", File: a.rel(e.File), Line: e.Line, Col: e.Column,
				Message: strings.TrimPrefix(e.Field+": "+e.Msg, ": "),
			})
		}
	}
	if perr := a.rt.Untrusted(err.Error()); perr != nil {
		return perr
	}
	code := exit.Code(err)
	msg := fmt.Sprintf("%s failed (exit code %d): see the messages above", a.o.Command, code)
	a.rt.Annotate(action.Annotation{Title: "nix-deploy", Message: msg})
	return exit.WithCode(code, errors.New(msg))
}

// path resolves an input path against the workspace.
func (a *actionRun) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(a.ws, p)
}

// rel makes a path relative to the workspace, as annotations and outputs
// need it (a container's absolute paths mean nothing on the runner).
func (a *actionRun) rel(p string) string {
	if r, err := filepath.Rel(a.ws, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// stateFile is where the action writes plan.json and result.json.
func (a *actionRun) stateFile(name string) (string, error) {
	dir := filepath.Join(a.ws, ".nix-deploy", a.o.Env)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	return filepath.Join(dir, name), nil
}

// giveBackState hands what the action wrote into the workspace to the
// workspace's owner. A container action runs as root; root-owned files
// there make the next actions/checkout on a self-hosted runner fail to
// clean the workspace (actions/runner#434).
func (a *actionRun) giveBackState() {
	st, err := os.Stat(a.ws)
	if err != nil {
		return
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 || sys.Uid == 0 {
		return
	}
	root := filepath.Join(a.ws, ".nix-deploy")
	_ = filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err == nil {
			err = os.Lchown(p, int(sys.Uid), int(sys.Gid))
		}
		if err != nil {
			a.log.Warn("could not hand a state file back to the workspace owner", "path", p, "err", err)
		}
		return nil
	})
}

// sshOptions writes the known_hosts input to a file (it is public data)
// and returns the SSH options of the wrapped commands.
func (a *actionRun) sshOptions() (sshOptions, func(), error) {
	o := sshOptions{NoAgent: true}
	if a.o.KnownHosts == "" {
		return o, func() {}, nil
	}
	f, err := os.CreateTemp("", "nix-deploy-known-hosts-*")
	if err != nil {
		return o, nil, fmt.Errorf("write known hosts: %w", err)
	}
	_, err = f.WriteString(a.o.KnownHosts + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return o, nil, fmt.Errorf("write known hosts: %w", err)
	}
	o.KnownHosts = f.Name()
	return o, func() { os.Remove(f.Name()) }, nil
}

// untrusted runs f with workflow commands stopped: whatever it prints
// (build logs, package names, remote errors) stays text.
func (a *actionRun) untrusted(f func() error) error {
	resume, err := a.rt.StopCommands()
	if err != nil {
		return err
	}
	ferr := f()
	if err := resume(); err != nil {
		return err
	}
	return ferr
}

func (a *actionRun) setOutputs(kv ...string) {
	for i := 0; i+1 < len(kv); i += 2 {
		if err := a.rt.SetOutput(kv[i], kv[i+1]); err != nil {
			a.log.Warn("could not set an output", "name", kv[i], "err", err)
		}
	}
}

func (a *actionRun) summary(md string) {
	if err := a.rt.AddSummary(md); err != nil {
		a.log.Warn("could not write the job summary", "err", err)
	}
}

func jsonList(names []string) string {
	if names == nil {
		names = []string{}
	}
	data, _ := json.Marshal(names)
	return string(data)
}

func (a *actionRun) check(ctx context.Context) error {
	return runCheck(ctx, a.io, &checkOptions{PlanFile: a.path(a.o.PlanFile)})
}

// diffAgainst resolves diff-against: auto compares a pull request with its
// base, otherwise what the nodes run when the job can reach them.
func (a *actionRun) diffAgainst() string {
	if a.o.DiffAgainst != "auto" {
		return a.o.DiffAgainst
	}
	if pr := a.gctx.Event.PullRequest; pr != nil && pr.BaseSHA != "" {
		return "base=" + pr.BaseSHA
	}
	if a.o.SSHKey != "" {
		return "target"
	}
	return "none"
}

func (a *actionRun) pr() int {
	if pr := a.gctx.Event.PullRequest; pr != nil {
		return pr.Number
	}
	return 0
}

func (a *actionRun) plan(ctx context.Context) error {
	jsonFile, err := a.stateFile("plan.json")
	if err != nil {
		return err
	}
	ssh, cleanup, err := a.sshOptions()
	if err != nil {
		return err
	}
	defer cleanup()
	po := &planOptions{
		PlanFile: a.path(a.o.PlanFile), Env: a.o.Env, Nodes: a.o.Nodes, DiffAgainst: a.diffAgainst(),
		JSONFile: jsonFile, Jobs: 4, NixArgs: a.o.NixArgs, SSH: ssh,
	}
	a.rt.Group("Build and diff")
	var p *plan.Plan
	runErr := a.untrusted(func() error {
		var err error
		p, err = runPlan(ctx, a.io, po)
		return err
	})
	a.rt.EndGroup()
	pub := a.planPublisher()
	if p == nil {
		var ce config.Errors
		if pub != nil && errors.As(runErr, &ce) {
			pub.PublishCheck(ctx, publish.PlanErrorsCheck(ce, a.rel, a.run, time.Now()))
		}
		return runErr
	}
	// plan.json names the plan file as given, not where this container
	// found it.
	p.PlanFile = a.o.PlanFile
	if err := writePlanJSON(jsonFile, p); err != nil {
		return err
	}
	var cfgEnv *config.Environment
	if cfg, err := config.Load(po.PlanFile); err == nil {
		cfgEnv = cfg.Environments[a.o.Env]
	}
	matrix, _ := json.Marshal(publish.PlanMatrix(p, cfgEnv))
	a.setOutputs("plan", a.rel(jsonFile), "changed-nodes", jsonList(p.ChangedNodes()), "matrix", string(matrix))
	a.summary(render.PlanMarkdown(p, render.MarkdownOptions{Limit: action.SummaryLimit / 2}))
	if pub != nil {
		if u := pub.Publish(ctx, p); u != "" {
			a.log.Info("plan comment", "url", u)
		}
	}
	return runErr
}

func (a *actionRun) planPublisher() *publish.Plan {
	if a.api == nil {
		return nil
	}
	return &publish.Plan{API: a.api, Warn: a.log, Run: a.run, PR: a.pr(), Comment: a.o.Comment, Checks: a.o.Checks}
}

func (a *actionRun) deploy(ctx context.Context) error {
	var reviewed *plan.Plan
	if a.o.Reviewed != "" {
		var err error
		if reviewed, err = readPlanJSON(a.path(a.o.Reviewed)); err != nil {
			return err
		}
	}
	return a.reportedRun(ctx, reviewed, func(d *deploy.Deployer, env *config.Environment, nodes []*config.Node, approve approveFunc) (*deploy.Result, error) {
		req := deploy.Request{Env: env, Nodes: nodes, Mode: a.o.Mode, Approve: approve}
		if reviewed != nil {
			req.Reviewed = reviewed
		}
		return d.Deploy(ctx, req)
	})
}

// rollback is the break-glass lever: the same safety as a deploy (lock,
// agent, confirmation, health checks) and the same reporting.
func (a *actionRun) rollback(ctx context.Context) error {
	return a.reportedRun(ctx, nil, func(d *deploy.Deployer, env *config.Environment, nodes []*config.Node, _ approveFunc) (*deploy.Result, error) {
		return d.Rollback(ctx, deploy.RollbackRequest{Env: env, Nodes: nodes})
	})
}

type approveFunc = func(context.Context, []deploy.Target) (bool, error)

// reportedRun selects the nodes, wires a deployer whose events become
// per-node check runs and deployment statuses, records who approved, runs
// act, and writes result.json, the outputs and the summary.
func (a *actionRun) reportedRun(ctx context.Context, reviewed *plan.Plan, act func(*deploy.Deployer, *config.Environment, []*config.Node, approveFunc) (*deploy.Result, error)) error {
	cfg, nodes, err := loadNodes(ctx, a.path(a.o.PlanFile), a.o.Env, a.o.Nodes, a.o.NixArgs)
	if err != nil {
		return err
	}
	env := cfg.Environments[a.o.Env]
	ssh, cleanup, err := a.sshOptions()
	if err != nil {
		return err
	}
	defer cleanup()
	d, err := newDeployer(a.io, &ssh, a.o.NixArgs)
	if err != nil {
		return err
	}
	var pub *publish.Deploy
	if a.api != nil {
		pub = &publish.Deploy{API: a.api, Warn: a.log, Env: a.o.Env, EnvURL: env.URL, Run: a.run, Checks: a.o.Checks, Plan: reviewed}
		// A cancelled deploy is still reported: its nodes' check runs say
		// cancelled rather than staying in progress.
		pub.Start(context.WithoutCancel(ctx))
	}
	var approvedBy []string
	var approve approveFunc
	switch {
	case a.o.Approval == "comment":
		approve = func(ctx context.Context, targets []deploy.Target) (bool, error) {
			by, err := a.waitForApproval(ctx, targets, reviewed)
			if err != nil {
				return false, err
			}
			approvedBy = []string{by}
			if pub != nil {
				pub.SetApprovedBy(approvedBy)
			}
			return true, nil
		}
	case a.api != nil && a.run.RunID > 0:
		// GitHub held the job until its environment's reviewers approved.
		approvedBy, err = publish.ApprovedBy(ctx, a.api, a.run.RunID)
		if err != nil {
			a.log.Warn("could not read who approved the run", "err", err)
		}
		pub.SetApprovedBy(approvedBy)
	}
	logs := newNodeLogs(a.rt, a.log)
	d.Log = a.log
	d.BuildLog = logs.line
	d.Events = func(e deploy.Event) {
		logs.event(e)
		if pub != nil {
			pub.Event(e)
		}
	}
	res, err := act(d, env, nodes, approve)
	if pub != nil {
		pub.Finish(res)
	}
	if err != nil {
		logs.flush()
		return err
	}
	return a.finishDeploy(res, approvedBy)
}

// finishDeploy writes result.json, the outputs and the job summary, and
// returns the deploy's exit error.
func (a *actionRun) finishDeploy(res *deploy.Result, approvedBy []string) error {
	file, err := a.stateFile("result.json")
	if err != nil {
		return err
	}
	var rolledBack, changed []string
	for _, n := range res.Nodes {
		if n.Outcome == deploy.RolledBack {
			rolledBack = append(rolledBack, n.Name)
		}
		if n.Outcome != deploy.Unchanged {
			changed = append(changed, n.Name)
		}
	}
	var table strings.Builder
	if err := report(IO{Out: &table}, res, file); err != nil && !isResultError(err) {
		return err
	}
	if err := a.rt.Untrusted(table.String()); err != nil {
		return err
	}
	a.setOutputs("result", a.rel(file), "rolled-back", jsonList(rolledBack), "changed-nodes", jsonList(changed))
	a.summary(publish.DeploySummary(res, approvedBy, a.run))
	return res.Err()
}

func isResultError(err error) bool {
	var re *deploy.ResultError
	return errors.As(err, &re)
}

// approvalPoll is how often comment approval reads the comments.
var approvalPoll = approval.DefaultPoll

// waitForApproval asks on the pull request (or an issue) and waits.
func (a *actionRun) waitForApproval(ctx context.Context, targets []deploy.Target, reviewed *plan.Plan) (string, error) {
	if a.api == nil {
		return "", errors.New("approval: comment needs a GitHub token")
	}
	policy := approval.Policy{Approvers: a.o.Approvers}
	if len(policy.Approvers) == 0 {
		policy.Exclude = a.gctx.Actor
	}
	w := &approval.Waiter{API: a.api, Log: a.log}
	d, err := w.Wait(ctx, approval.Request{
		Issue:   a.pr(),
		Title:   fmt.Sprintf("nix-deploy: approve the deploy to %s (run %d)", a.o.Env, a.run.RunID),
		Summary: approvalSummary(a.o.Env, targets, reviewed),
		Policy:  policy, Timeout: a.o.ApprovalTimeout, Poll: approvalPoll, RunURL: a.run.RunURL,
	})
	if err != nil {
		return "", err
	}
	a.log.Info("deploy approved", "by", d.By, "url", d.URL)
	return d.By, nil
}

// approvalSummary says what would be deployed where; with a reviewed plan
// it carries the plan's table and diffs.
func approvalSummary(env string, targets []deploy.Target, reviewed *plan.Plan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Deploy to `%s`:\n\n| Node | Host | Profile | Store path |\n|---|---|---|---|\n", env)
	for _, t := range targets {
		path := "build failed"
		if t.Path != "" {
			path = "`" + t.Path + "`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.Node.Name, t.Node.Host, t.Profile.Name, path)
	}
	if reviewed != nil {
		b.WriteString("\n<details><summary>Reviewed plan</summary>\n\n")
		b.WriteString(render.PlanMarkdown(reviewed, render.MarkdownOptions{Limit: render.CommentLimit / 2}))
		b.WriteString("\n</details>\n")
	}
	return b.String()
}
