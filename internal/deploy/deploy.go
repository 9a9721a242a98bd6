// Package deploy is the deploy engine: per node connect → preflight →
// transfer → activate → confirm → report, fleet strategies, outcomes and
// the result JSON.
//
// It is core: everything that touches the outside (SSH, the local Nix
// store, nix build, HTTP) is behind the small interfaces below, wired in by
// internal/cli. On the node it drives the agent (internal/agent): the node
// lock is held by an agent session for the whole node deploy, activation
// runs in a worker detached from SSH, and the runner confirms over a NEW
// connection after the health checks pass; without that confirmation the
// agent rolls back by itself.
package deploy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/nix-deploy-action/nix-deploy-action/internal/agent"
	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
)

// Dialer opens a NEW SSH connection to a node on each call, with the host
// key verified before anything else.
type Dialer interface {
	Dial(ctx context.Context, n *config.Node) (Conn, error)
}

// Conn is one SSH connection; each Run is one session. Adapters map their
// errors to ErrConnectionLost, ErrSudoPassword, ErrNoSudo, ErrHostKey and
// *RemoteExit so the engine can branch on them.
type Conn interface {
	Run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error
	Close() error
}

// Sudo makes a command privileged on a node (ssh.Sudo satisfies it).
type Sudo interface {
	Wrap(argv []string) []string
	Stdin(r io.Reader) io.Reader
}

// Store is the runner's Nix store.
type Store interface {
	// Requisites returns the closure of path, dependencies first.
	Requisites(ctx context.Context, path string) ([]string, error)
	// Export writes the nix-store --export stream of paths to w.
	Export(ctx context.Context, paths []string, w io.Writer) error
}

// Builder realises an installable in the runner and returns its out path.
type Builder interface {
	Build(ctx context.Context, installable string, logLine func(string)) (string, error)
}

// Prober runs HTTP health checks from the runner.
type Prober interface {
	HTTP(ctx context.Context, url string, status int, timeout time.Duration) error
}

// Verifier checks a built path against a reviewed plan (plan.Plan does).
type Verifier interface {
	Verify(node, profile, built string) error
}

// Errors adapters wrap theirs in.
var (
	ErrConnectionLost = errors.New("connection lost")
	ErrSudoPassword   = errors.New("sudo needs a password")
	ErrNoSudo         = errors.New("the ssh user may not use sudo")
	ErrHostKey        = errors.New("host key refused")
)

// RemoteExit is a remote command that exited non-zero.
type RemoteExit struct {
	Status int
	Stderr string // the tail
}

func (e *RemoteExit) Error() string {
	if e.Stderr == "" {
		return "exit status " + strconv.Itoa(e.Status)
	}
	return "exit status " + strconv.Itoa(e.Status) + ": " + e.Stderr
}

// Mode is how profiles are activated.
type Mode = agent.Mode

// Deployer deploys built profiles to nodes. Its fields are the adapters;
// the zero values of the tuning fields are sensible defaults.
type Deployer struct {
	Dialer  Dialer
	Store   Store
	Builder Builder
	Prober  Prober
	// Sudo checks, on a fresh connection, that the node's sudo works and
	// returns how to become root there; errors wrap ErrSudoPassword or
	// ErrNoSudo when sudo refused.
	Sudo func(ctx context.Context, n *config.Node, c Conn) (Sudo, error)
	// Events receives progress; calls are serialised.
	Events func(Event)
	// BuildLog receives build log lines as they arrive; nil drops them.
	BuildLog func(node, profile, line string)
	Log      *slog.Logger
	// BuildJobs bounds concurrent builds; 2 when zero.
	BuildJobs int
	// TransferAttempts is how often a transfer is tried on a dropped
	// connection; 3 when zero.
	TransferAttempts int
	// ComeBackGrace is how long after the confirm timeout the engine waits
	// for an unreachable node to come back, to report what it rolled back
	// to; 30s when zero.
	ComeBackGrace time.Duration
	// Now and the ID source are replaceable for golden tests.
	Now func() time.Time
}

// Request is one deploy.
type Request struct {
	// Env is the environment: its strategy and failure policy.
	Env   *config.Environment
	Nodes []*config.Node
	Mode  Mode
	// Reviewed, when set, must accept every built path before anything
	// is deployed anywhere.
	Reviewed Verifier
	// Approve, when set, is asked after the builds, before any node is
	// contacted: false deploys nothing (interactive confirmation).
	Approve func(ctx context.Context, targets []Target) (bool, error)
	// ID names the deploy on the nodes; generated when empty.
	ID string
}

// Target is one profile to deploy: what Approve is shown.
type Target struct {
	Node    *config.Node
	Profile *config.Profile
	Path    string // built store path
}

// Step is a stage of a node's deploy.
type Step string

// The steps, in order.
const (
	StepBuild     Step = "build"
	StepConnect   Step = "connect"
	StepPreflight Step = "preflight"
	StepTransfer  Step = "transfer"
	StepActivate  Step = "activate"
	StepConfirm   Step = "confirm"
)

// EventKind says what happened.
type EventKind string

// The event kinds.
const (
	NodeStarted  EventKind = "node-started"
	StepStarted  EventKind = "step"
	NodeFinished EventKind = "node-finished"
)

// Event is progress of one node. Result is set on NodeFinished.
type Event struct {
	Kind    EventKind
	Node    string
	Profile string // for profile steps
	Step    Step
	Time    time.Time
	Result  *NodeResult
}

func (d *Deployer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Deployer) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.New(slog.DiscardHandler)
}
