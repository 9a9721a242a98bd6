// Package config is the deploy plan: its YAML schema, defaults and their
// inheritance, and strict validation that names FILE:LINE:COLUMN and the
// field of every problem. It reads files and nothing else: it never runs
// nix or contacts a node.
package config

import (
	"time"
)

// Strategy is how an environment's nodes are rolled out.
type Strategy string

// The strategies.
const (
	Rolling  Strategy = "rolling"  // max-parallel nodes at a time
	Parallel Strategy = "parallel" // all at once (bounded by max-parallel when set)
	Canary   Strategy = "canary"   // the first Canary nodes alone, then the rest rolling
)

// OnFailure is what an environment's rollout does after a node fails.
type OnFailure string

// The failure policies.
const (
	Stop     OnFailure = "stop"     // deploy no further node
	Continue OnFailure = "continue" // deploy the rest anyway
)

// Transfer is how a closure reaches a node.
type Transfer string

// The transfer modes.
const (
	Push       Transfer = "push"       // streamed from the runner
	Substitute Transfer = "substitute" // the node fetches from its binary caches
)

// ProfileKind says how a profile is activated.
type ProfileKind string

// The profile kinds.
const (
	// NixOS is a system closure: switch-to-configuration.
	NixOS ProfileKind = "nixos"
	// Custom is any installable with an activation command inside it.
	Custom ProfileKind = "custom"
	// DeployRS is a deploy-rs activation wrapper, already evaluated to a
	// store path; its activation command is deploy-rs-activate.
	DeployRS ProfileKind = "deploy-rs"
)

// What switch-to-configuration's exit 4 (some units failed) counts as.
const (
	DegradedFail = "fail"
	DegradedWarn = "warn"
)

// Built-in defaults, used where neither the profile, the node nor the
// plan's defaults say otherwise.
const (
	DefaultSSHUser           = "root"
	DefaultPort              = 22
	DefaultConfirmTimeout    = 30 * time.Second
	DefaultActivationTimeout = 240 * time.Second // deploy-rs's value
	DefaultCheckTimeout      = 10 * time.Second
	DefaultCheckInterval     = 2 * time.Second
	DefaultCheckStatus       = 200
	DefaultProfileUser       = "root"
)

// DefaultSudo is the privilege prefix for an SSH user other than root.
// -n makes sudo fail at once instead of waiting for a password.
var DefaultSudo = []string{"sudo", "-n"}

// Pos is a position in a plan file; Line and Column count from 1.
type Pos struct {
	File         string
	Line, Column int
}

// Plan is a validated deploy plan with every default resolved.
type Plan struct {
	File string // as given by the user, for messages
	Dir  string // directory relative paths in the plan are resolved against

	Version int
	// Flake is the flake reference with a relative path made relative to
	// the working directory ("./ops/flake"), or absolute when Dir is.
	Flake string
	// NixFile is the resolved path of nix-file, for plans without flakes.
	NixFile string
	// NodesFrom is the flake output holding a deploy-rs node list; when
	// set, Nodes stays empty until FromDeployRS fills it.
	NodesFrom string

	Environments     map[string]*Environment
	EnvironmentNames []string // file order
	Nodes            []*Node  // file order

	// Kept for FromDeployRS: the plan's defaults, the per-node additions
	// it may carry, and the environments still to be resolved.
	defaults settings
	overlays []*overlay
	envRefs  map[string][]envRef
}

// Node returns the node called name, or nil.
func (p *Plan) Node(name string) *Node {
	for _, n := range p.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Environment is a named set of nodes and how to roll out to them.
type Environment struct {
	Name  string
	Nodes []string // resolved node names, in plan order
	// Strategy, with MaxParallel nodes at a time (0 = no limit) and, for
	// Canary, the number of nodes deployed alone first.
	Strategy    Strategy
	MaxParallel int
	Canary      int
	OnFailure   OnFailure
	URL         string // the GitHub environment_url, optional
	Pos         Pos
}

// Node is one machine reached over SSH.
type Node struct {
	Name    string
	Host    string // DNS name or IP literal, without brackets or port
	Port    int
	SSHUser string
	// Sudo is the argv prefix that makes a command run as root; empty when
	// SSHUser is root.
	Sudo     []string
	HostKey  string // pinned key, "type base64", or "" for known_hosts
	Tags     []string
	Profiles []*Profile // deploy order
	Checks   []Check
	Pos      Pos
}

// Profile is one Nix profile on a node and what goes into it.
type Profile struct {
	Name string
	Kind ProfileKind
	// Installable is what to build. For flake plans it is
	// "<flakeref>#<attr>"; for nix-file plans it is the attribute path
	// alone, built with `nix build --file <Plan.NixFile> <attr>`.
	Installable string
	// Attr is the attribute path part of Installable.
	Attr string
	// NixOSName is the nixosConfigurations name of a NixOS profile.
	NixOSName string
	// StorePath is known before building only for deploy-rs profiles: the
	// activation wrapper evaluated by `nix eval --json`.
	StorePath string
	User      string // owner of the profile
	Path      string // the profile's path on the node
	// Activate is the command, relative to the new store path, that
	// activates a Custom or DeployRS profile.
	Activate          string
	MagicRollback     bool
	ConfirmTimeout    time.Duration
	ActivationTimeout time.Duration
	Transfer          Transfer
	KeepGenerations   int    // 0 keeps every generation
	DegradedUnits     string // DegradedFail or DegradedWarn
	Pos               Pos
}

// Check is a health check run before a deploy is confirmed: a command on
// the node over SSH, or an HTTP GET from the runner.
type Check struct {
	Command string
	HTTP    string
	Status  int // expected HTTP status
	// Timeout bounds one attempt; failed attempts are retried every
	// Interval until RetryFor has passed since the first.
	Timeout, RetryFor, Interval time.Duration
	Pos                         Pos
}

// ProfileCount is the number of profiles over all nodes.
func (p *Plan) ProfileCount() int {
	n := 0
	for _, node := range p.Nodes {
		n += len(node.Profiles)
	}
	return n
}
