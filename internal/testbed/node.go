package testbed

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

//go:embed node/init.sh
var initScript string

//go:embed node/sshd.sh
var sshdScript []byte

// Paths on a node.
const (
	stateDirOnNode       = "/nix/var/testbed"
	activationLogOnNode  = stateDirOnNode + "/activations.log"
	bootDefaultOnNode    = stateDirOnNode + "/boot-default"
	sshdControlOnNode    = stateDirOnNode + "/sshd"
	currentSystemOnNode  = "/run/current-system"
	nodeIDOnNode         = stateDirOnNode + "/node-id"
	authorizedKeysOnNode = stateDirOnNode + "/authorized_keys"
	nixConfOnNode        = "/etc/nix/nix.conf"
	// hostNixConf seeds every node's nix.conf: nodes start with the
	// host's Nix settings (experimental features, sandbox).
	hostNixConf = "/etc/nix/nix.conf"
)

// nodeEnv is the environment of every process the testbed starts on a
// node: nothing of the caller's (NIX_REMOTE, NIX_PATH...) leaks in.
var nodeEnv = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8"}

// Node is one machine of the fleet.
type Node struct {
	Name string
	Host string // its loopback address
	Port int
	// HostKey is the node's sshd host key as an authorized_keys line
	// ("ssh-ed25519 AAAA...").
	HostKey string
	// Root is the node's directory on the host: Root/nix is its /nix,
	// Root/run its /run, Root/etc/nix its /etc/nix.
	Root string

	fleet *Fleet
	ns    string // readlink of /proc/PID/ns/mnt of its processes
	pids  [3]int // holder, nix-daemon, sshd when started
}

func (n *Node) String() string { return n.Name }

// prepare writes the node's directory: sshd configuration, host key,
// authorized keys, control script, nix.conf.
func (n *Node) prepare(client ssh.Signer) error {
	state := n.hostPath(stateDirOnNode)
	for _, d := range []string{filepath.Join(state, "authorized_keys"), n.hostPath("/run"), n.hostPath("/etc/nix")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("prepare %s: %w", n.Name, err)
		}
	}
	hostKey, err := writeHostKey(filepath.Join(state, "ssh_host_ed25519_key"))
	if err != nil {
		return fmt.Errorf("prepare %s: %w", n.Name, err)
	}
	n.HostKey = hostKey
	nixConf, err := os.ReadFile(hostNixConf)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("prepare %s: %w", n.Name, err)
	}
	authorized := ssh.MarshalAuthorizedKey(client.PublicKey())
	files := []struct {
		path string
		data []byte
		perm os.FileMode
	}{
		{filepath.Join(state, "sshd_config"), []byte(sshdConfig(n.Host, n.Port)), 0o644},
		{filepath.Join(state, "sshd"), sshdScript, 0o755},
		{filepath.Join(state, "node-id"), []byte(n.identity() + "\n"), 0o644},
		{n.hostPath(nixConfOnNode), nixConf, 0o644},
	}
	for _, u := range []string{UserDeploy, UserDeployPW, UserNoSudo} {
		files = append(files, struct {
			path string
			data []byte
			perm os.FileMode
		}{filepath.Join(state, "authorized_keys", u), authorized, 0o644})
	}
	for _, f := range files {
		if err := writeFile(f.path, f.data, f.perm); err != nil {
			return fmt.Errorf("prepare %s: %w", n.Name, err)
		}
	}
	return nil
}

// identity is what the node's node-id file says; Down checks it before
// killing anything, because namespace inode numbers are reused.
func (n *Node) identity() string { return n.fleet.id + "/" + n.Name }

func sshdConfig(host string, port int) string {
	return fmt.Sprintf(`# sshd of a testbed node (internal/testbed).
ListenAddress %s:%d
HostKey %s/ssh_host_ed25519_key
PidFile /run/sshd.pid
AuthorizedKeysFile %s/%%u
# The key files belong to root and live in the testbed's directory.
StrictModes no
# Without PAM, pubkey logins only need the account unlocked ("*" password).
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers %s %s %s
UseDNS no
PrintMotd no
# Tests open many connections at once.
MaxStartups 100:30:300
MaxSessions 100
Subsystem sftp internal-sftp
`, host, port, stateDirOnNode, authorizedKeysOnNode, UserDeploy, UserDeployPW, UserNoSudo)
}

// start runs the node's holder process in a new mount namespace; it
// mounts the node's /nix and /run and starts nix-daemon and sshd. mu guards
// the fields state.json is written from.
func (n *Node) start(ctx context.Context, mu *sync.Mutex) error {
	logFile, err := os.OpenFile(filepath.Join(n.Root, "init.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: %w", n.Name, err)
	}
	defer logFile.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start %s: %w", n.Name, err)
	}
	defer r.Close()
	// Not CommandContext: the node outlives ctx and this process.
	cmd := exec.Command("/bin/sh", "-c", initScript, "init", n.Root)
	cmd.Dir = "/"
	cmd.Env = nodeEnv
	cmd.Stdout = w
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setsid: true,
		// Go also makes / MS_REC|MS_PRIVATE in the new namespace, so the
		// node's mounts never reach the host.
		Unshareflags: syscall.CLONE_NEWNS,
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("start %s: %w", n.Name, err)
	}
	// Reap the holder when it ends while this process lives (Down).
	go func() { _ = cmd.Wait() }()

	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", cmd.Process.Pid))
	mu.Lock()
	n.pids[0] = cmd.Process.Pid
	n.ns = ns
	mu.Unlock()
	if err != nil {
		return fmt.Errorf("start %s: %w", n.Name, err)
	}

	type ready struct {
		line string
		err  error
	}
	lines := make(chan ready, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		lines <- ready{line, err}
	}()
	var got ready
	select {
	case got = <-lines:
	case <-ctx.Done():
		return fmt.Errorf("start %s: %w", n.Name, ctx.Err())
	}
	var daemon, sshd int
	if _, err := fmt.Sscanf(got.line, "ready %d %d\n", &daemon, &sshd); err != nil {
		log, _ := os.ReadFile(logFile.Name())
		return fmt.Errorf("start %s: node did not come up: %s", n.Name, strings.TrimSpace(string(log)))
	}
	mu.Lock()
	n.pids[1], n.pids[2] = daemon, sshd
	mu.Unlock()
	n.fleet.log.Debug("node up", "node", n.Name, "host", n.Host, "holder", cmd.Process.Pid)
	return nil
}

// holder returns the PID of a process in the node's namespace for nsenter,
// checking that the recorded one is still there.
func (n *Node) holder() (int, error) {
	pid := n.pids[0]
	if pid > 0 && n.ns != "" {
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid)); err == nil && ns == n.ns {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("node %s is not running", n.Name)
}

// Exec runs args as root inside the node and returns its standard output.
// The error includes its standard error.
func (n *Node) Exec(ctx context.Context, args ...string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("exec: no command")
	}
	pid, err := n.holder()
	if err != nil {
		return "", fmt.Errorf("exec %s on %s: %w", args[0], n.Name, err)
	}
	var stdout, stderr bytes.Buffer
	cmd := n.command(ctx, pid, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("exec %s on %s: %w: %s", args[0], n.Name, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func (n *Node) command(ctx context.Context, pid int, args ...string) *exec.Cmd {
	// nsenter's setns moves root and working directory to the node's.
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{fmt.Sprintf("--mount=/proc/%d/ns/mnt", pid), "--"}, args...)...)
	cmd.Dir = "/"
	cmd.Env = nodeEnv
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// installScript makes $1 the current system and a generation of the system
// profile, as a NixOS installation would.
const installScript = `set -eu
nix-env -p ` + SystemProfile + ` --set "$1"
ln -sfn "$1" ` + currentSystemOnNode + `
printf '%s\n' "$1" >` + bootDefaultOnNode

// Install imports the closure of system (a path in the host's store, built
// with Fleet.Build) into the node's store and makes it the node's current
// system and a new generation of its system profile, without running its
// switch-to-configuration.
func (n *Node) Install(ctx context.Context, system string) error {
	if err := n.Copy(ctx, system); err != nil {
		return err
	}
	if _, err := n.Exec(ctx, "/bin/sh", "-c", installScript, "install", system); err != nil {
		return fmt.Errorf("install %s on %s: %w", system, n.Name, err)
	}
	return nil
}

// Copy imports the closure of a path of the host's store into the node's
// store, as root (nix-store --export | nix-store --import).
func (n *Node) Copy(ctx context.Context, storePath string) error {
	pid, err := n.holder()
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", storePath, n.Name, err)
	}
	closure, err := output(ctx, "nix-store", "--query", "--requisites", "--", storePath)
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", storePath, n.Name, err)
	}
	export := exec.CommandContext(ctx, "nix-store", append([]string{"--export", "--"}, strings.Fields(closure)...)...)
	var exportErr, importErr bytes.Buffer
	export.Stderr = &exportErr
	imp := n.command(ctx, pid, "nix-store", "--import")
	imp.Stderr = &importErr
	pipe, err := export.StdoutPipe()
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", storePath, n.Name, err)
	}
	imp.Stdin = pipe
	if err := export.Start(); err != nil {
		return fmt.Errorf("copy %s to %s: %w", storePath, n.Name, err)
	}
	ierr := imp.Run()
	eerr := export.Wait()
	if ierr != nil {
		return fmt.Errorf("copy %s to %s: nix-store --import: %w: %s", storePath, n.Name, ierr, strings.TrimSpace(importErr.String()))
	}
	if eerr != nil {
		return fmt.Errorf("copy %s to %s: nix-store --export: %w: %s", storePath, n.Name, eerr, strings.TrimSpace(exportErr.String()))
	}
	return nil
}

// hostPath maps an absolute path under the node's /nix, /run or /etc/nix
// to the host's view of it. Other paths are reached through /proc/PID/root,
// which needs the node running.
func (n *Node) hostPath(p string) string {
	p = path.Clean("/" + p)
	for _, mount := range []string{"/nix", "/run", "/etc/nix"} {
		if p == mount || strings.HasPrefix(p, mount+"/") {
			return filepath.Join(n.Root, p)
		}
	}
	return filepath.Join(fmt.Sprintf("/proc/%d/root", n.pids[0]), p)
}

// AddNixConfig appends settings (nix.conf lines, e.g. "extra-substituters
// = file:///cache") to the node's /etc/nix/nix.conf, which starts as a copy
// of the host's. Nix commands run on the node afterwards read them; its
// nix-daemon keeps the settings it started with.
func (n *Node) AddNixConfig(settings string) error {
	f, err := os.OpenFile(n.hostPath(nixConfOnNode), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("add nix settings on %s: %w", n.Name, err)
	}
	_, err = fmt.Fprintf(f, "\n# Added by a test.\n%s\n", strings.TrimSpace(settings))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("add nix settings on %s: %w", n.Name, err)
	}
	return nil
}

// CurrentSystem returns where the node's /run/current-system points, or ""
// when it has none.
func (n *Node) CurrentSystem(ctx context.Context) (string, error) {
	target, err := os.Readlink(n.hostPath(currentSystemOnNode))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("current system of %s: %w", n.Name, err)
	}
	return target, nil
}

// BootDefault returns the system the node would boot, or "" when none.
func (n *Node) BootDefault(ctx context.Context) (string, error) {
	data, err := os.ReadFile(n.hostPath(bootDefaultOnNode))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("boot default of %s: %w", n.Name, err)
	}
	return strings.TrimSpace(string(data)), nil
}

// Generation is one generation of a Nix profile on a node.
type Generation struct {
	Number  int
	Path    string // the store path it points to
	Current bool
	Time    time.Time // when it was created
}

// Generations lists the generations of the profile at the absolute path
// profile on the node (e.g. SystemProfile), oldest first, read from the
// profile's links as Nix does.
func (n *Node) Generations(ctx context.Context, profile string) ([]Generation, error) {
	link := n.hostPath(profile)
	dir, base := filepath.Dir(link), filepath.Base(link)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("generations of %s on %s: %w", profile, n.Name, err)
	}
	current, err := os.Readlink(link)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("generations of %s on %s: %w", profile, n.Name, err)
	}
	var gens []Generation
	for _, e := range entries {
		num, ok := generationNumber(base, e.Name())
		if !ok {
			continue
		}
		entry := filepath.Join(dir, e.Name())
		target, err := os.Readlink(entry)
		if err != nil {
			return nil, fmt.Errorf("generations of %s on %s: %w", profile, n.Name, err)
		}
		info, err := os.Lstat(entry)
		if err != nil {
			return nil, fmt.Errorf("generations of %s on %s: %w", profile, n.Name, err)
		}
		gens = append(gens, Generation{
			Number:  num,
			Path:    target,
			Current: path.Base(current) == e.Name(),
			Time:    info.ModTime(),
		})
	}
	sort.Slice(gens, func(i, j int) bool { return gens[i].Number < gens[j].Number })
	return gens, nil
}

// generationNumber parses "<profile>-<N>-link".
func generationNumber(profile, name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, profile+"-")
	if !ok {
		return 0, false
	}
	num, ok := strings.CutSuffix(rest, "-link")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || strconv.Itoa(n) != num {
		return 0, false
	}
	return n, true
}

// Activations returns what switch-to-configuration did on the node, oldest
// first.
func (n *Node) Activations(ctx context.Context) ([]Activation, error) {
	data, err := os.ReadFile(n.hostPath(activationLogOnNode))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("activations of %s: %w", n.Name, err)
	}
	acts, err := ParseActivations(data)
	if err != nil {
		return nil, fmt.Errorf("activations of %s: %w", n.Name, err)
	}
	return acts, nil
}

// SSHReachable reports whether a deploy can reach the node: TCP connect,
// SSH handshake with the pinned host key, and login as UserDeploy.
func (n *Node) SSHReachable(ctx context.Context) bool {
	client, err := n.Dial(ctx, UserDeploy)
	if err != nil {
		return false
	}
	client.Close()
	return true
}

// Dial opens an SSH connection to the node as user with the fleet's key,
// checking the node's pinned host key.
func (n *Node) Dial(ctx context.Context, user string) (*ssh.Client, error) {
	signer, err := n.fleet.signer()
	if err != nil {
		return nil, err
	}
	return n.DialWith(ctx, user, signer)
}

// DialWith is Dial with another client key.
func (n *Node) DialWith(ctx context.Context, user string, signer ssh.Signer) (*ssh.Client, error) {
	hostKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(n.HostKey))
	if err != nil {
		return nil, fmt.Errorf("dial %s: host key: %w", n.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	addr := net.JoinHostPort(n.Host, strconv.Itoa(n.Port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", n.Name, err)
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(hostKey),
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("dial %s as %s: %w", n.Name, user, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// StartSSH starts the node's sshd if it is not running and waits until it
// listens.
func (n *Node) StartSSH(ctx context.Context) error {
	if _, err := n.Exec(ctx, sshdControlOnNode, "start"); err != nil {
		return fmt.Errorf("start sshd: %w", err)
	}
	return nil
}

// StopSSH stops the node's sshd listener; open sessions stay.
func (n *Node) StopSSH(ctx context.Context) error {
	if _, err := n.Exec(ctx, sshdControlOnNode, "stop"); err != nil {
		return fmt.Errorf("stop sshd: %w", err)
	}
	return nil
}
