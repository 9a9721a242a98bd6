package agent_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nix-deploy-action/nix-deploy-action/internal/agent"
)

// The fake systems and profiles: plain derivations (no nixpkgs) whose
// bin/switch-to-configuration or bin/activate log each call to
// $FAKE_DIR/calls and then succeed, fail, hang or exit 4.
const fakesNix = `
let
  mk = label: file: body: builtins.derivation {
    name = "nix-deploy-agent-test-${label}";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    inherit file;
    PATH = "/usr/bin:/bin";
    script = "#!/bin/sh\n" + body;
    args = [ "-c" "mkdir -p $out/bin && printf '%s\\n' \"$script\" > $out/$file && chmod +x $out/$file" ];
  };
  self = "$(cd \"$(dirname \"$0\")/..\" && pwd)";
  behave = {
    ok = "ln -sfn \"${self}\" \"$NIX_DEPLOY_CURRENT_SYSTEM\"; exit 0";
    fail = "echo activation failed >&2; exit 1";
    hang = "sleep 1000 & echo $! > \"$FAKE_DIR/hang.pid\"; wait";
    exit4 = "ln -sfn \"${self}\" \"$NIX_DEPLOY_CURRENT_SYSTEM\"; echo 'failed units: nginx.service' >&2; exit 4";
  };
  sys = label: b: mk label "bin/switch-to-configuration" ''
    echo "${label} $1" >> "$FAKE_DIR/calls"
    case "$1" in test|switch) ;; *) exit 0 ;; esac
    ${behave.${b}}
  '';
  app = label: code: mk label "bin/activate" ''
    echo "${label} activate $(id -un) $PROFILE" >> "$FAKE_DIR/calls"
    exit ${code}
  '';
in {
  old = sys "old" "ok";
  new = sys "new" "ok";
  fail = sys "fail" "fail";
  hang = sys "hang" "hang";
  exit4 = sys "exit4" "exit4";
  app1 = app "app1" "0";
  app2 = app "app2" "0";
  appfail = app "appfail" "1";
}
`

var (
	fakesOnce sync.Once
	fakes     map[string]string
	fakesErr  error
)

// fake returns the store path of a fake system or app, building them all
// once with the real nix.
func fake(t *testing.T, name string) string {
	t.Helper()
	fakesOnce.Do(func() {
		names := []string{"old", "new", "fail", "hang", "exit4", "app1", "app2", "appfail"}
		args := append([]string{"build", "--json", "--no-link", "--impure", "--option", "substituters", "", "--expr", fakesNix}, names...)
		out, err := exec.Command("nix", args...).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				err = fmt.Errorf("%w: %s", err, ee.Stderr)
			}
			fakesErr = fmt.Errorf("nix build: %w", err)
			return
		}
		var built []struct{ Outputs map[string]string }
		if err := json.Unmarshal(out, &built); err != nil || len(built) != len(names) {
			fakesErr = fmt.Errorf("nix build --json: %v: %s", err, out)
			return
		}
		// nix build --json does not keep the order asked.
		fakes = map[string]string{}
		for _, b := range built {
			out := b.Outputs["out"]
			fakes[out[strings.LastIndex(out, "-")+1:]] = out
		}
	})
	if fakesErr != nil {
		t.Fatal(fakesErr)
	}
	return fakes[name]
}

// node is this machine playing a deploy target, with its own agent state,
// fake /run/current-system and profiles.
type node struct {
	t       *testing.T
	root    string
	state   string
	current string
	env     []string
}

func newNode(t *testing.T) *node {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the agent tests run as root, as the agent does")
	}
	// World-readable: custom activations run as another user and log too.
	root, err := os.MkdirTemp("", "agent-node-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o777); err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, root: root, state: filepath.Join(root, "run"), current: filepath.Join(root, "current-system")}
	if err := os.WriteFile(filepath.Join(root, "calls"), nil, 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(root, "calls"), 0o666)
	if err := os.MkdirAll(filepath.Join(root, "profiles"), 0o755); err != nil {
		t.Fatal(err)
	}
	n.env = append(os.Environ(), "NIX_DEPLOY_STATE="+n.state, "NIX_DEPLOY_CURRENT_SYSTEM="+n.current, "FAKE_DIR="+root)
	return n
}

func (n *node) profile(name string) string { return filepath.Join(n.root, "profiles", name) }

// agent runs a subcommand and returns its stdout and exit status.
func (n *node) agent(sub string, args ...string) (string, int) {
	n.t.Helper()
	argv := agent.Command(sub, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = n.env
	cmd.Stdin = bytes.NewReader(agent.Script())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		n.t.Fatalf("run agent %s: %v", sub, err)
	}
	if stderr.Len() > 0 {
		n.t.Logf("agent %s stderr: %s", sub, stderr.String())
	}
	return stdout.String(), code
}

// lock takes the node lock in a session that lasts until release.
func (n *node) lock(id string) (release func()) {
	n.t.Helper()
	in, wait := n.lockSession(id)
	var once sync.Once
	release = func() {
		once.Do(func() {
			in.Close()
			wait()
		})
	}
	n.t.Cleanup(release)
	return release
}

// lockSession takes the node lock with the lock subcommand's args and
// returns the session's stdin and a function that waits for its end and
// returns its stderr.
func (n *node) lockSession(args ...string) (io.WriteCloser, func() string) {
	n.t.Helper()
	argv := agent.Command(agent.SubLock, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = n.env
	in, err := cmd.StdinPipe()
	if err != nil {
		n.t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		n.t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() {
		in.Close()
		cmd.Wait()
	})
	if _, err := in.Write(agent.Script()); err != nil {
		n.t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	l, err := agent.ParseLock(line)
	if err != nil || !l.OK || l.Owner != args[0] {
		n.t.Fatalf("lock %s: %q %v", args[0], line, err)
	}
	return in, func() string {
		cmd.Wait()
		return stderr.String()
	}
}

// setProfile creates a profile generation, as an earlier deploy would have.
func (n *node) setProfile(profile, path string) {
	n.t.Helper()
	if out, err := exec.Command("nix-env", "-p", profile, "--set", path).CombinedOutput(); err != nil {
		n.t.Fatalf("nix-env --set: %v: %s", err, out)
	}
}

func (n *node) setCurrent(path string) {
	n.t.Helper()
	os.Remove(n.current)
	if err := os.Symlink(path, n.current); err != nil {
		n.t.Fatal(err)
	}
}

func (n *node) start(s agent.Start) {
	n.t.Helper()
	argv, err := s.Command()
	if err != nil {
		n.t.Fatal(err)
	}
	out, code := n.agent(argv[3], argv[4:]...)
	if code != 0 || strings.TrimSpace(out) != "started="+s.ID {
		n.t.Fatalf("start: exit %d: %q", code, out)
	}
}

func (n *node) status(sub string, args ...string) agent.Status {
	n.t.Helper()
	out, code := n.agent(sub, args...)
	if code != 0 {
		n.t.Fatalf("%s: exit %d: %q", sub, code, out)
	}
	s, err := agent.ParseStatus(strings.TrimSpace(out))
	if err != nil {
		n.t.Fatalf("%s: %v", sub, err)
	}
	return s
}

// final polls the status until the worker is done, as a runner that lost
// the node would once it is back.
func (n *node) final(id string) agent.Status {
	n.t.Helper()
	for i := 0; i < 300; i++ {
		if s := n.status(agent.SubStatus, id); s.State.Final() {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	n.t.Fatalf("deploy %s never finished; log:\n%s", id, n.log(id))
	return agent.Status{}
}

func (n *node) log(id string) string {
	b, _ := os.ReadFile(filepath.Join(n.state, id, "log"))
	return string(b)
}

func (n *node) calls() string {
	b, err := os.ReadFile(filepath.Join(n.root, "calls"))
	if err != nil {
		n.t.Fatal(err)
	}
	return string(b)
}

// exits reports whether process pid ends (or is a zombie) within 10 s:
// signals are asynchronous.
func exits(pid string) bool {
	for i := 0; i < 100; i++ {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return true
		}
		if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

func target(t *testing.T, link string) string {
	t.Helper()
	p, err := filepath.EvalSymlinks(link)
	if err != nil {
		return ""
	}
	return p
}

func generation(t *testing.T, profile string) int {
	t.Helper()
	l, err := os.Readlink(profile)
	if err != nil {
		return 0
	}
	g, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(l, filepath.Base(profile)+"-"), "-link"))
	return g
}

// TestNixOS drives the agent through every NixOS outcome on this machine.
func TestNixOS(t *testing.T) {
	old := fake(t, "old")
	tests := []struct {
		name    string
		system  string
		start   agent.Start
		drive   func(n *node, id string, release func()) agent.Status // after start
		want    agent.Status
		calls   string // the switch-to-configuration calls, in order
		running string // what runs at the end: "old" or "new"
		profile int    // the profile generation at the end
	}{
		{
			name:   "confirmed switch",
			system: "new",
			start:  agent.Start{MagicRollback: true, ConfirmTimeout: 30 * time.Second},
			drive: func(n *node, id string, release func()) agent.Status {
				if s := n.status(agent.SubWait, id); s.State != agent.AwaitingConfirmation {
					n.t.Fatalf("wait: %+v", s)
				}
				// Until confirmed, the boot default is untouched.
				if g := generation(n.t, n.profile("system")); g != 1 {
					n.t.Errorf("profile generation %d before confirmation, want 1", g)
				}
				// The runner may lose its lock session: the worker still
				// holds the node against the next deploy.
				release()
				if out, code := n.agent(agent.SubLock, "other"); code != agent.ExitBusy || !strings.Contains(out, "holder=worker") {
					n.t.Errorf("lock while awaiting confirmation: exit %d %q", code, out)
				}
				return n.status(agent.SubConfirm, id)
			},
			want:  agent.Status{State: agent.Deployed, Generation: 2},
			calls: "new test\nnew boot\n", running: "new", profile: 2,
		},
		{
			name:   "not confirmed",
			system: "new",
			start:  agent.Start{MagicRollback: true, ConfirmTimeout: time.Second},
			drive: func(n *node, id string, _ func()) agent.Status {
				n.status(agent.SubWait, id)
				return n.final(id)
			},
			want:  agent.Status{State: agent.RolledBack, Reason: agent.NotConfirmed},
			calls: "new test\nold test\n", running: "old", profile: 1,
		},
		{
			name:   "aborted",
			system: "new",
			start:  agent.Start{MagicRollback: true, ConfirmTimeout: 30 * time.Second},
			drive: func(n *node, id string, _ func()) agent.Status {
				n.status(agent.SubWait, id)
				return n.status(agent.SubAbort, id, "unhealthy")
			},
			want:  agent.Status{State: agent.RolledBack, Reason: agent.Aborted},
			calls: "new test\nold test\n", running: "old", profile: 1,
		},
		{
			name:   "activation fails",
			system: "fail",
			start:  agent.Start{MagicRollback: true},
			drive:  func(n *node, id string, _ func()) agent.Status { return n.status(agent.SubWait, id) },
			want:   agent.Status{State: agent.RolledBack, Reason: agent.ActivationFailed},
			calls:  "fail test\nold test\n", running: "old", profile: 1,
		},
		{
			name:   "activation hangs",
			system: "hang",
			start:  agent.Start{MagicRollback: true, ActivationTimeout: time.Second},
			drive: func(n *node, id string, _ func()) agent.Status {
				s := n.status(agent.SubWait, id)
				pid, _ := os.ReadFile(filepath.Join(n.root, "hang.pid"))
				if len(pid) == 0 || !exits(strings.TrimSpace(string(pid))) {
					n.t.Errorf("the hung activation's child %q still runs", pid)
				}
				return s
			},
			want:  agent.Status{State: agent.RolledBack, Reason: agent.ActivationTimeout},
			calls: "hang test\nold test\n", running: "old", profile: 1,
		},
		{
			name:   "exit 4 fails",
			system: "exit4",
			start:  agent.Start{MagicRollback: true},
			drive:  func(n *node, id string, _ func()) agent.Status { return n.status(agent.SubWait, id) },
			want:   agent.Status{State: agent.RolledBack, Reason: agent.Degraded},
			calls:  "exit4 test\nold test\n", running: "old", profile: 1,
		},
		{
			name:   "exit 4 warns",
			system: "exit4",
			start:  agent.Start{DegradedWarn: true},
			drive:  func(n *node, id string, _ func()) agent.Status { return n.status(agent.SubWait, id) },
			want:   agent.Status{State: agent.Deployed, Generation: 2, Warning: "degraded"},
			calls:  "exit4 test\nexit4 boot\n", running: "exit4", profile: 2,
		},
		{
			name:   "test mode leaves the profile",
			system: "new",
			start:  agent.Start{Mode: agent.ModeTest, MagicRollback: true},
			drive: func(n *node, id string, _ func()) agent.Status {
				n.status(agent.SubWait, id)
				return n.status(agent.SubConfirm, id)
			},
			want:  agent.Status{State: agent.Deployed},
			calls: "new test\n", running: "new", profile: 1,
		},
		{
			name:   "boot mode",
			system: "new",
			start:  agent.Start{Mode: agent.ModeBoot},
			drive:  func(n *node, id string, _ func()) agent.Status { return n.status(agent.SubWait, id) },
			want:   agent.Status{State: agent.Deployed, Generation: 2},
			calls:  "new boot\n", running: "old", profile: 2,
		},
		{
			name:   "dry-activate",
			system: "new",
			start:  agent.Start{Mode: agent.ModeDryActivate},
			drive:  func(n *node, id string, _ func()) agent.Status { return n.status(agent.SubWait, id) },
			want:   agent.Status{State: agent.DryActivated},
			calls:  "new dry-activate\n", running: "old", profile: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := newNode(t)
			profile := n.profile("system")
			n.setProfile(profile, old)
			n.setCurrent(old)
			lockID := "d-" + strings.ReplaceAll(tt.name, " ", "-")
			id := lockID + "-1"
			release := n.lock(lockID)
			s := tt.start
			s.Lock, s.ID, s.Path, s.Profile = lockID, id, fake(t, tt.system), profile
			n.start(s)
			got := tt.drive(n, id, release)
			release()
			if got != tt.want {
				t.Errorf("status %+v, want %+v; log:\n%s", got, tt.want, n.log(id))
			}
			if c := n.calls(); c != tt.calls {
				t.Errorf("calls:\n%s\nwant:\n%s", c, tt.calls)
			}
			if r := target(t, n.current); r != fake(t, tt.running) {
				t.Errorf("running %s, want %s", r, tt.running)
			}
			if g := generation(t, profile); g != tt.profile {
				t.Errorf("profile generation %d, want %d", g, tt.profile)
			}
		})
	}
}

func TestCustomProfile(t *testing.T) {
	tests := []struct {
		name     string
		app      string
		want     agent.Status
		calls    string
		current  string
		gens     []int // generation links left
		firstGen bool  // no earlier generation
	}{
		{name: "deployed", app: "app2", want: agent.Status{State: agent.Deployed, Generation: 2},
			calls: "app2 activate nobody PROFILE\n", current: "app2", gens: []int{1, 2}},
		{name: "activation fails", app: "appfail", want: agent.Status{State: agent.RolledBack, Reason: agent.ActivationFailed},
			calls: "appfail activate nobody PROFILE\napp1 activate nobody PROFILE\n", current: "app1", gens: []int{1}},
		{name: "first generation fails", app: "appfail", firstGen: true, want: agent.Status{State: agent.RolledBack, Reason: agent.ActivationFailed},
			calls: "appfail activate nobody PROFILE\n", current: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := newNode(t)
			profile := n.profile("app")
			if !tt.firstGen {
				n.setProfile(profile, fake(t, "app1"))
			}
			lockID := "c-" + strings.ReplaceAll(tt.name, " ", "-")
			id := lockID + "-1"
			n.lock(lockID)
			n.start(agent.Start{Lock: lockID, ID: id, Path: fake(t, tt.app), Profile: profile, Kind: agent.KindCustom,
				User: "nobody", Activate: "bin/activate", MagicRollback: true, ConfirmTimeout: 30 * time.Second})
			got := n.status(agent.SubWait, id)
			if got.State == agent.AwaitingConfirmation {
				got = n.status(agent.SubConfirm, id)
			}
			if got != tt.want {
				t.Errorf("status %+v, want %+v; log:\n%s", got, tt.want, n.log(id))
			}
			if c := strings.ReplaceAll(n.calls(), profile, "PROFILE"); c != tt.calls {
				t.Errorf("calls:\n%s\nwant:\n%s", c, tt.calls)
			}
			want := ""
			if tt.current != "" {
				want = fake(t, tt.current)
			}
			if c := target(t, profile); c != want {
				t.Errorf("profile points at %q, want %q", c, want)
			}
			links, _ := filepath.Glob(profile + "-*-link")
			var gens []int
			for _, l := range links {
				g, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(l), "app-"), "-link"))
				gens = append(gens, g)
			}
			if fmt.Sprint(gens) != fmt.Sprint(tt.gens) {
				t.Errorf("generations %v, want %v (the failed one deleted)", gens, tt.gens)
			}
		})
	}
}

func TestLock(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	release := n.lock("first")
	out, code := n.agent(agent.SubLock, "second")
	l, err := agent.ParseLock(strings.TrimSpace(out))
	if code != agent.ExitBusy || err != nil || l.OK || l.Owner != "first" || l.Holder != "session" || l.Since == "" {
		t.Fatalf("second lock: exit %d %q %v", code, out, err)
	}
	// start needs the lock held under the id it names.
	argv, err := agent.Start{Lock: "second", ID: "second-1", Path: fake(t, "new"), Profile: n.profile("system")}.Command()
	if err != nil {
		t.Fatal(err)
	}
	if _, code := n.agent(argv[3], argv[4:]...); code != agent.ExitWrongState {
		t.Errorf("start without the lock: exit %d, want %d", code, agent.ExitWrongState)
	}
	release()
	n.lock("second")
}

func TestPreflight(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	n.setProfile(n.profile("system"), fake(t, "old"))
	n.setCurrent(fake(t, "old"))
	out, code := n.agent(agent.SubPreflight, n.profile("system"), n.profile("none"))
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	p, err := agent.ParsePreflight(out)
	if err != nil {
		t.Fatal(err)
	}
	if p.Tools["nix-env"] == "" || p.Tools["nix-store"] == "" || p.CurrentSystem != fake(t, "old") {
		t.Errorf("preflight %+v", p)
	}
	want := []agent.Profile{{Path: n.profile("system"), Current: fake(t, "old"), Generation: 1}, {Path: n.profile("none")}}
	if fmt.Sprint(p.Profiles) != fmt.Sprint(want) {
		t.Errorf("profiles %+v, want %+v", p.Profiles, want)
	}
	if _, code := n.agent(agent.SubPreflight, "relative/path"); code != agent.ExitBadArgs {
		t.Errorf("relative profile: exit %d, want %d", code, agent.ExitBadArgs)
	}
}

// TestStartRejects checks the agent's own validation: the Go side checks
// too, so these bypass it.
func TestStartRejects(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	n.lock("rej")
	good := []string{"path=" + fake(t, "new"), "profile=" + n.profile("system")}
	tests := []struct {
		name string
		args []string
	}{
		{"bad id", append([]string{"rej", "../x"}, good...)},
		{"bad lock id", append([]string{"../x", "rej-1"}, good...)},
		{"no activation id", good},
		{"not a store path", []string{"rej", "rej-1", "path=/etc", "profile=/x"}},
		{"missing store path", []string{"rej", "rej-1", "path=/nix/store/00000000000000000000000000000000-x", "profile=/x"}},
		{"relative profile", []string{"rej", "rej-1", good[0], "profile=x/y"}},
		{"dotdot profile", []string{"rej", "rej-1", good[0], "profile=/x/../etc"}},
		{"bad mode", append([]string{"rej", "rej-1", "mode=reboot"}, good...)},
		{"shell in user", append([]string{"rej", "rej-1", "kind=custom", "activate=bin/a", "user=$(id)"}, good...)},
		{"absolute activate", append([]string{"rej", "rej-1", "kind=custom", "activate=/bin/sh"}, good...)},
		{"bad timeout", append([]string{"rej", "rej-1", "activation-timeout=1;reboot"}, good...)},
		{"unknown key", append([]string{"rej", "rej-1", "evil=1"}, good...)},
	}
	for _, tt := range tests {
		if _, code := n.agent(agent.SubStart, tt.args...); code != agent.ExitBadArgs {
			t.Errorf("%s: exit %d, want %d", tt.name, code, agent.ExitBadArgs)
		}
	}
	entries, _ := os.ReadDir(n.state)
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("a rejected start left %s behind", e.Name())
		}
	}
}

// TestOneLockManyActivations deploys a system and then a custom profile
// under one lock session, as the engine does for a node with two profiles:
// the node is never free in between, and each start needs that lock.
func TestOneLockManyActivations(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	system, app := n.profile("system"), n.profile("app")
	n.setProfile(system, fake(t, "old"))
	n.setCurrent(fake(t, "old"))
	n.setProfile(app, fake(t, "app1"))
	release := n.lock("run")
	busy := func(when string) {
		t.Helper()
		out, code := n.agent(agent.SubLock, "other")
		l, err := agent.ParseLock(strings.TrimSpace(out))
		if code != agent.ExitBusy || err != nil || l.Owner != "run" {
			t.Errorf("lock by another deploy %s: exit %d %q %v", when, code, out, err)
		}
	}

	n.start(agent.Start{Lock: "run", ID: "run-1", Path: fake(t, "new"), Profile: system, MagicRollback: true, ConfirmTimeout: 30 * time.Second})
	n.status(agent.SubWait, "run-1")
	busy("while the system awaits confirmation")
	if s := n.status(agent.SubConfirm, "run-1"); s.State != agent.Deployed {
		t.Fatalf("system: %+v; log:\n%s", s, n.log("run-1"))
	}
	busy("between the two profiles")

	// An activation id is used once; another lock id is refused.
	for _, tt := range []struct{ lock, id string }{{"run", "run-1"}, {"other", "run-2"}} {
		argv, err := agent.Start{Lock: tt.lock, ID: tt.id, Path: fake(t, "app2"), Profile: app, Kind: agent.KindCustom, Activate: "bin/activate"}.Command()
		if err != nil {
			t.Fatal(err)
		}
		if out, code := n.agent(argv[3], argv[4:]...); code != agent.ExitWrongState {
			t.Errorf("start %s under %s: exit %d %q, want %d", tt.id, tt.lock, code, out, agent.ExitWrongState)
		}
	}

	// Started at once: the system's worker may still be exiting.
	n.start(agent.Start{Lock: "run", ID: "run-2", Path: fake(t, "app2"), Profile: app, Kind: agent.KindCustom,
		User: "nobody", Activate: "bin/activate", MagicRollback: true, ConfirmTimeout: 30 * time.Second})
	n.status(agent.SubWait, "run-2")
	busy("while the app awaits confirmation")
	if s := n.status(agent.SubConfirm, "run-2"); s.State != agent.Deployed {
		t.Fatalf("app: %+v; log:\n%s", s, n.log("run-2"))
	}
	if target(t, system) != fake(t, "new") || target(t, app) != fake(t, "app2") {
		t.Errorf("profiles point at %s and %s", target(t, system), target(t, app))
	}

	// Once the session is gone, nothing starts under its id.
	release()
	argv, err := agent.Start{Lock: "run", ID: "run-3", Path: fake(t, "app1"), Profile: app, Kind: agent.KindCustom, Activate: "bin/activate"}.Command()
	if err != nil {
		t.Fatal(err)
	}
	if _, code := n.agent(argv[3], argv[4:]...); code != agent.ExitWrongState {
		t.Errorf("start after the lock session ended: exit %d, want %d", code, agent.ExitWrongState)
	}
}

func TestLog(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	n.setProfile(n.profile("system"), fake(t, "old"))
	n.setCurrent(fake(t, "old"))
	n.lock("logs")
	n.start(agent.Start{Lock: "logs", ID: "logs-1", Path: fake(t, "fail"), Profile: n.profile("system")})
	n.final("logs-1")
	lines := strings.SplitAfter(strings.TrimSuffix(n.log("logs-1"), "\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("log too short:\n%s", n.log("logs-1"))
	}
	tests := []struct {
		args []string
		want string
		code int
	}{
		{args: []string{"logs-1", "2"}, want: strings.Join(lines[len(lines)-2:], "") + "\n"},
		{args: []string{"logs-1", "100000"}, want: n.log("logs-1")},
		{args: []string{"logs-1"}, want: n.log("logs-1")},
		{args: []string{"logs-1", "0"}, code: agent.ExitBadArgs},
		{args: []string{"logs-1", "-1"}, code: agent.ExitBadArgs},
		{args: []string{"../logs-1"}, code: agent.ExitBadArgs},
		{args: []string{"nope"}, code: 1},
	}
	for _, tt := range tests {
		out, code := n.agent(agent.SubLog, tt.args...)
		if code != tt.code || out != tt.want {
			t.Errorf("log %v: exit %d %q, want exit %d %q", tt.args, code, out, tt.code, tt.want)
		}
	}
}

// TestLockHeartbeat: a lock taken with idle seconds lives while the runner
// writes heartbeats, and ends without them even though its stdin stays
// open, as when a network partition hides the runner's end from sshd.
func TestLockHeartbeat(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	in, wait := n.lockSession("beat", "3")
	for i := 0; i < 25; i++ {
		if _, err := io.WriteString(in, agent.Heartbeat); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out, code := n.agent(agent.SubLock, "other"); code != agent.ExitBusy {
		t.Fatalf("lock while heartbeats come: exit %d %q", code, out)
	}
	// Silence, stdin still open: the session ends by itself.
	stderr := wait()
	if !strings.Contains(stderr, "no heartbeat from the runner for 3 s") {
		t.Errorf("stderr %q", stderr)
	}
	if out, code := n.agent(agent.SubLock, "other"); code != 0 {
		t.Errorf("lock after the silent session ended: exit %d %q", code, out)
	}
	if _, code := n.agent(agent.SubLock, "bad", "0"); code != agent.ExitBadArgs {
		t.Errorf("lock with 0 idle seconds: exit %d, want %d", code, agent.ExitBadArgs)
	}
}
