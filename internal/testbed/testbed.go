// Package testbed runs a local fleet of fake NixOS machines for tests,
// benchmarks and the demo.
//
// Each node is a mount namespace in which DIR/nodes/<name>/nix is /nix,
// DIR/nodes/<name>/run is /run and DIR/nodes/<name>/etc/nix is /etc/nix
// (a copy of the host's nix.conf, see Node.AddNixConfig), with its own
// nix-daemon and an OpenSSH sshd on a loopback address of its own (node<i>
// at 127.A.B.(i+1), port 2222). To an SSH client it is a real machine:
// users deploy (sudo without password), deploypw (sudo with the password in
// DIR/sudo-password) and nosudo, a Nix store that starts out separate from
// the host's, profiles, and /run/current-system. The
// fleet's flake (DIR/flake) builds fake NixOS systems whose
// switch-to-configuration does what DIR/flake/behaviour/<node> says.
//
// The fleet outlives the process that started it: DIR/state.json records
// its processes and namespaces so that Load and Down work from elsewhere.
// Needs root.
package testbed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"
)

// Behaviours of switch-to-configuration a test can choose per node with
// SetBehaviour; see flake/switch-to-configuration.sh.
const (
	BehaviourOK        = "ok"
	BehaviourFail      = "fail"
	BehaviourHang      = "hang"
	BehaviourBreakSSH  = "break-ssh"
	BehaviourUnhealthy = "unhealthy"
	BehaviourSlow      = "slow"
	BehaviourDegraded  = "degraded"
	// BehaviourFragile activates once; re-activating it fails, so a
	// rollback to it fails.
	BehaviourFragile = "fragile"
)

// Behaviours lists every behaviour SetBehaviour accepts.
var Behaviours = []string{
	BehaviourOK, BehaviourFail, BehaviourHang, BehaviourBreakSSH,
	BehaviourUnhealthy, BehaviourSlow, BehaviourDegraded, BehaviourFragile,
}

// Users of every node.
const (
	UserDeploy   = "deploy"   // sudo without password
	UserDeployPW = "deploypw" // sudo with the password in Fleet.SudoPasswordFile
	UserNoSudo   = "nosudo"   // no sudo
)

// SSHPort is the port of every node's sshd.
const SSHPort = 2222

// SystemProfile is the NixOS system profile on every node.
const SystemProfile = "/nix/var/nix/profiles/system"

// InitialRelease is the release of the generation Up installs.
const InitialRelease = "1"

const (
	maxNodes          = 253
	defaultPayloadKiB = 256
	stateFile         = "state.json"
)

// Options says what fleet Up starts.
type Options struct {
	Nodes int
	// Dir receives the fleet's files: plan.yml, id_ed25519, flake/, nodes/,
	// state.json. It is created if missing.
	Dir string
	// Empty leaves the nodes without any system installed.
	Empty bool
	// PayloadKiB is the size of each package's data in the fake systems
	// (default 256).
	PayloadKiB int
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Fleet is a running (or stopped) local fleet.
type Fleet struct {
	Dir              string
	PlanFile         string
	KeyFile          string // the client's ed25519 private key, authorized for every user
	KnownHostsFile   string // every node's pinned host key, in known_hosts format
	FlakeDir         string
	SudoPasswordFile string // UserDeployPW's password
	Nodes            []*Node

	id  string // identifies the fleet's namespaces (written into each node)
	log *slog.Logger
}

// state is DIR/state.json.
type state struct {
	ID         string      `json:"id"`
	PayloadKiB int         `json:"payload_kib"`
	Nodes      []nodeState `json:"nodes"`
}

type nodeState struct {
	Name    string `json:"name"`
	Host    string `json:"host"`
	Port    int    `json:"port"`
	HostKey string `json:"host_key"`
	// MountNamespace is the readlink of /proc/PID/ns/mnt of the node's
	// processes, e.g. "mnt:[4026532301]".
	MountNamespace string `json:"mount_namespace"`
	Holder         int    `json:"holder_pid"`
	NixDaemon      int    `json:"nix_daemon_pid"`
	SSHD           int    `json:"sshd_pid"`
}

var nodeNameRE = regexp.MustCompile(`^node[0-9]+$`)

// Up starts a fleet of o.Nodes nodes and, unless o.Empty, installs
// generation 1 (release "1") of each node's system on it. On error,
// whatever was started is stopped again.
func Up(ctx context.Context, o Options) (f *Fleet, err error) {
	if o.Nodes < 1 || o.Nodes > maxNodes {
		return nil, fmt.Errorf("start fleet: %d nodes: want 1 to %d", o.Nodes, maxNodes)
	}
	if o.Dir == "" {
		return nil, errors.New("start fleet: no directory given")
	}
	if o.PayloadKiB == 0 {
		o.PayloadKiB = defaultPayloadKiB
	}
	if o.PayloadKiB < 0 {
		return nil, fmt.Errorf("start fleet: payload %d KiB is negative", o.PayloadKiB)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("start fleet: %w", err)
	}
	if prev, err := Load(dir); err == nil {
		if running := prev.running(); len(running) > 0 {
			return nil, fmt.Errorf("start fleet in %s: %s is still running (run down first)", dir, running[0])
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("start fleet: %w", err)
	}
	// A previous fleet's node stores would make the new nodes non-empty.
	if err := os.RemoveAll(filepath.Join(dir, "nodes")); err != nil {
		return nil, fmt.Errorf("start fleet: remove old nodes: %w", err)
	}

	f = newFleet(dir, o.Log)
	f.id, err = randomHex(8)
	if err != nil {
		return nil, fmt.Errorf("start fleet: %w", err)
	}
	start := time.Now()
	if err := EnsureUsers(ctx); err != nil {
		return nil, fmt.Errorf("start fleet: %w", err)
	}
	if err := writeFile(f.SudoPasswordFile, []byte(SudoPassword+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("start fleet: %w", err)
	}
	signer, err := writeClientKey(f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("start fleet: %w", err)
	}
	base, err := pickAddresses(o.Nodes)
	if err != nil {
		return nil, fmt.Errorf("start fleet: %w", err)
	}
	for i := range o.Nodes {
		name := fmt.Sprintf("node%d", i+1)
		n := &Node{
			Name:  name,
			Host:  nodeAddress(base, i).String(),
			Port:  SSHPort,
			Root:  filepath.Join(dir, "nodes", name),
			fleet: f,
		}
		if err := n.prepare(signer); err != nil {
			return nil, fmt.Errorf("start fleet: %w", err)
		}
		f.Nodes = append(f.Nodes, n)
	}
	if err := writeFlake(f.FlakeDir, f.names(), o.PayloadKiB); err != nil {
		return nil, fmt.Errorf("start fleet: %w", err)
	}
	if err := writeFile(f.PlanFile, renderPlan(f), 0o644); err != nil {
		return nil, fmt.Errorf("start fleet: %w", err)
	}
	if err := writeFile(f.KnownHostsFile, renderKnownHosts(f), 0o644); err != nil {
		return nil, fmt.Errorf("start fleet: %w", err)
	}

	defer func() {
		if err != nil {
			if derr := f.Down(context.WithoutCancel(ctx)); derr != nil {
				err = errors.Join(err, derr)
			}
			f = nil
		}
	}()

	// Building and starting are independent: do them at the same time.
	var (
		wg       sync.WaitGroup
		systems  map[string]string
		buildErr error
	)
	if !o.Empty {
		wg.Go(func() { systems, buildErr = f.Build(ctx, f.names()...) })
	}
	startErr := f.startNodes(ctx, o.PayloadKiB)
	wg.Wait()
	if err := errors.Join(startErr, buildErr); err != nil {
		return f, fmt.Errorf("start fleet: %w", err)
	}
	if !o.Empty {
		err := f.eachNode(func(n *Node) error { return n.Install(ctx, systems[n.Name]) })
		if err != nil {
			return f, fmt.Errorf("start fleet: install release %s: %w", InitialRelease, err)
		}
	}
	f.log.Info("fleet up", "nodes", len(f.Nodes), "dir", dir, "took", time.Since(start).Round(time.Millisecond))
	return f, nil
}

// Load returns the fleet whose files are in dir, started earlier by Up,
// running or not.
func Load(dir string) (*Fleet, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("load fleet: %w", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("load fleet: %w", err)
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("load fleet: parse %s: %w", stateFile, err)
	}
	f := newFleet(dir, nil)
	f.id = st.ID
	for _, ns := range st.Nodes {
		if !nodeNameRE.MatchString(ns.Name) {
			return nil, fmt.Errorf("load fleet: %s: bad node name %q", stateFile, ns.Name)
		}
		f.Nodes = append(f.Nodes, &Node{
			Name:    ns.Name,
			Host:    ns.Host,
			Port:    ns.Port,
			HostKey: ns.HostKey,
			Root:    filepath.Join(dir, "nodes", ns.Name),
			fleet:   f,
			ns:      ns.MountNamespace,
			pids:    [3]int{ns.Holder, ns.NixDaemon, ns.SSHD},
		})
	}
	return f, nil
}

func newFleet(dir string, log io.Writer) *Fleet {
	if log == nil {
		log = io.Discard
	}
	return &Fleet{
		Dir:              dir,
		PlanFile:         filepath.Join(dir, "plan.yml"),
		KeyFile:          filepath.Join(dir, "id_ed25519"),
		KnownHostsFile:   filepath.Join(dir, "known_hosts"),
		FlakeDir:         filepath.Join(dir, "flake"),
		SudoPasswordFile: filepath.Join(dir, "sudo-password"),
		log:              slog.New(slog.NewTextHandler(log, nil)).With("fleet", dir),
	}
}

// Node returns the node called name, or nil.
func (f *Fleet) Node(name string) *Node {
	for _, n := range f.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// SetBehaviour chooses what switch-to-configuration of the node's next
// build does (one of Behaviours).
func (f *Fleet) SetBehaviour(node, behaviour string) error {
	if !slices.Contains(Behaviours, behaviour) {
		return fmt.Errorf("set behaviour of %s: unknown behaviour %q (valid: %v)", node, behaviour, Behaviours)
	}
	if f.Node(node) == nil {
		return fmt.Errorf("set behaviour of %s: no such node", node)
	}
	return f.writeFlakeFile("behaviour", node, behaviour)
}

var releaseRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._+-]{0,31}$`)

// SetRelease sets the version of the node's next build; a new release is a
// new generation with new versions of some packages.
func (f *Fleet) SetRelease(node, release string) error {
	if !releaseRE.MatchString(release) {
		return fmt.Errorf("set release of %s: %q is not a version (letters, digits, . _ + -; at most 32)", node, release)
	}
	if f.Node(node) == nil {
		return fmt.Errorf("set release of %s: no such node", node)
	}
	return f.writeFlakeFile("release", node, release)
}

func (f *Fleet) writeFlakeFile(kind, node, value string) error {
	// The temporary file lives outside the flake: readDir of release/ must
	// never see it.
	tmp := filepath.Join(f.Dir, "."+kind+"-"+node+".tmp")
	if err := os.WriteFile(tmp, []byte(value+"\n"), 0o644); err != nil {
		return fmt.Errorf("set %s of %s: %w", kind, node, err)
	}
	if err := os.Rename(tmp, filepath.Join(f.FlakeDir, kind, node)); err != nil {
		return fmt.Errorf("set %s of %s: %w", kind, node, err)
	}
	return nil
}

// Down stops every process of every node, including processes spawned on
// a node that detached themselves, and waits for them to end; the nodes'
// mounts go with their namespaces. Files stay for inspection. Stopping a
// stopped fleet does nothing.
func (f *Fleet) Down(ctx context.Context) error {
	if err := stopNamespaces(ctx, f.Nodes); err != nil {
		return fmt.Errorf("stop fleet in %s: %w", f.Dir, err)
	}
	f.log.Info("fleet down")
	return nil
}

// Clean removes the files Up wrote into the fleet's directory, and the
// directory when nothing else is left in it. The fleet must be down.
func (f *Fleet) Clean() error {
	if running := f.running(); len(running) > 0 {
		return fmt.Errorf("clean %s: %s is still running", f.Dir, running[0])
	}
	var errs []error
	for _, name := range []string{"nodes", "flake", "plan.yml", "id_ed25519", "id_ed25519.pub", "known_hosts", "sudo-password", stateFile} {
		if err := os.RemoveAll(filepath.Join(f.Dir, name)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clean %s: %w", f.Dir, err)
	}
	if entries, err := os.ReadDir(f.Dir); err == nil && len(entries) == 0 {
		if err := os.Remove(f.Dir); err != nil {
			return fmt.Errorf("clean %s: %w", f.Dir, err)
		}
	}
	return nil
}

// running returns the names of the nodes that have processes.
func (f *Fleet) running() []string {
	members, err := namespaceMembers(f.Nodes)
	if err != nil {
		return nil
	}
	var names []string
	for _, n := range f.Nodes {
		if len(members[n]) > 0 {
			names = append(names, n.Name)
		}
	}
	return names
}

func (f *Fleet) names() []string {
	names := make([]string, len(f.Nodes))
	for i, n := range f.Nodes {
		names[i] = n.Name
	}
	return names
}

// startNodes starts every node's namespace, nix-daemon and sshd, recording
// each in state.json as soon as it runs so that Down finds it even if this
// process dies.
func (f *Fleet) startNodes(ctx context.Context, payloadKiB int) error {
	var mu sync.Mutex
	save := func() error {
		mu.Lock()
		defer mu.Unlock()
		return f.saveState(payloadKiB)
	}
	if err := save(); err != nil {
		return err
	}
	return f.eachNode(func(n *Node) error {
		err := n.start(ctx, &mu)
		if serr := save(); serr != nil {
			err = errors.Join(err, serr)
		}
		return err
	})
}

func (f *Fleet) saveState(payloadKiB int) error {
	st := state{ID: f.id, PayloadKiB: payloadKiB}
	for _, n := range f.Nodes {
		st.Nodes = append(st.Nodes, nodeState{
			Name: n.Name, Host: n.Host, Port: n.Port, HostKey: n.HostKey,
			MountNamespace: n.ns, Holder: n.pids[0], NixDaemon: n.pids[1], SSHD: n.pids[2],
		})
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return writeFile(filepath.Join(f.Dir, stateFile), append(data, '\n'), 0o644)
}

// eachNode runs fn for every node, a few at a time (the machine has few
// cores and fn mostly waits on processes), and joins the errors.
func (f *Fleet) eachNode(fn func(*Node) error) error {
	sem := make(chan struct{}, 8)
	errs := make([]error, len(f.Nodes))
	var wg sync.WaitGroup
	for i, n := range f.Nodes {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := fn(n); err != nil {
				errs[i] = fmt.Errorf("%s: %w", n.Name, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// pickAddresses chooses a random 127.A.B.0 base whose first nodes
// addresses have port SSHPort free, so that concurrent fleets do not collide.
func pickAddresses(nodes int) (net.IP, error) {
	for range 20 {
		b := make([]byte, 2)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		// 127.0.x.x is where hosts put their own names (127.0.0.1, 127.0.1.1).
		base := net.IPv4(127, 16+b[0]%239, b[1], 0)
		free := true
		for i := range nodes {
			l, err := net.Listen("tcp", net.JoinHostPort(nodeAddress(base, i).String(), fmt.Sprint(SSHPort)))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return base, nil
		}
	}
	return nil, errors.New("no free loopback address range for the nodes")
}

func nodeAddress(base net.IP, i int) net.IP {
	ip := slices.Clone(base.To4())
	ip[3] = byte(i + 2) // node<k> is at 127.A.B.(k+1); .1 stays unused
	return ip
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// writeFile writes atomically, so readers never see half a file.
func writeFile(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
