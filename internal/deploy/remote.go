package deploy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nix-deploy-action/nix-deploy-action/internal/agent"
	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
)

// remote is the runner's side of one node: its main connection, how to
// become root there, and the agent lock session.
type remote struct {
	d    *Deployer
	node *config.Node
	sudo Sudo
	conn Conn
	// lockID names the node lock, held by one session for the whole node
	// deploy; each activation has its own id under it.
	lockID string
	// idle is how long the agent keeps the lock without a heartbeat.
	idle  time.Duration
	lock  *lockSession
	stats *SSHStats
}

// SSHStats is how many SSH connections and sessions a node's deploy used.
type SSHStats struct {
	Connections int64 `json:"connections"`
	Sessions    int64 `json:"sessions"`
}

// open dials a new connection to the node, counted.
func (r *remote) open(ctx context.Context) (Conn, error) {
	c, err := r.d.Dialer.Dial(ctx, r.node)
	if err != nil {
		return nil, err
	}
	atomic.AddInt64(&r.stats.Connections, 1)
	return &countedConn{Conn: c, sessions: &r.stats.Sessions}, nil
}

type countedConn struct {
	Conn
	sessions *int64
}

func (c *countedConn) Run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	atomic.AddInt64(c.sessions, 1)
	return c.Conn.Run(ctx, argv, stdin, stdout, stderr)
}

// LockedError is a node locked by another deploy.
type LockedError struct {
	Node   string
	Owner  string
	Since  string
	Holder string
}

func (e *LockedError) Error() string {
	what := "another deploy"
	if e.Holder == "worker" {
		what = "the activation of another deploy, still running,"
	}
	return fmt.Sprintf("%s is locked by %s (id %s since %s): try again when it is done", e.Node, what, e.Owner, e.Since)
}

// dial opens the main connection.
func (r *remote) dial(ctx context.Context) error {
	c, err := r.open(ctx)
	if err != nil {
		return err
	}
	r.conn = c
	return nil
}

// close ends the lock session and the connection.
func (r *remote) close() {
	if r.lock != nil {
		r.lock.release()
		r.lock = nil
	}
	if r.conn != nil {
		_ = r.conn.Close()
		r.conn = nil
	}
}

// reconnect replaces a dropped main connection and takes the lock again
// (it was released when the old connection died).
func (r *remote) reconnect(ctx context.Context) error {
	r.close()
	if err := r.dial(ctx); err != nil {
		return err
	}
	return r.takeLock(ctx)
}

// runAgent runs an agent subcommand as root on conn and returns its stdout.
func runAgent(ctx context.Context, conn Conn, sudo Sudo, argv []string) (string, error) {
	var stdout, stderr bytes.Buffer
	err := conn.Run(ctx, sudo.Wrap(argv), sudo.Stdin(bytes.NewReader(agent.Script())), &stdout, &stderr)
	if err != nil {
		return stdout.String(), withStderr(err, stderr.String())
	}
	return stdout.String(), nil
}

// privileged runs argv as root with stdin.
func privileged(ctx context.Context, conn Conn, sudo Sudo, argv []string, stdin io.Reader, stdout io.Writer) error {
	var stderr bytes.Buffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	if err := conn.Run(ctx, sudo.Wrap(argv), sudo.Stdin(stdin), stdout, &stderr); err != nil {
		return withStderr(err, stderr.String())
	}
	return nil
}

// withStderr adds what the command printed when the adapter's error does
// not carry it already.
func withStderr(err error, stderr string) error {
	stderr = lastLines(stderr, 5)
	var re *RemoteExit
	if stderr == "" || errors.As(err, &re) && re.Stderr != "" {
		return err
	}
	return fmt.Errorf("%w: %s", err, stderr)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// checkSudo fails fast when sudo wants a password we do not have.
func (r *remote) checkSudo(ctx context.Context) error {
	conn := r.conn
	if cc, ok := conn.(*countedConn); ok {
		// The adapter checks sudo on its own connection type; the check
		// is one session (two with a password).
		conn = cc.Conn
		atomic.AddInt64(cc.sessions, 1)
	}
	s, err := r.d.Sudo(ctx, r.node, conn)
	switch {
	case err == nil:
		r.sudo = s
		return nil
	case errors.Is(err, ErrSudoPassword):
		// sudo -n says the same for a user who may not use sudo at all.
		return fmt.Errorf("sudo on %s needs a password, or %s may not use sudo there: give --sudo-password-file or NIX_DEPLOY_SUDO_PASSWORD, or allow %s NOPASSWD sudo: %w", r.node.Name, r.node.SSHUser, r.node.SSHUser, err)
	case errors.Is(err, ErrNoSudo):
		return fmt.Errorf("%s may not use sudo on %s, and deploying needs root: %w", r.node.SSHUser, r.node.Name, err)
	}
	return fmt.Errorf("sudo on %s: %w", r.node.Name, err)
}

// lockSession is the agent's lock subcommand, kept running: the node lock
// is held for as long as it lives.
type lockSession struct {
	hold  *io.PipeWriter
	ended chan struct{} // closed when the session is over
	err   error         // how it ended, once ended is closed
}

func (l *lockSession) release() {
	_ = l.hold.Close()
	select {
	case <-l.ended:
	case <-time.After(10 * time.Second):
	}
}

// lost reports whether the session ended before we released it: the lock
// is no longer ours.
func (l *lockSession) lost() error {
	if l == nil {
		return errors.New("no node lock session")
	}
	select {
	case <-l.ended:
		if l.err != nil {
			return fmt.Errorf("the node lock session ended: %w", l.err)
		}
		return errors.New("the node lock session ended")
	default:
		return nil
	}
}

// heartbeat tells the agent we are still there, until the session ends. A
// write blocked on a stalled connection is released by release's Close.
func (l *lockSession) heartbeat(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if _, err := io.WriteString(l.hold, agent.Heartbeat); err != nil {
				return
			}
		case <-l.ended:
			return
		}
	}
}

// heartbeatEvery is how often the runner writes a heartbeat on the lock
// session; lockIdle keeps the agent's limit far above it.
const heartbeatEvery = 10 * time.Second

// lockIdle is how long the node keeps the lock of a runner it no longer
// hears from: longer than any activation and confirmation of the node's
// profiles take, so a slow but live deploy never loses it, and a minute
// for a connection that stalls for a while.
func lockIdle(profiles []*config.Profile) time.Duration {
	var act, confirm time.Duration
	for _, p := range profiles {
		act = max(act, wholeSeconds(p.ActivationTimeout))
		confirm = max(confirm, wholeSeconds(p.ConfirmTimeout))
	}
	return act + confirm + time.Minute
}

// busyRetry is how long takeLock waits for our own previous worker to let
// go of the node (it writes its final status just before it exits).
const busyRetry = 15 * time.Second

// takeLock starts the lock session under r.lockID.
func (r *remote) takeLock(ctx context.Context) error {
	deadline := time.Now().Add(busyRetry)
	for {
		err := r.tryLock(ctx)
		var le *LockedError
		if errors.As(err, &le) && le.Holder == "worker" && le.Owner == r.lockID && time.Now().Before(deadline) {
			if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
				return err
			}
			continue
		}
		return err
	}
}

func (r *remote) tryLock(ctx context.Context) error {
	args := []string{r.lockID}
	if r.idle > 0 {
		args = append(args, strconv.FormatInt(int64(wholeSeconds(r.idle)/time.Second), 10))
	}
	pr, pw := io.Pipe()
	stdin := r.sudo.Stdin(io.MultiReader(bytes.NewReader(agent.Script()), pr))
	first := make(chan string, 1)
	lw := &firstLine{ch: first}
	var stderr bytes.Buffer
	l := &lockSession{hold: pw, ended: make(chan struct{})}
	conn := r.conn
	// The lock outlives a cancelled deploy until the engine releases it:
	// an abort after cancellation still runs under it.
	lctx := context.WithoutCancel(ctx)
	go func() {
		err := conn.Run(lctx, r.sudo.Wrap(agent.Command(agent.SubLock, args...)), stdin, lw, &stderr)
		lw.close()
		if err != nil {
			l.err = withStderr(err, stderr.String())
		}
		close(l.ended)
	}()
	var line string
	select {
	case line = <-first:
	case <-ctx.Done():
		_ = pw.Close()
		return ctx.Err()
	}
	if line == "" {
		_ = pw.Close()
		<-l.ended
		err := l.err
		if err == nil {
			err = errors.New("the lock session ended without a reply")
		}
		return fmt.Errorf("lock %s: %w", r.node.Name, err)
	}
	lock, err := agent.ParseLock(line)
	if err != nil {
		_ = pw.Close()
		<-l.ended
		return fmt.Errorf("lock %s: %w", r.node.Name, err)
	}
	if !lock.OK {
		_ = pw.Close()
		<-l.ended
		return &LockedError{Node: r.node.Name, Owner: lock.Owner, Since: lock.Since, Holder: lock.Holder}
	}
	if r.idle > 0 {
		go l.heartbeat(heartbeatEvery)
	}
	r.lock = l
	return nil
}

// firstLine hands the first complete line written to it to ch, then
// discards; close sends "" if no line came.
type firstLine struct {
	mu   sync.Mutex
	buf  []byte
	ch   chan string
	sent bool
}

func (f *firstLine) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sent {
		return len(p), nil
	}
	f.buf = append(f.buf, p...)
	if i := bytes.IndexByte(f.buf, '\n'); i >= 0 {
		f.ch <- string(f.buf[:i])
		f.sent = true
	}
	return len(p), nil
}

func (f *firstLine) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.sent {
		f.ch <- strings.TrimSpace(string(f.buf))
		f.sent = true
	}
}

// preflight reads the node's tools and profiles.
func (r *remote) preflight(ctx context.Context, profiles []string) (agent.Preflight, error) {
	out, err := runAgent(ctx, r.conn, r.sudo, agent.Command(agent.SubPreflight, profiles...))
	if err != nil {
		return agent.Preflight{}, fmt.Errorf("preflight %s: %w", r.node.Name, err)
	}
	pf, err := agent.ParsePreflight(out)
	if err != nil {
		return agent.Preflight{}, fmt.Errorf("preflight %s: %w", r.node.Name, err)
	}
	if pf.Tools["nix-store"] == "" || pf.Tools["nix-env"] == "" {
		return agent.Preflight{}, fmt.Errorf("preflight %s: nix-store or nix-env not found on the node: is Nix installed?", r.node.Name)
	}
	if len(pf.Profiles) != len(profiles) {
		return agent.Preflight{}, fmt.Errorf("preflight %s: asked for %d profiles, got %d", r.node.Name, len(profiles), len(pf.Profiles))
	}
	return pf, nil
}

// statusLine parses the last status line of an agent reply.
func statusLine(out string) (agent.Status, error) {
	var last string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, "status=") {
			last = l
		}
	}
	return agent.ParseStatus(last)
}

// logTail fetches the end of an activation's log from the node, through
// the agent, which knows where its state lives.
func logTail(ctx context.Context, conn Conn, sudo Sudo, id string) []string {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	out, err := runAgent(ctx, conn, sudo, agent.Command(agent.SubLog, id, "30"))
	if err != nil {
		return nil
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// failedUnits picks the units NixOS names when switch-to-configuration
// exits 4: "warning: the following units failed: a.service, b.service".
func failedUnits(log []string) []string {
	var units []string
	seen := map[string]bool{}
	for _, l := range log {
		_, rest, ok := strings.Cut(l, "the following units failed:")
		if !ok {
			continue
		}
		for _, u := range strings.FieldsFunc(rest, func(r rune) bool { return r == ',' || r == ' ' }) {
			if !seen[u] {
				seen[u] = true
				units = append(units, u)
			}
		}
	}
	return units
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
