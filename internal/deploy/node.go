package deploy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nix-deploy-action/nix-deploy-action/internal/agent"
	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
)

// nodeJob is one node to deploy with its built profiles.
type nodeJob struct {
	node     *config.Node
	profiles []profileJob
	// buildErr is set when a profile did not build: nothing is deployed
	// to the node.
	buildErr error
}

type profileJob struct {
	p    *config.Profile
	path string
	// onNode: the path is already in the node's store (a rollback to an
	// earlier generation); nothing is transferred.
	onNode bool
	// expect, when set, is what the profile must still point at once the
	// node is locked (a rollback resolved its target from it).
	expect string
}

// run is the state shared by a deploy's nodes.
type run struct {
	d    *Deployer
	id   string
	mode Mode
	emit func(Event)
}

// steps times a node's steps and reports them.
type steps struct {
	rn      *run
	res     *NodeResult
	cur     Step
	profile string
	since   time.Time
}

func (s *steps) enter(step Step, profile string) {
	s.leave()
	s.cur, s.profile, s.since = step, profile, s.rn.d.now()
	s.rn.emit(Event{Kind: StepStarted, Node: s.res.Name, Profile: profile, Step: step, Time: s.since})
}

func (s *steps) leave() {
	if s.cur == "" {
		return
	}
	s.res.Steps = append(s.res.Steps, StepTiming{Step: s.cur, Profile: s.profile, Duration: Duration(s.rn.d.now().Sub(s.since))})
	s.cur = ""
}

// deployNode runs one node's deploy to the end and never returns early
// without an outcome for every profile.
func (rn *run) deployNode(ctx context.Context, job *nodeJob) *NodeResult {
	d := rn.d
	started := d.now()
	res := &NodeResult{Name: job.node.Name, Host: job.node.Host}
	for _, pj := range job.profiles {
		res.Profiles = append(res.Profiles, &ProfileResult{Name: pj.p.Name, Path: pj.path})
	}
	st := &steps{rn: rn, res: res}
	rn.emit(Event{Kind: NodeStarted, Node: res.Name, Time: started})
	defer func() {
		st.leave()
		res.Duration = Duration(d.now().Sub(started))
		res.summarise()
		rn.emit(Event{Kind: NodeFinished, Node: res.Name, Time: d.now(), Result: res})
	}()
	if err := ctx.Err(); err != nil {
		res.setAll(Cancelled, "", nil)
		return res
	}

	profiles := make([]*config.Profile, len(job.profiles))
	for i, pj := range job.profiles {
		profiles[i] = pj.p
	}
	// One lock session holds the node for all its profiles: between two
	// of them, no other deploy can take it.
	r := &remote{d: d, node: job.node, stats: &SSHStats{}, lockID: rn.id, idle: lockIdle(profiles)}
	res.SSH = r.stats
	st.enter(StepConnect, "")
	if err := r.dial(ctx); err != nil {
		switch {
		case ctx.Err() != nil:
			res.setAll(Cancelled, "", nil)
		case errors.Is(err, ErrHostKey):
			res.setAll(Failed, "", fmt.Errorf("connect: %w", err))
		default:
			res.setAll(Unreachable, "", fmt.Errorf("connect: %w", err))
		}
		return res
	}
	defer r.close()

	st.enter(StepPreflight, "")
	pf, err := rn.preflight(ctx, r, job)
	if err != nil {
		if ctx.Err() != nil {
			res.setAll(Cancelled, "", nil)
		} else {
			res.setAll(Failed, "", err)
		}
		return res
	}

	stopped := false
	for i, pj := range job.profiles {
		pr := res.Profiles[i]
		cur := pf.Profiles[i]
		pr.Previous = cur.Current
		if rn.unchanged(pj, cur.Current, pf.CurrentSystem) {
			pr.Outcome = Unchanged
			continue
		}
		if stopped {
			pr.Outcome = Skipped
			continue
		}
		if ctx.Err() != nil {
			pr.Outcome = Cancelled
			continue
		}
		if pj.expect != "" && cur.Current != pj.expect {
			pr.fail(Failed, "", fmt.Errorf("%s changed since its generations were read (now %s): nothing done, look again with status", pj.p.Path, cur.Current))
			stopped = true
			continue
		}
		if err := r.lock.lost(); err != nil {
			// Lost with the connection during an earlier profile: what
			// preflight read may no longer hold, so nothing more is done.
			pr.fail(Failed, "", fmt.Errorf("nothing done, the node is no longer locked for this deploy: %w", err))
			stopped = true
			continue
		}
		rn.deployProfile(ctx, r, st, pf, pj, rn.id+"-"+strconv.Itoa(i+1), pr)
		if !pr.Outcome.OK() {
			stopped = true
		}
	}
	return res
}

// preflight: sudo works, the lock is ours, Nix is there, profiles read.
func (rn *run) preflight(ctx context.Context, r *remote, job *nodeJob) (agent.Preflight, error) {
	if err := r.checkSudo(ctx); err != nil {
		return agent.Preflight{}, err
	}
	if err := r.takeLock(ctx); err != nil {
		return agent.Preflight{}, err
	}
	paths := make([]string, len(job.profiles))
	for i, pj := range job.profiles {
		paths[i] = pj.p.Path
	}
	return r.preflight(ctx, paths)
}

// unchanged: the node already runs what would be deployed.
func (rn *run) unchanged(pj profileJob, current, currentSystem string) bool {
	if current != pj.path {
		if !(rn.mode == agent.ModeTest && pj.p.Kind == config.NixOS && currentSystem == pj.path) {
			return false
		}
	}
	switch {
	case rn.mode == agent.ModeDryActivate:
		return false
	case pj.p.Kind == config.NixOS && (rn.mode == agent.ModeSwitch || rn.mode == agent.ModeTest):
		// A system activated with "test" earlier is not the running one.
		return currentSystem == pj.path
	}
	return true
}

// deployProfile transfers, activates and confirms one profile; id names
// its activation on the node.
func (rn *run) deployProfile(ctx context.Context, r *remote, st *steps, pf agent.Preflight, pj profileJob, id string, pr *ProfileResult) {
	d := rn.d
	nixStore := pf.Tools["nix-store"]

	if !pj.onNode {
		st.enter(StepTransfer, pj.p.Name)
		if err := rn.transfer(ctx, r, nixStore, pj, pr); err != nil {
			if ctx.Err() != nil {
				pr.fail(Cancelled, "", err)
			} else {
				pr.fail(Failed, "", err)
			}
			return
		}
	}

	// Nothing is activated after a cancellation.
	if ctx.Err() != nil {
		pr.Outcome = Cancelled
		return
	}
	st.enter(StepActivate, pj.p.Name)
	// The start checks the lock too; this says why in plain words.
	if err := r.lock.lost(); err != nil {
		pr.fail(Failed, "", fmt.Errorf("activate: nothing activated, the node is no longer locked for this deploy: %w", err))
		return
	}
	start := agent.Start{
		Lock:              r.lockID,
		ID:                id,
		Path:              pj.path,
		Profile:           pj.p.Path,
		Mode:              rn.mode,
		Kind:              agent.KindNixOS,
		ActivationTimeout: wholeSeconds(pj.p.ActivationTimeout),
		ConfirmTimeout:    wholeSeconds(pj.p.ConfirmTimeout),
		MagicRollback:     pj.p.MagicRollback,
		DegradedWarn:      pj.p.DegradedUnits == config.DegradedWarn,
		KeepGenerations:   pj.p.KeepGenerations,
	}
	if pj.p.Kind != config.NixOS {
		start.Kind, start.User, start.Activate = agent.KindCustom, pj.p.User, pj.p.Activate
		if start.Activate == "" && pj.p.Kind == config.DeployRS {
			start.Activate = "deploy-rs-activate"
		}
	}
	argv, err := start.Command()
	if err != nil {
		pr.fail(Failed, "", fmt.Errorf("activate: %w", err))
		return
	}
	// The start runs to its end even if the deploy is cancelled meanwhile:
	// cut in the middle, we would not know whether the node is activating.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	out, err := runAgent(sctx, r.conn, r.sudo, argv)
	cancel()
	if err != nil {
		var re *RemoteExit
		switch {
		case errors.As(err, &re) && re.Status == agent.ExitBusy:
			pr.fail(Failed, "", fmt.Errorf("activate: node busy: %w", err))
		case errors.As(err, &re) && re.Status == agent.ExitWrongState:
			// The agent says why: the lock is not ours, or the id is taken.
			pr.fail(Failed, "", fmt.Errorf("activate: the node refused the start, nothing activated: %w", err))
		default:
			pr.fail(Failed, "", fmt.Errorf("activate: start the agent: %w", err))
		}
		return
	}
	d.log().Debug("activation started", "node", r.node.Name, "profile", pj.p.Name, "id", id, "reply", out)

	s, cause, err := rn.waitSettled(ctx, r, id, pj.p)
	if errors.Is(err, ErrConnectionLost) {
		rn.comeBack(ctx, r, id, pj.p, pr)
		return
	}
	if err != nil {
		pr.fail(Failed, "", fmt.Errorf("activate: %w", err))
		return
	}
	if s.State != agent.AwaitingConfirmation {
		rn.finish(ctx, r.conn, r.sudo, id, s, cause, pr)
		if s.State == agent.Deployed && !pj.p.MagicRollback && rn.mode != agent.ModeBoot {
			rn.checkWithoutRollback(ctx, r, pr)
		}
		return
	}
	st.enter(StepConfirm, pj.p.Name)
	rn.confirm(ctx, r, id, pj.p, pr)
}

// transfer gets the closure onto the node, retrying with a fresh
// connection when the connection drops (import is idempotent).
func (rn *run) transfer(ctx context.Context, r *remote, nixStore string, pj profileJob, pr *ProfileResult) error {
	d := rn.d
	attempts := d.TransferAttempts
	if attempts <= 0 {
		attempts = 3
	}
	var closure []string
	if pj.p.Transfer != config.Substitute {
		var err error
		if closure, err = d.Store.Requisites(ctx, pj.path); err != nil {
			return fmt.Errorf("transfer: %w", err)
		}
	}
	st := &TransferStats{Closure: len(closure)}
	pr.Transfer = st
	for attempt := 1; ; attempt++ {
		st.Attempts = attempt
		var err error
		if pj.p.Transfer == config.Substitute {
			err = r.substitute(ctx, nixStore, pj.path)
		} else {
			err = r.push(ctx, nixStore, closure, st)
		}
		if err == nil {
			d.log().Info("transferred", "node", r.node.Name, "profile", pj.p.Name, "closure", st.Closure, "missing", st.Missing, "bytes", st.Bytes, "attempts", st.Attempts)
			return nil
		}
		if !errors.Is(err, ErrConnectionLost) || ctx.Err() != nil || attempt >= attempts {
			return fmt.Errorf("transfer (attempt %d): %w", attempt, err)
		}
		d.log().Warn("connection lost during transfer: reconnecting", "node", r.node.Name, "attempt", attempt, "err", err)
		if err := r.reconnect(ctx); err != nil {
			return fmt.Errorf("transfer: reconnect after a dropped connection: %w", err)
		}
	}
}

// waitPoll is how long one agent wait blocks, so cancellation is noticed.
const waitPoll = 5

// waitSettled waits until the activation awaits confirmation or is final.
// A cancelled deploy aborts the activation (the node rolls back) and waits
// for that to finish. cause is the reason an abort was sent for.
func (rn *run) waitSettled(ctx context.Context, r *remote, id string, p *config.Profile) (agent.Status, Reason, error) {
	dctx := context.WithoutCancel(ctx)
	deadline := time.Now().Add(wholeSeconds(p.ActivationTimeout) + 2*time.Minute)
	for {
		if ctx.Err() != nil {
			s, err := abort(dctx, r.conn, r.sudo, id, ReasonCancelled)
			return s, ReasonCancelled, err
		}
		wctx, cancel := context.WithTimeout(dctx, (waitPoll+30)*time.Second)
		out, err := runAgent(wctx, r.conn, r.sudo, agent.Command(agent.SubWait, id, strconv.Itoa(waitPoll)))
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("%w: wait timed out", ErrConnectionLost)
			}
			return agent.Status{}, "", fmt.Errorf("wait for the activation: %w", err)
		}
		s, err := statusLine(out)
		if err != nil {
			return agent.Status{}, "", fmt.Errorf("wait for the activation: %w", err)
		}
		if s.State.Final() || s.State == agent.AwaitingConfirmation {
			return s, "", nil
		}
		if time.Now().After(deadline) {
			return s, "", fmt.Errorf("the activation on the node did not settle in time (status %s)", s.State)
		}
	}
}

// abort asks the agent to roll back now and returns the final status.
func abort(ctx context.Context, conn Conn, sudo Sudo, id string, why Reason) (agent.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	out, err := runAgent(ctx, conn, sudo, agent.Command(agent.SubAbort, id, string(why)))
	if err != nil {
		return agent.Status{}, fmt.Errorf("abort: %w", err)
	}
	return statusLine(out)
}

// confirm: a NEW connection (an old one may stay up through a broken
// network config and would confirm falsely), the health checks, then the
// confirmation; a failed check aborts (immediate rollback).
func (rn *run) confirm(ctx context.Context, r *remote, id string, p *config.Profile, pr *ProfileResult) {
	d := rn.d
	dctx := context.WithoutCancel(ctx)
	cctx, cancel := context.WithTimeout(ctx, wholeSeconds(p.ConfirmTimeout))
	conn, err := r.open(cctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			s, aerr := abort(dctx, r.conn, r.sudo, id, ReasonCancelled)
			if aerr != nil {
				rn.comeBack(ctx, r, id, p, pr)
				return
			}
			rn.finish(dctx, r.conn, r.sudo, id, s, ReasonCancelled, pr)
			return
		}
		d.log().Warn("node unreachable after activation: it rolls back by itself", "node", r.node.Name, "err", err)
		rn.comeBack(ctx, r, id, p, pr)
		return
	}
	defer conn.Close()

	if err := rn.checks(ctx, conn, r.node); err != nil {
		why := ReasonHealthCheck
		if ctx.Err() != nil {
			why = ReasonCancelled
		}
		s, aerr := abort(dctx, conn, r.sudo, id, why)
		if aerr != nil {
			rn.comeBack(ctx, r, id, p, pr)
			pr.Error = err.Error()
			return
		}
		rn.finish(dctx, conn, r.sudo, id, s, why, pr)
		if why == ReasonHealthCheck {
			pr.Error = err.Error()
		}
		return
	}
	// Nothing is confirmed after a cancellation.
	if ctx.Err() != nil {
		s, aerr := abort(dctx, conn, r.sudo, id, ReasonCancelled)
		if aerr != nil {
			rn.comeBack(ctx, r, id, p, pr)
			return
		}
		rn.finish(dctx, conn, r.sudo, id, s, ReasonCancelled, pr)
		return
	}
	// From here the node sets its profile and boot entry: wait for the end
	// whatever happens to the deploy's context.
	fctx, fcancel := context.WithTimeout(dctx, wholeSeconds(p.ActivationTimeout)+2*time.Minute)
	out, err := runAgent(fctx, conn, r.sudo, agent.Command(agent.SubConfirm, id))
	fcancel()
	if err != nil {
		if errors.Is(err, ErrConnectionLost) {
			rn.comeBack(ctx, r, id, p, pr)
			return
		}
		pr.fail(Failed, "", fmt.Errorf("confirm: %w", err))
		return
	}
	s, err := statusLine(out)
	if err != nil {
		pr.fail(Failed, "", fmt.Errorf("confirm: %w", err))
		return
	}
	// A confirmation that arrived after the confirm timeout is refused by
	// the agent: the checks took too long.
	rn.finish(dctx, conn, r.sudo, id, s, ReasonConfirmTimeout, pr)
}

// comeBack handles a node that became unreachable after activation: the
// agent rolls back by itself at the confirm timeout; wait (bounded) for the
// node to answer again and report what it did.
func (rn *run) comeBack(ctx context.Context, r *remote, id string, p *config.Profile, pr *ProfileResult) {
	d := rn.d
	grace := d.ComeBackGrace
	if grace <= 0 {
		grace = 30 * time.Second
	}
	dctx := context.WithoutCancel(ctx)
	deadline := time.Now().Add(wholeSeconds(p.ConfirmTimeout) + grace)
	var lastErr error
	for time.Now().Before(deadline) {
		actx, cancel := context.WithTimeout(dctx, 10*time.Second)
		conn, err := r.open(actx)
		cancel()
		if err != nil {
			lastErr = err
			_ = sleepCtx(dctx, time.Second)
			continue
		}
		s, err := waitFinal(dctx, conn, r.sudo, id, deadline)
		if err != nil {
			conn.Close()
			lastErr = err
			_ = sleepCtx(dctx, time.Second)
			continue
		}
		rn.finish(dctx, conn, r.sudo, id, s, ReasonUnreachable, pr)
		conn.Close()
		return
	}
	pr.fail(Unreachable, ReasonUnreachable, fmt.Errorf("activated, then unreachable: not confirmed, so it rolls back by itself, but it did not answer again within %s: check it: %w", wholeSeconds(p.ConfirmTimeout)+grace, lastErr))
}

// waitFinal waits on conn until the deploy's status is final.
func waitFinal(ctx context.Context, conn Conn, sudo Sudo, id string, deadline time.Time) (agent.Status, error) {
	for {
		wctx, cancel := context.WithTimeout(ctx, (waitPoll+30)*time.Second)
		out, err := runAgent(wctx, conn, sudo, agent.Command(agent.SubWait, id, strconv.Itoa(waitPoll)))
		cancel()
		if err != nil {
			return agent.Status{}, err
		}
		s, err := statusLine(out)
		if err != nil {
			return agent.Status{}, err
		}
		if s.State.Final() {
			return s, nil
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("still %s", s.State)
		}
		// awaiting-confirmation returns at once: do not spin.
		_ = sleepCtx(ctx, time.Second)
	}
}

// finish records a final agent status; cause explains not-confirmed and
// aborted. Failures fetch the activation log's tail.
func (rn *run) finish(ctx context.Context, conn Conn, sudo Sudo, id string, s agent.Status, cause Reason, pr *ProfileResult) {
	pr.Generation = s.Generation
	pr.Warning = s.Warning
	switch s.State {
	case agent.Deployed:
		pr.Outcome = Deployed
	case agent.DryActivated:
		pr.Outcome = DryActivated
	case agent.RolledBack:
		pr.Outcome, pr.Reason = RolledBack, reasonOf(s.Reason, cause)
	case agent.RollbackFailed:
		pr.Outcome, pr.Reason = RollbackFailed, reasonOf(s.Reason, cause)
	default:
		pr.Outcome, pr.Reason = Failed, reasonOf(s.Reason, cause)
	}
	if pr.Outcome != Deployed || pr.Warning != "" {
		pr.Log = logTail(ctx, conn, sudo, id)
		pr.FailedUnit = failedUnits(pr.Log)
	}
	if pr.Outcome != Deployed && pr.Outcome != DryActivated && pr.Error == "" {
		pr.Error = describe(pr)
	}
}

func describe(pr *ProfileResult) string {
	switch pr.Reason {
	case ReasonActivationFailed:
		return "activation failed"
	case ReasonActivationTimeout:
		return "activation timed out"
	case ReasonDegraded:
		if len(pr.FailedUnit) > 0 {
			return fmt.Sprintf("units failed after activation: %v", pr.FailedUnit)
		}
		return "units failed after activation"
	case ReasonUnreachable:
		return "unreachable after activation: not confirmed"
	case ReasonConfirmTimeout:
		return "confirmed too late: the health checks took longer than the confirm timeout"
	case ReasonCancelled:
		return "the deploy was cancelled before confirmation"
	case ReasonBootFailed:
		return "setting the profile or boot entry failed after confirmation"
	}
	return string(pr.Outcome)
}

func reasonOf(r agent.Reason, cause Reason) Reason {
	switch r {
	case agent.NotConfirmed, agent.Aborted:
		if cause != "" {
			return cause
		}
		return Reason(r)
	}
	return Reason(r)
}

// checkWithoutRollback runs the checks after a deploy without magic
// rollback: a failure is reported, nothing can be undone automatically.
func (rn *run) checkWithoutRollback(ctx context.Context, r *remote, pr *ProfileResult) {
	if len(r.node.Checks) == 0 {
		return
	}
	conn, err := r.open(ctx)
	if err != nil {
		pr.fail(Failed, ReasonUnreachable, fmt.Errorf("deployed without magic rollback, then unreachable: %w", err))
		return
	}
	defer conn.Close()
	if err := rn.checks(ctx, conn, r.node); err != nil {
		pr.fail(Failed, ReasonHealthCheck, fmt.Errorf("deployed without magic rollback, not rolled back: %w", err))
	}
}

// wholeSeconds rounds up to whole seconds, the agent's unit.
func wholeSeconds(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return (d + time.Second - 1).Truncate(time.Second)
}

func (pr *ProfileResult) fail(o Outcome, why Reason, err error) {
	pr.Outcome, pr.Reason = o, why
	if err != nil {
		pr.Error = err.Error()
	}
}

// setAll gives every profile of a node the same outcome (a node-level
// failure before any profile was touched).
func (n *NodeResult) setAll(o Outcome, why Reason, err error) {
	for _, pr := range n.Profiles {
		pr.Outcome, pr.Reason = o, why
	}
	n.Outcome, n.Reason = o, why
	if err != nil {
		n.Error = err.Error()
	}
}

// summarise sets the node's outcome to its worst profile's.
func (n *NodeResult) summarise() {
	if len(n.Profiles) == 0 {
		if n.Outcome == "" {
			n.Outcome = Unchanged
		}
		return
	}
	worst := n.Profiles[0]
	for _, pr := range n.Profiles[1:] {
		if pr.Outcome.severity() > worst.Outcome.severity() {
			worst = pr
		}
	}
	n.Outcome, n.Reason = worst.Outcome, worst.Reason
	if n.Error == "" && worst.Error != "" {
		n.Error = worst.Name + ": " + worst.Error
	}
}
