// Package agent is the target-side half of a deploy: a POSIX sh script
// (agent.sh, embedded) that the runner sends to a node on stdin, and the Go
// code that builds its command lines and parses its replies.
//
// Nothing is installed on the node. The runner runs, through sudo and SSH,
//
//	sudo -n sh -s -- <subcommand> <args>     stdin: Script()
//
// (with a sudo password, the password line comes first on stdin; see
// ssh.Sudo). Script() is a small bootstrap that stores the agent under
// /run/nix-deploy/agent-<hash>.sh and runs it, so the activation worker can
// outlive the SSH session. All state lives in /run/nix-deploy (0700 root, a
// tmpfs on NixOS: a reboot clears it).
//
// A deploy of a node, as the deploy engine drives it:
//
//  1. Command(SubLock, lockID, idleSeconds) on a session kept open for the
//     whole node deploy, all its profiles (stdin a pipe the runner closes at
//     the end). The reply line is ParseLock's; the node lock is released
//     when the session ends, however it ends. Busy: exit status ExitBusy.
//     With idleSeconds, the runner writes Heartbeat on the session's stdin
//     more often than that: after idleSeconds without one (a runner cut off
//     by a network partition, whose connection sshd has not yet noticed is
//     dead), the agent ends the session and frees the node.
//  2. Command(SubPreflight, profiles...): ParsePreflight.
//
// Then, per profile, each activation under its own id:
//
//  3. Start{Lock: lockID, ID: id, ...}.Command(): the agent refuses unless
//     the lock is held under lockID, validates everything again, starts the
//     detached worker (systemd-run, or setsid) and replies "started=<id>"
//     once the worker holds the node (so no other deploy can slip in even
//     if the runner vanishes now).
//  4. Command(SubWait, id[, seconds]): blocks until the deploy awaits
//     confirmation or is final; ParseStatus on the reply.
//  5. Over a NEW SSH connection, after health checks: Command(SubConfirm, id),
//     which replies the final status (the confirmation may have come too late:
//     trust the reply, not the request). Or Command(SubAbort, id, reason) to
//     roll back now.
//
// Without confirmation within the confirm timeout, the worker rolls back by
// itself. Command(SubLog, id[, lines]) prints the end of the worker's log.
//
// Agent exit statuses: 0 the reply says what happened; 1 error (stderr says
// why); ExitBadArgs, ExitWrongState, ExitBusy.
package agent

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
)

//go:embed agent.sh
var agentSH string

// heredocEnd ends the here-document that carries the agent in the bootstrap;
// a test checks the script never contains it.
const heredocEnd = "NIX_DEPLOY_AGENT_EOF"

var bootstrap = makeBootstrap(agentSH)

func makeBootstrap(script string) []byte {
	if !strings.HasSuffix(script, "\n") {
		script += "\n"
	}
	sum := sha256.Sum256([]byte(script))
	name := "agent-" + hex.EncodeToString(sum[:8]) + ".sh"
	return []byte(`# nix-deploy agent bootstrap: keep the agent as a file (the worker outlives
# this session and runs from it), then run it.
set -euf
umask 077
d=${NIX_DEPLOY_STATE:-/run/nix-deploy}
f=$d/` + name + `
if [ -L "$d" ]; then
	echo "nix-deploy-agent: $d is a symlink" >&2
	exit 1
fi
if [ ! -f "$f" ]; then
	mkdir -p "$d"
	chmod 700 "$d"
	cat >"$f.$$" <<'` + heredocEnd + `'
` + script + heredocEnd + `
	mv -f "$f.$$" "$f"
fi
exec sh "$f" "$@"
`)
}

// Script returns what to send on stdin for any Command.
func Script() []byte { return bootstrap }

// The agent's subcommands.
const (
	SubLock      = "lock"      // lock <lock-id> [idle-seconds]: hold the node lock while the session lives
	SubPreflight = "preflight" // preflight <profile>...: tools, systemd, profiles
	SubStart     = "start"     // start <lock-id> <id> key=value...: see Start
	SubWait      = "wait"      // wait <id> [seconds]: until awaiting confirmation or final
	SubStatus    = "status"    // status <id>: the status line, at once
	SubConfirm   = "confirm"   // confirm <id>: confirm, then reply the final status
	SubAbort     = "abort"     // abort <id> <reason>: roll back now, reply the final status
	SubLog       = "log"       // log <id> [lines]: the last lines (default 50) of the activation log
)

// Heartbeat is what the runner writes on a lock session's stdin, when the
// lock was taken with idle seconds, to say it is still there.
const Heartbeat = "\n"

// Exit statuses of the agent besides 0 and 1.
const (
	ExitBadArgs    = 2  // invalid arguments: a bug on our side or a mangled command
	ExitWrongState = 3  // e.g. confirm while still activating, start without the lock
	ExitBusy       = 75 // the node is locked by another deploy (EX_TEMPFAIL)
)

// Command returns the argv that runs the agent's subcommand sub on a node;
// send Script() on its stdin. Wrap it with ssh.Sudo.
func Command(sub string, args ...string) []string {
	return append([]string{"sh", "-s", "--", sub}, args...)
}

// ValidID reports whether id can name a deploy on a node: 1–64 of
// [A-Za-z0-9._-], not starting with '.' or '-'. It is also a systemd unit
// name suffix.
func ValidID(id string) bool {
	if id == "" || len(id) > 64 || id[0] == '.' || id[0] == '-' {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Mode is how a profile is activated.
type Mode string

// The activation modes, as nixos-rebuild names them. Custom profiles support
// ModeSwitch and ModeTest.
const (
	ModeSwitch      Mode = "switch"
	ModeBoot        Mode = "boot"
	ModeTest        Mode = "test"
	ModeDryActivate Mode = "dry-activate"
)

// Kind says how a profile is activated: a NixOS system
// (bin/switch-to-configuration) or a custom profile (its own command).
type Kind string

// The profile kinds.
const (
	KindNixOS  Kind = "nixos"
	KindCustom Kind = "custom"
)

// Start describes one activation; Command turns it into the start argv.
type Start struct {
	Lock              string        // the id the node lock is held under (see SubLock)
	ID                string        // this activation's id, new on the node; see ValidID
	Path              string        // the store path to activate, already on the node
	Profile           string        // absolute profile path, e.g. /nix/var/nix/profiles/system
	Mode              Mode          // default ModeSwitch
	Kind              Kind          // default KindNixOS
	User              string        // custom profiles: the user the activation runs as (default root)
	Activate          string        // custom profiles: activation command, relative to Path
	ActivationTimeout time.Duration // whole seconds, default 5m
	ConfirmTimeout    time.Duration // whole seconds, default 30s
	MagicRollback     bool          // wait for confirmation, roll back without it
	DegradedWarn      bool          // switch-to-configuration exit 4 is a warning, not a rollback
	KeepGenerations   int           // prune to this many generations after success; 0 keeps all
}

// Command validates s and returns the argv of the start subcommand. The agent
// checks the same rules again on the node.
func (s Start) Command() ([]string, error) {
	if !ValidID(s.Lock) {
		return nil, fmt.Errorf("invalid lock id %q", s.Lock)
	}
	if !ValidID(s.ID) {
		return nil, fmt.Errorf("invalid deploy id %q", s.ID)
	}
	if !closure.IsStorePath(s.Path) {
		return nil, fmt.Errorf("invalid store path %q", s.Path)
	}
	if !validAbsPath(s.Profile) {
		return nil, fmt.Errorf("invalid profile path %q", s.Profile)
	}
	mode, kind, user := s.Mode, s.Kind, s.User
	if mode == "" {
		mode = ModeSwitch
	}
	if kind == "" {
		kind = KindNixOS
	}
	if user == "" {
		user = "root"
	}
	switch mode {
	case ModeSwitch, ModeTest:
	case ModeBoot, ModeDryActivate:
		if kind == KindCustom {
			return nil, fmt.Errorf("custom profiles support switch and test, not %s", mode)
		}
	default:
		return nil, fmt.Errorf("invalid mode %q", mode)
	}
	switch kind {
	case KindNixOS:
		if s.Activate != "" || user != "root" {
			return nil, fmt.Errorf("a nixos profile has no activate command and belongs to root")
		}
	case KindCustom:
		if !validRelPath(s.Activate) {
			return nil, fmt.Errorf("invalid activate command %q: want a path relative to the store path", s.Activate)
		}
	default:
		return nil, fmt.Errorf("invalid kind %q", kind)
	}
	if !validUser(user) {
		return nil, fmt.Errorf("invalid user %q", user)
	}
	at, err := seconds("activation timeout", s.ActivationTimeout, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	ct, err := seconds("confirm timeout", s.ConfirmTimeout, 30*time.Second)
	if err != nil {
		return nil, err
	}
	if s.KeepGenerations < 0 {
		return nil, fmt.Errorf("invalid keep-generations %d", s.KeepGenerations)
	}
	args := []string{
		s.Lock,
		s.ID,
		"path=" + s.Path,
		"profile=" + s.Profile,
		"mode=" + string(mode),
		"kind=" + string(kind),
		"user=" + user,
		"activation-timeout=" + at,
		"confirm-timeout=" + ct,
		"magic-rollback=" + bit(s.MagicRollback),
		"degraded=" + map[bool]string{false: "fail", true: "warn"}[s.DegradedWarn],
		fmt.Sprintf("keep-generations=%d", s.KeepGenerations),
	}
	if kind == KindCustom {
		args = append(args, "activate="+s.Activate)
	}
	return Command(SubStart, args...), nil
}

func seconds(what string, d, def time.Duration) (string, error) {
	if d == 0 {
		d = def
	}
	if d < time.Second || d%time.Second != 0 || d > 9999999*time.Second {
		return "", fmt.Errorf("invalid %s %s: want whole seconds", what, d)
	}
	return fmt.Sprint(int64(d / time.Second)), nil
}

func bit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func validAbsPath(p string) bool {
	return strings.HasPrefix(p, "/") && validPathChars(p)
}

func validRelPath(p string) bool {
	return p != "" && !strings.HasPrefix(p, "/") && validPathChars(p)
}

func validPathChars(p string) bool {
	for _, part := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		if part == "" || part == "." || part == ".." || !onlyChars(part, "._+-") {
			return false
		}
	}
	return true
}

func validUser(u string) bool {
	if u == "" || len(u) > 32 || u[0] == '-' {
		return false
	}
	for _, c := range u {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func onlyChars(s, extra string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(extra, c)) {
			return false
		}
	}
	return true
}
