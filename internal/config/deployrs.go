package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// FromDeployRS fills p.Nodes from a deploy-rs node list: the JSON printed
// by `nix eval --json <flake>#<nodes-from>` (schema: deploy-rs's
// interface.json), named file in messages. Settings resolve as in deploy-rs
// (profile > node > top level), falling back to the plan's defaults; plan
// nodes of the same name add host keys, tags, checks and host/port
// overrides; environments are then resolved. The error, if any, is Errors,
// and p must not be used after it.
func FromDeployRS(file string, deployJSON []byte, p *Plan) error {
	w := &walker{file: file}
	if p.Flake == "" {
		return Errors{{File: p.File, Field: "flake", Msg: "a deploy-rs node list needs the plan's flake"}}
	}
	output := p.NodesFrom
	if output == "" {
		output = "deploy"
	}
	root, err := jsonTree(deployJSON)
	if err != nil {
		return Errors{{File: file, Line: 1, Column: 1, Msg: fmt.Sprintf("not the JSON of a deploy-rs node list: %v", err)}}
	}
	var top drSettings
	var nodes *pair
	pairs, _ := w.mapping(root, "")
	for _, kv := range pairs {
		if kv.key == "nodes" {
			nodes = &kv
			continue
		}
		w.drSetting(&top, kv, "")
	}
	if nodes == nil {
		w.errorf(root, "nodes", "missing: a deploy-rs output has nodes.<name>.profiles")
	} else {
		p.Nodes = nil
		npairs, _ := w.mapping(nodes.v, "nodes")
		for _, kv := range npairs {
			if w.keyName(kv, "nodes") {
				p.Nodes = append(p.Nodes, w.drNode(p, output, kv, top))
			}
		}
	}
	w.applyOverlays(p, output)
	w.resolveEnvironments(p)
	if len(w.errs) > 0 {
		return w.errs.sorted()
	}
	return nil
}

// drSettings are deploy-rs's generic settings at one level.
type drSettings struct {
	settings
	user opt[string]
}

func (s drSettings) over(parent drSettings) drSettings {
	return drSettings{settings: s.settings.over(parent.settings), user: s.user.or(parent.user)}
}

// drSetting reads one deploy-rs generic setting. Keys deploy-rs ignores
// or that change nothing here (fastConnection, tempPath, sudoFile, ...)
// are ignored too, so any output deploy-rs accepts is read.
func (w *walker) drSetting(s *drSettings, p pair, field string) {
	f := join(field, p.key)
	switch p.key {
	case "sshUser":
		if v, ok := w.name(p.v, f); ok {
			set(&s.sshUser, v, w.pos(p.v), f)
		}
	case "user":
		if v, ok := w.name(p.v, f); ok {
			set(&s.user, v, w.pos(p.v), f)
		}
	case "sshOpts":
		if port, ok := w.sshOpts(p.v, f); ok && port != 0 {
			set(&s.port, port, w.pos(p.v), f)
		}
	case "sudo":
		if argv, ok := w.sudo(p.v, f); ok {
			// deploy-rs appends the profile user to its sudo ("sudo -u");
			// here sudo only ever becomes root, without prompting.
			if len(argv) > 0 && argv[len(argv)-1] == "-u" {
				argv = argv[:len(argv)-1]
			}
			if slices.Equal(argv, []string{"sudo"}) {
				argv = DefaultSudo
			}
			set(&s.sudo, argv, w.pos(p.v), f)
		}
	case "magicRollback":
		if v, ok := w.boolean(p.v, f); ok {
			set(&s.magicRollback, v, w.pos(p.v), f)
		}
	case "autoRollback":
		if v, ok := w.boolean(p.v, f); ok && !v {
			w.errorf(p.v, f, "false is not supported: a failed activation is always rolled back")
		}
	case "confirmTimeout", "activationTimeout":
		v, ok := w.integer(p.v, f, 1, 1<<30)
		if !ok {
			return
		}
		d := time.Duration(v) * time.Second
		if p.key == "confirmTimeout" {
			set(&s.confirmTimeout, d, w.pos(p.v), f)
		} else {
			set(&s.activationTimeout, d, w.pos(p.v), f)
		}
	case "interactiveSudo":
		if v, ok := w.boolean(p.v, f); ok && v {
			w.errorf(p.v, f, "true is not supported: sudo never prompts here; give the node's SSH user passwordless sudo")
		}
	case "remoteBuild":
		if v, ok := w.boolean(p.v, f); ok && v {
			w.errorf(p.v, f, "true is not supported: profiles are built on the runner")
		}
	}
}

// sshOpts takes the port from deploy-rs's ssh options. Other options are
// for OpenSSH, which is not used; those without which the node cannot be
// reached are errors.
func (w *walker) sshOpts(n *yaml.Node, field string) (int, bool) {
	items, ok := w.list(n, field)
	if !ok {
		return 0, false
	}
	var opts []string
	for i, it := range items {
		v, _, ok := w.str(it, index(field, i))
		if !ok {
			return 0, false
		}
		opts = append(opts, v)
	}
	port := 0
	for i := 0; i < len(opts); i++ {
		o := opts[i]
		value := ""
		switch {
		case o == "-p" || o == "-o" || o == "-J":
			if i+1 < len(opts) {
				value = opts[i+1]
				i++
			}
		case len(o) > 2 && (strings.HasPrefix(o, "-p") || strings.HasPrefix(o, "-o") || strings.HasPrefix(o, "-J")):
			value = o[2:]
		default:
			continue
		}
		flag := o[:2]
		if flag == "-o" {
			k, v, _ := strings.Cut(strings.Replace(value, " ", "=", 1), "=")
			switch strings.ToLower(k) {
			case "port":
				flag, value = "-p", v
			case "proxyjump", "proxycommand":
				flag = "-J"
			default:
				continue
			}
		}
		if flag == "-J" {
			w.errorf(n, field, "jump hosts and proxy commands are not supported: the runner must reach the node directly")
			return 0, false
		}
		p, err := strconv.Atoi(value)
		if err != nil || p < 1 || p > 65535 {
			w.errorf(n, field, "port %q is not a number from 1 to 65535", value)
			return 0, false
		}
		port = p
	}
	return port, true
}

var storePath = regexp.MustCompile(`^/nix/store/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+._?=-]+$`)

func (w *walker) drNode(p *Plan, output string, kv pair, top drSettings) *Node {
	field := join("nodes", kv.key)
	n := &Node{Name: kv.key, Pos: w.pos(kv.k)}
	var own drSettings
	var hostname, profiles, order *pair
	pairs, _ := w.mapping(kv.v, field)
	for _, k := range pairs {
		switch k.key {
		case "hostname":
			hostname = &k
		case "profiles":
			profiles = &k
		case "profilesOrder":
			order = &k
		default:
			w.drSetting(&own, k, field)
		}
	}
	eff := own.over(top)
	if hostname == nil {
		w.errorf(kv.k, join(field, "hostname"), "missing")
	} else if h, s, ok := w.str(hostname.v, join(field, "hostname")); ok {
		// deploy-rs passes hostname to ssh and nix copy, where host:port works.
		if host, port, found := strings.Cut(h, ":"); found && !strings.Contains(port, ":") {
			if v, err := strconv.Atoi(port); err == nil && v > 0 && v < 65536 {
				h = host
				set(&eff.port, v, w.pos(s), join(field, "hostname"))
			}
		}
		var msg string
		if n.Host, msg = checkHost(h); msg != "" {
			w.errorf(s, join(field, "hostname"), "%s", msg)
		}
	}
	n.SSHUser, n.Port, n.Sudo = w.connection(eff.settings.over(p.defaults), n.Name)
	if profiles == nil {
		w.errorf(kv.k, join(field, "profiles"), "missing")
		return n
	}
	ppairs, _ := w.mapping(profiles.v, join(field, "profiles"))
	var all []*Profile
	for _, pk := range ppairs {
		if w.keyName(pk, join(field, "profiles")) {
			all = append(all, w.drProfile(p, output, n, pk, join(join(field, "profiles"), pk.key), eff))
		}
	}
	// deploy-rs deploys profilesOrder first, then the rest.
	var first []*Profile
	if order != nil {
		items, _ := w.list(order.v, join(field, "profilesOrder"))
		for i, it := range items {
			name, s, ok := w.str(it, index(join(field, "profilesOrder"), i))
			if !ok {
				continue
			}
			j := slices.IndexFunc(all, func(p *Profile) bool { return p.Name == name })
			if j < 0 {
				w.errorf(s, index(join(field, "profilesOrder"), i), "unknown or repeated profile %q", name)
				continue
			}
			first = append(first, all[j])
			all = slices.Delete(all, j, j+1)
		}
	}
	n.Profiles = append(first, all...)
	return n
}

func (w *walker) drProfile(p *Plan, output string, n *Node, kv pair, field string, node drSettings) *Profile {
	prof := &Profile{Name: kv.key, Kind: DeployRS, Activate: "deploy-rs-activate", Pos: w.pos(kv.k)}
	var own drSettings
	var path, profPath *pair
	pairs, _ := w.mapping(kv.v, field)
	for _, k := range pairs {
		switch k.key {
		case "path":
			path = &k
		case "profilePath":
			profPath = &k
		case "sshUser", "sshOpts", "sudo":
			w.errorf(k.k, join(field, k.key), "per-profile %s is not supported: all profiles of a node share one SSH connection; set it on the node", k.key)
		default:
			w.drSetting(&own, k, field)
		}
	}
	eff := own.over(node)
	s := eff.settings.over(p.defaults)
	s.applyTo(prof)
	// As in deploy-rs, the profile belongs to the SSH user unless told.
	prof.User = eff.user.get(n.SSHUser)
	prof.Attr = output + ".nodes." + attrName(n.Name) + ".profiles." + attrName(prof.Name) + ".path"
	prof.Installable = p.Flake + "#" + prof.Attr
	if path == nil {
		w.errorf(kv.k, join(field, "path"), "missing")
	} else if v, s, ok := w.str(path.v, join(field, "path")); ok {
		if !storePath.MatchString(v) {
			w.errorf(s, join(field, "path"), "%q is not a store path", v)
		}
		prof.StorePath = v
	}
	prof.Path = profilePath(Custom, prof.Name, prof.User)
	if profPath != nil {
		if v, s, ok := w.str(profPath.v, join(field, "profilePath")); ok {
			if msg := checkAbsPath(v); msg != "" {
				w.errorf(s, join(field, "profilePath"), "%s", msg)
			}
			prof.Path = v
		}
	}
	return prof
}

// applyOverlays adds what plan nodes say to the deploy-rs nodes.
func (w *walker) applyOverlays(p *Plan, output string) {
	for _, o := range p.overlays {
		n := p.Node(o.name)
		if n == nil {
			w.errorAt(o.pos, join("nodes", o.name), "node %s is not in the flake's %s output%s", o.name, output, didYouMean(o.name, p.nodeNames()))
			continue
		}
		if o.host.set {
			n.Host = o.host.v
		}
		if o.port.set {
			n.Port = o.port.v
		}
		if o.hostKey != "" {
			n.HostKey = o.hostKey
		}
		n.Tags = o.tags
		n.Checks = o.checks
	}
}

// jsonTree decodes JSON into a yaml.Node tree, keeping key order and
// positions, so deploy-rs output is checked by the same walker as plans.
func jsonTree(data []byte) (*yaml.Node, error) {
	t := &jsonReader{dec: json.NewDecoder(bytes.NewReader(data)), data: data}
	t.dec.UseNumber()
	for i, b := range data {
		if b == '\n' {
			t.lines = append(t.lines, i+1)
		}
	}
	n, err := t.value(0)
	if errors.Is(err, io.EOF) {
		return nil, io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, err
	}
	if _, err := t.dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("data after the JSON value")
	}
	return n, nil
}

type jsonReader struct {
	dec   *json.Decoder
	data  []byte
	lines []int // offsets where lines 2, 3, ... start
}

// node makes a node at the start of the next token.
func (t *jsonReader) node() *yaml.Node {
	off := int(t.dec.InputOffset())
	for off < len(t.data) && strings.IndexByte(" \t\r\n,:", t.data[off]) >= 0 {
		off++
	}
	i := sort.SearchInts(t.lines, off+1)
	start := 0
	if i > 0 {
		start = t.lines[i-1]
	}
	return &yaml.Node{Line: i + 1, Column: off - start + 1}
}

func (t *jsonReader) value(depth int) (*yaml.Node, error) {
	if depth > 64 {
		return nil, fmt.Errorf("nested more than 64 levels")
	}
	n := t.node()
	tok, err := t.dec.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			n.Kind, n.Tag = yaml.MappingNode, "!!map"
		} else {
			n.Kind, n.Tag = yaml.SequenceNode, "!!seq"
		}
		for t.dec.More() {
			if n.Kind == yaml.MappingNode {
				k := t.node()
				tok, err := t.dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := tok.(string)
				k.Kind, k.Tag, k.Value = yaml.ScalarNode, "!!str", key
				n.Content = append(n.Content, k)
			}
			c, err := t.value(depth + 1)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		if _, err := t.dec.Token(); err != nil {
			return nil, err
		}
	case string:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!str", v
	case json.Number:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!int", v.String()
		if strings.ContainsAny(v.String(), ".eE") {
			n.Tag = "!!float"
		}
	case bool:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!bool", strconv.FormatBool(v)
	case nil:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!null", "null"
	}
	return n, nil
}
