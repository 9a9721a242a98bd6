package config

import (
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// opt is a setting that may be unset at one level of the inheritance
// chain (profile > node > defaults > built-in).
type opt[T any] struct {
	v     T
	set   bool
	pos   Pos // where it was set, for messages about the combination
	field string
}

func (o opt[T]) or(parent opt[T]) opt[T] {
	if o.set {
		return o
	}
	return parent
}

func (o opt[T]) get(builtin T) T {
	if o.set {
		return o.v
	}
	return builtin
}

// settings are the keys of defaults that nodes and profiles may override.
type settings struct {
	sshUser           opt[string]
	port              opt[int]
	sudo              opt[[]string]
	magicRollback     opt[bool]
	confirmTimeout    opt[time.Duration]
	activationTimeout opt[time.Duration]
	transfer          opt[Transfer]
	keepGenerations   opt[int]
	degradedUnits     opt[string]
}

// over returns s with unset values taken from parent.
// applyTo sets a profile's activation settings from s, with the built-in
// defaults for what no level of the plan set.
func (s settings) applyTo(prof *Profile) {
	prof.MagicRollback = s.magicRollback.get(true)
	prof.ConfirmTimeout = s.confirmTimeout.get(DefaultConfirmTimeout)
	prof.ActivationTimeout = s.activationTimeout.get(DefaultActivationTimeout)
	prof.Transfer = s.transfer.get(Push)
	prof.KeepGenerations = s.keepGenerations.get(0)
	prof.DegradedUnits = s.degradedUnits.get(DegradedFail)
}

func (s settings) over(parent settings) settings {
	return settings{
		sshUser:           s.sshUser.or(parent.sshUser),
		port:              s.port.or(parent.port),
		sudo:              s.sudo.or(parent.sudo),
		magicRollback:     s.magicRollback.or(parent.magicRollback),
		confirmTimeout:    s.confirmTimeout.or(parent.confirmTimeout),
		activationTimeout: s.activationTimeout.or(parent.activationTimeout),
		transfer:          s.transfer.or(parent.transfer),
		keepGenerations:   s.keepGenerations.or(parent.keepGenerations),
		degradedUnits:     s.degradedUnits.or(parent.degradedUnits),
	}
}

// Connection settings belong to a node: every profile of a node shares its
// SSH connection.
var connectionKeys = []string{"ssh-user", "port", "sudo"}

var profileSettingKeys = []string{
	"magic-rollback", "confirm-timeout", "activation-timeout",
	"transfer", "keep-generations", "degraded-units",
}

var settingKeys = append(append([]string(nil), connectionKeys...), profileSettingKeys...)

func set[T any](o *opt[T], v T, pos Pos, field string) {
	*o = opt[T]{v: v, set: true, pos: pos, field: field}
}

// setting parses one settings key into s; it returns false for keys that
// are not settings.
func (w *walker) setting(s *settings, p pair, field string) bool {
	f := join(field, p.key)
	switch p.key {
	case "ssh-user":
		if v, ok := w.name(p.v, f); ok {
			set(&s.sshUser, v, w.pos(p.v), f)
		}
	case "port":
		if v, ok := w.integer(p.v, f, 1, 65535); ok {
			set(&s.port, v, w.pos(p.v), f)
		}
	case "sudo":
		if v, ok := w.sudo(p.v, f); ok {
			set(&s.sudo, v, w.pos(p.v), f)
		}
	case "magic-rollback":
		if v, ok := w.boolean(p.v, f); ok {
			set(&s.magicRollback, v, w.pos(p.v), f)
		}
	case "confirm-timeout":
		if v, ok := w.duration(p.v, f, time.Second); ok {
			set(&s.confirmTimeout, v, w.pos(p.v), f)
		}
	case "activation-timeout":
		if v, ok := w.duration(p.v, f, time.Second); ok {
			set(&s.activationTimeout, v, w.pos(p.v), f)
		}
	case "transfer":
		if v, ok := w.enum(p.v, f, string(Push), string(Substitute)); ok {
			set(&s.transfer, Transfer(v), w.pos(p.v), f)
		}
	case "keep-generations":
		if v, ok := w.integer(p.v, f, 0, 1<<20); ok {
			set(&s.keepGenerations, v, w.pos(p.v), f)
		}
	case "degraded-units":
		if v, ok := w.enum(p.v, f, DegradedFail, DegradedWarn); ok {
			set(&s.degradedUnits, v, w.pos(p.v), f)
		}
	default:
		return false
	}
	return true
}

// sudo reads the privilege prefix: a string split on spaces, or a list of
// words for arguments that contain spaces.
func (w *walker) sudo(n *yaml.Node, field string) ([]string, bool) {
	if d := w.deref(n); d != nil && d.Kind == yaml.SequenceNode {
		items, _ := w.list(d, field)
		argv := make([]string, 0, len(items))
		for i, it := range items {
			v, s, ok := w.str(it, index(field, i))
			if !ok {
				return nil, false
			}
			if v == "" || hasControl(v) {
				w.errorf(s, index(field, i), "want a non-empty word without control characters")
				return nil, false
			}
			argv = append(argv, v)
		}
		return argv, true
	}
	v, s, ok := w.str(n, field)
	if !ok {
		return nil, false
	}
	if hasControl(v) {
		w.errorf(s, field, "control characters are not allowed")
		return nil, false
	}
	return strings.Fields(v), true
}

// connection resolves a node's SSH user and sudo prefix from its settings,
// reporting an empty sudo for a user other than root.
func (w *walker) connection(s settings, node string) (user string, port int, sudo []string) {
	user = s.sshUser.get(DefaultSSHUser)
	port = s.port.get(DefaultPort)
	switch {
	case !s.sudo.set && user == "root":
		return user, port, nil
	case !s.sudo.set:
		return user, port, DefaultSudo
	case len(s.sudo.v) == 0 && user != "root":
		w.errorAt(s.sudo.pos, s.sudo.field, "empty sudo needs ssh-user root, but node %s connects as %s", node, user)
	}
	return user, port, s.sudo.v
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}
