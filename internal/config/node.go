package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

var nodeOnlyKeys = []string{"host", "host-key", "tags", "profiles-order", "profiles", "checks"}

var nodeKeys = append(append([]string(nil), nodeOnlyKeys...), settingKeys...)

// With nodes-from, the deploy-rs output says how to reach and what to
// deploy; a plan node may only add what deploy-rs has no word for.
var overlayKeys = []string{"host", "port", "host-key", "tags", "checks"}

var profileOwnKeys = []string{"nixos", "installable", "user", "path", "activate"}

var profileKeys = append(append([]string(nil), profileOwnKeys...), profileSettingKeys...)

var checkKeys = []string{"command", "http", "status", "timeout", "retry-for", "interval"}

// overlay is a plan node that adds to a node of a deploy-rs output.
type overlay struct {
	name    string
	pos     Pos
	host    opt[string]
	port    opt[int]
	hostKey string
	tags    []string
	checks  []Check
}

func (w *walker) nodes(plan *Plan, p pair, src source) {
	pairs, ok := w.mapping(p.v, "nodes")
	if ok && len(pairs) == 0 && plan.NodesFrom == "" {
		w.errorf(p.v, "nodes", "no nodes: add at least one")
	}
	for _, kv := range pairs {
		field := join("nodes", kv.key)
		if !w.keyName(kv, "nodes") {
			continue
		}
		if plan.NodesFrom != "" {
			plan.overlays = append(plan.overlays, w.overlay(kv, field, plan.NodesFrom))
			continue
		}
		plan.Nodes = append(plan.Nodes, w.node(plan, kv, field, src))
	}
}

func (w *walker) node(plan *Plan, kv pair, field string, src source) *Node {
	n := &Node{Name: kv.key, Pos: w.pos(kv.k)}
	var own settings
	var profiles, order *pair
	hasHost := false
	for _, k := range w.object(kv.v, field, nodeKeys) {
		f := join(field, k.key)
		switch k.key {
		case "host":
			hasHost = true
			n.Host = w.host(k.v, f)
		case "host-key":
			n.HostKey = w.hostKey(k.v, f)
		case "tags":
			n.Tags = w.tags(k.v, f)
		case "checks":
			n.Checks = w.checks(k.v, f)
		case "profiles":
			profiles = &k
		case "profiles-order":
			order = &k
		default:
			w.setting(&own, k, field)
		}
	}
	if !hasHost {
		w.errorf(kv.k, join(field, "host"), "missing: the node's DNS name or IP address")
	}
	eff := own.over(plan.defaults)
	n.SSHUser, n.Port, n.Sudo = w.connection(eff, n.Name)
	if profiles == nil {
		w.errorf(kv.k, join(field, "profiles"), "missing: a node needs at least one profile, such as system: { nixos: %s }", n.Name)
		return n
	}
	n.Profiles = w.profiles(*profiles, order, field, eff, src)
	return n
}

func (w *walker) overlay(kv pair, field, nodesFrom string) *overlay {
	o := &overlay{name: kv.key, pos: w.pos(kv.k)}
	for _, k := range w.object(kv.v, field, nodeKeys) {
		f := join(field, k.key)
		switch k.key {
		case "host":
			if h := w.host(k.v, f); h != "" {
				set(&o.host, h, w.pos(k.v), f)
			}
		case "port":
			if v, ok := w.integer(k.v, f, 1, 65535); ok {
				set(&o.port, v, w.pos(k.v), f)
			}
		case "host-key":
			o.hostKey = w.hostKey(k.v, f)
		case "tags":
			o.tags = w.tags(k.v, f)
		case "checks":
			o.checks = w.checks(k.v, f)
		default:
			w.errorf(k.k, f, "comes from the flake's %s output when nodes-from is set; a plan node may only set %s", nodesFrom, strings.Join(overlayKeys, ", "))
		}
	}
	return o
}

func (w *walker) host(n *yaml.Node, field string) string {
	v, s, ok := w.str(n, field)
	if !ok {
		return ""
	}
	h, msg := checkHost(v)
	if msg != "" {
		w.errorf(s, field, "%s", msg)
	}
	return h
}

func (w *walker) hostKey(n *yaml.Node, field string) string {
	v, s, ok := w.str(n, field)
	if !ok {
		return ""
	}
	k, msg := checkHostKey(v)
	if msg != "" {
		w.errorf(s, field, "%s", msg)
	}
	return k
}

func (w *walker) tags(n *yaml.Node, field string) []string {
	items, _ := w.list(n, field)
	var tags []string
	for i, it := range items {
		f := index(field, i)
		t, ok := w.name(it, f)
		if !ok {
			continue
		}
		if slices.Contains(tags, t) {
			w.errorf(it, f, "tag %s is listed twice", t)
			continue
		}
		tags = append(tags, t)
	}
	return tags
}

// profiles returns a node's profiles in deploy order: profiles-order first,
// then "system", then the rest in file order.
func (w *walker) profiles(p pair, order *pair, field string, eff settings, src source) []*Profile {
	f := join(field, "profiles")
	pairs, ok := w.mapping(p.v, f)
	if ok && len(pairs) == 0 {
		w.errorf(p.v, f, "no profiles: add at least one")
	}
	var all []*Profile
	paths := map[string]string{}
	for _, kv := range pairs {
		if !w.keyName(kv, f) {
			continue
		}
		prof := w.profile(kv, join(f, kv.key), eff, src)
		if other, dup := paths[prof.Path]; dup && prof.Path != "" {
			w.errorf(kv.k, join(f, kv.key), "profile path %s is also the path of profile %s", prof.Path, other)
		}
		paths[prof.Path] = prof.Name
		all = append(all, prof)
	}
	var first []*Profile
	if order != nil {
		items, _ := w.list(order.v, join(field, "profiles-order"))
		for i, it := range items {
			of := index(join(field, "profiles-order"), i)
			name, s, ok := w.str(it, of)
			if !ok {
				continue
			}
			j := slices.IndexFunc(all, func(p *Profile) bool { return p.Name == name })
			if j < 0 {
				if !slices.ContainsFunc(first, func(p *Profile) bool { return p.Name == name }) {
					w.errorf(s, of, "unknown profile %q%s", name, didYouMean(name, profileNames(all)))
				} else {
					w.errorf(s, of, "profile %s is listed twice", name)
				}
				continue
			}
			first = append(first, all[j])
			all = slices.Delete(all, j, j+1)
		}
	} else if j := slices.IndexFunc(all, func(p *Profile) bool { return p.Name == "system" }); j > 0 {
		first = append(first, all[j])
		all = slices.Delete(all, j, j+1)
	}
	return append(first, all...)
}

func profileNames(ps []*Profile) []string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return names
}

func didYouMean(s string, candidates []string) string {
	if c := closest(s, candidates); c != "" {
		return fmt.Sprintf("; did you mean %s?", c)
	}
	return ""
}

func (w *walker) profile(kv pair, field string, eff settings, src source) *Profile {
	prof := &Profile{Name: kv.key, Pos: w.pos(kv.k)}
	var own settings
	var nixos, installable, user, path, activate *pair
	for _, k := range w.object(kv.v, field, append(append([]string(nil), profileKeys...), connectionKeys...)) {
		switch k.key {
		case "nixos":
			nixos = &k
		case "installable":
			installable = &k
		case "user":
			user = &k
		case "path":
			path = &k
		case "activate":
			activate = &k
		case "ssh-user", "port", "sudo":
			w.errorf(k.k, join(field, k.key), "set %s per node or in defaults: all profiles of a node share one SSH connection", k.key)
		default:
			w.setting(&own, k, field)
		}
	}
	s := own.over(eff)
	s.applyTo(prof)

	prof.User = DefaultProfileUser
	if user != nil {
		if u, ok := w.name(user.v, join(field, "user")); ok {
			prof.User = u
		}
	}
	switch {
	case nixos != nil && installable != nil:
		w.errorf(installable.k, join(field, "installable"), "set either nixos or installable, not both")
	case nixos != nil:
		prof.Kind = NixOS
		if name, ok := w.name(nixos.v, join(field, "nixos")); ok {
			prof.NixOSName = name
			prof.Attr = "nixosConfigurations." + attrName(name) + ".config.system.build.toplevel"
			prof.Installable = src.installable(prof.Attr)
		}
		if prof.User != "root" {
			w.errorf(user.v, join(field, "user"), "a nixos profile belongs to root, not %s", prof.User)
		}
		if activate != nil {
			w.errorf(activate.k, join(field, "activate"), "nixos profiles activate with switch-to-configuration: remove activate")
		}
	case installable != nil:
		prof.Kind = Custom
		if v, n, ok := w.str(installable.v, join(field, "installable")); ok {
			prof.Installable, prof.Attr = w.installable(src, v, n, join(field, "installable"))
		}
		if activate == nil {
			w.errorf(kv.k, join(field, "activate"), "missing: the command inside the built path that activates it, such as bin/activate")
		}
	default:
		w.errorf(kv.k, field, "missing what to deploy: set nixos: <configuration name> or installable: .#<attribute>")
	}
	if activate != nil && prof.Kind != NixOS {
		if v, n, ok := w.str(activate.v, join(field, "activate")); ok {
			if msg := checkRelPath(v); msg != "" {
				w.errorf(n, join(field, "activate"), "%s", msg)
			}
			prof.Activate = v
		}
	}
	prof.Path = profilePath(prof.Kind, prof.Name, prof.User)
	if path != nil {
		if v, n, ok := w.str(path.v, join(field, "path")); ok {
			if msg := checkAbsPath(v); msg != "" {
				w.errorf(n, join(field, "path"), "%s", msg)
			}
			prof.Path = v
		}
	}
	return prof
}

// profilePath is where a profile lives on the node unless the plan says.
func profilePath(kind ProfileKind, name, user string) string {
	switch {
	case kind == NixOS:
		return "/nix/var/nix/profiles/system"
	case user == "root":
		return "/nix/var/nix/profiles/" + name
	}
	return "/nix/var/nix/profiles/per-user/" + user + "/" + name
}

// installable returns the full installable and its attribute path for a
// profile's installable as written in the plan.
func (src source) installable(attr string) string {
	if src.flake != "" {
		return src.flake + "#" + attr
	}
	return attr
}

func (w *walker) installable(src source, v string, n *yaml.Node, field string) (string, string) {
	if msg := checkWord(v, "installable"); msg != "" {
		w.errorf(n, field, "%s", msg)
		return "", ""
	}
	ref, attr, found := strings.Cut(v, "#")
	if src.flake == "" {
		if found && ref != "" && ref != "." {
			w.errorf(n, field, "%q names a flake, but this plan builds from nix-file: write an attribute path such as packages.app", v)
			return "", ""
		}
		if found {
			v = attr
		}
		return v, v
	}
	switch {
	case !found:
		w.errorf(n, field, "%q has no '#': write .#ATTR for an attribute of the plan's flake, or FLAKEREF#ATTR", v)
		return "", ""
	case attr == "":
		w.errorf(n, field, "%q has no attribute after '#'", v)
		return "", ""
	case ref == "" || ref == ".":
		return src.flake + "#" + attr, attr
	}
	return resolveRef(src.dir, ref) + "#" + attr, attr
}

func (w *walker) checks(n *yaml.Node, field string) []Check {
	items, _ := w.list(n, field)
	var checks []Check
	for i, it := range items {
		f := index(field, i)
		c := Check{Status: DefaultCheckStatus, Timeout: DefaultCheckTimeout, Interval: DefaultCheckInterval, Pos: w.pos(it)}
		var status *pair
		for _, k := range w.object(it, f, checkKeys) {
			kf := join(f, k.key)
			switch k.key {
			case "command":
				if v, s, ok := w.str(k.v, kf); ok {
					if strings.TrimSpace(v) == "" || strings.ContainsRune(v, 0) {
						w.errorf(s, kf, "want a command line")
					}
					c.Command = v
				}
			case "http":
				if v, s, ok := w.str(k.v, kf); ok {
					if msg := checkURL(v); msg != "" {
						w.errorf(s, kf, "%s", msg)
					}
					c.HTTP = v
				}
			case "status":
				status = &k
				if v, ok := w.integer(k.v, kf, 100, 599); ok {
					c.Status = v
				}
			case "timeout":
				if d, ok := w.duration(k.v, kf, time.Millisecond); ok {
					c.Timeout = d
				}
			case "retry-for":
				if d, ok := w.duration(k.v, kf, 0); ok {
					c.RetryFor = d
				}
			case "interval":
				if d, ok := w.duration(k.v, kf, time.Millisecond); ok {
					c.Interval = d
				}
			}
		}
		switch {
		case c.Command != "" && c.HTTP != "":
			w.errorf(it, f, "set either command or http, not both")
		case c.Command == "" && c.HTTP == "" && peek(it).Kind == yaml.MappingNode:
			w.errorf(it, f, "missing: set command: (runs on the node) or http: (a URL fetched from the runner)")
		case c.Command != "" && status != nil:
			w.errorf(status.k, join(f, "status"), "only applies to http checks")
		}
		checks = append(checks, c)
	}
	return checks
}
