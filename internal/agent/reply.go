package agent

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// State is where a deploy stands on the node.
type State string

// The states a status line reports. Activating, AwaitingConfirmation,
// Confirmed and RollingBack are transient; the others are final.
const (
	Activating           State = "activating"
	AwaitingConfirmation State = "awaiting-confirmation"
	Confirmed            State = "confirmed"    // confirmation accepted, profile and boot entry being set
	RollingBack          State = "rolling-back" // Reason says why
	Deployed             State = "deployed"
	DryActivated         State = "dry-activated"
	RolledBack           State = "rolled-back"     // Reason says why; the previous generation runs
	RollbackFailed       State = "rollback-failed" // the node needs a human
	Failed               State = "failed"          // nothing was changed (e.g. dry-activate failed)
)

// Final reports whether the worker is done with the deploy.
func (s State) Final() bool {
	switch s {
	case Deployed, DryActivated, RolledBack, RollbackFailed, Failed:
		return true
	}
	return false
}

func (s State) known() bool {
	switch s {
	case Activating, AwaitingConfirmation, Confirmed, RollingBack:
		return true
	}
	return s.Final()
}

// Reason says why a deploy rolled back or failed.
type Reason string

// The reasons the agent reports. A newer agent may report others: callers
// treat an unknown reason as a failure with that name.
const (
	ActivationFailed  Reason = "activation-failed"
	ActivationTimeout Reason = "activation-timeout"
	NotConfirmed      Reason = "not-confirmed"
	Aborted           Reason = "aborted"
	Degraded          Reason = "degraded"    // switch-to-configuration exit 4: some units failed
	BootFailed        Reason = "boot-failed" // setting the profile or boot entry after confirmation failed
	SetProfile        Reason = "set-profile" // nix-env --set failed; nothing was activated
	WorkerBusy        Reason = "worker-busy" // another worker held the node
)

// Status is a parsed status line:
// "status=<state> [reason=<r>] [generation=<n>] [warning=<w>]".
type Status struct {
	State      State
	Reason     Reason // set for rolling-back, rolled-back, rollback-failed, failed
	Generation int    // the profile generation a deploy created; 0 if none
	Warning    string // "degraded" when exit 4 was accepted as a warning
}

// ErrReply is wrapped by every parse error: the agent's reply was not what
// the protocol says.
var ErrReply = errors.New("unexpected agent reply")

// ParseStatus parses a status line. It never panics.
func ParseStatus(line string) (Status, error) {
	f, err := fields(line)
	if err != nil {
		return Status{}, err
	}
	var s Status
	for _, kv := range f {
		switch kv.key {
		case "status":
			s.State = State(kv.value)
		case "reason":
			s.Reason = Reason(kv.value)
		case "generation":
			n, err := strconv.Atoi(kv.value)
			if err != nil || n < 0 {
				return Status{}, fmt.Errorf("%w: generation %q", ErrReply, kv.value)
			}
			s.Generation = n
		case "warning":
			s.Warning = kv.value
		}
	}
	if len(f) == 0 || f[0].key != "status" {
		return Status{}, fmt.Errorf("%w: %q is not a status line", ErrReply, clip(line))
	}
	if !s.State.known() {
		return Status{}, fmt.Errorf("%w: unknown state %q", ErrReply, clip(string(s.State)))
	}
	return s, nil
}

// Lock is the reply of the lock subcommand.
type Lock struct {
	OK     bool
	Owner  string // the deploy id holding the lock (ours when OK)
	Since  string // when a busy lock was taken, UTC RFC 3339
	Holder string // for a busy lock: "session" (a runner) or "worker" (an activation still running)
	// Activation is, for holder worker, the id of the running activation;
	// Owner is then the lock id it was started under.
	Activation string
}

// ParseLock parses "locked=ok owner=<id>" or
// "locked=busy owner=<id> since=<time> holder=<session|worker> [activation=<id>]".
func ParseLock(line string) (Lock, error) {
	f, err := fields(line)
	if err != nil {
		return Lock{}, err
	}
	if len(f) == 0 || f[0].key != "locked" || (f[0].value != "ok" && f[0].value != "busy") {
		return Lock{}, fmt.Errorf("%w: %q is not a lock reply", ErrReply, clip(line))
	}
	l := Lock{OK: f[0].value == "ok"}
	for _, kv := range f[1:] {
		switch kv.key {
		case "owner":
			l.Owner = kv.value
		case "since":
			l.Since = kv.value
		case "holder":
			l.Holder = kv.value
		case "activation":
			l.Activation = kv.value
		}
	}
	return l, nil
}

// Preflight is the reply of the preflight subcommand.
type Preflight struct {
	Tools         map[string]string // "nix-env", "nix-store", "nix" → absolute path, "" when missing
	Systemd       bool              // systemd is PID 1: the worker runs in a transient unit
	CurrentSystem string            // /run/current-system's store path, "" when not NixOS
	Profiles      []Profile         // in the order asked
}

// Profile is the state of one profile on the node.
type Profile struct {
	Path       string
	Current    string // store path, "" when the profile does not exist yet
	Generation int    // 0 when the profile does not exist yet
}

// ParsePreflight parses the preflight reply. It never panics.
func ParsePreflight(out string) (Preflight, error) {
	p := Preflight{Tools: map[string]string{}}
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		f, err := fields(line)
		if err != nil {
			return Preflight{}, err
		}
		if len(f) == 0 {
			continue
		}
		switch k, v := f[0].key, f[0].value; k {
		case "nix-env", "nix-store", "nix":
			p.Tools[k] = v
		case "systemd":
			p.Systemd = v == "1"
		case "current-system":
			p.CurrentSystem = v
		case "profile":
			pr := Profile{Path: v}
			for _, kv := range f[1:] {
				switch kv.key {
				case "current":
					pr.Current = kv.value
				case "generation":
					if kv.value == "" {
						continue
					}
					n, err := strconv.Atoi(kv.value)
					if err != nil || n < 0 {
						return Preflight{}, fmt.Errorf("%w: generation %q", ErrReply, clip(kv.value))
					}
					pr.Generation = n
				}
			}
			p.Profiles = append(p.Profiles, pr)
		default:
			return Preflight{}, fmt.Errorf("%w: preflight line %q", ErrReply, clip(line))
		}
	}
	return p, nil
}

type field struct{ key, value string }

// fields splits a reply line into key=value tokens; values never hold
// spaces because the agent validates everything it echoes.
func fields(line string) ([]field, error) {
	var out []field
	seen := map[string]bool{}
	for _, tok := range strings.Fields(line) {
		k, v, ok := strings.Cut(tok, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: token %q is not key=value", ErrReply, clip(tok))
		}
		if seen[k] {
			return nil, fmt.Errorf("%w: key %q twice", ErrReply, clip(k))
		}
		seen[k] = true
		out = append(out, field{k, v})
	}
	return out, nil
}

// clip keeps error messages short whatever the node sent.
func clip(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
