package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	xssh "golang.org/x/crypto/ssh"

	"github.com/nix-deploy-action/nix-deploy-action/internal/deploy"
	"github.com/nix-deploy-action/nix-deploy-action/internal/testbed"
)

// activationCount is how many times switch-to-configuration ran on n.
func activationCount(t *testing.T, ctx context.Context, n *testbed.Node) int {
	t.Helper()
	acts, err := n.Activations(ctx)
	require.NoError(t, err)
	return len(acts)
}

// TestDeployRefusals: deploys that must fail before anything changes on
// the node, each with a clear message.
func TestDeployRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := testbed.StartForTest(t, testbed.Options{Nodes: 1})
	n := f.Nodes[0]
	require.NoError(t, f.SetRelease(n.Name, "2"))
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	other, err := xssh.NewPublicKey(pub)
	require.NoError(t, err)
	otherKey := strings.TrimSpace(string(xssh.MarshalAuthorizedKey(other)))

	tests := []struct {
		name    string
		edit    func(string) string
		args    []string
		outcome deploy.Outcome
		errHas  []string
	}{
		{
			name:    "wrong host key",
			edit:    func(s string) string { return strings.Replace(s, n.HostKey, otherKey, 1) },
			outcome: deploy.Failed,
			errHas:  []string{"host key", "CHANGED", xssh.FingerprintSHA256(other)},
		},
		{
			name:    "sudo needs a password we do not have",
			edit:    func(s string) string { return strings.Replace(s, `ssh-user: "deploy"`, `ssh-user: "deploypw"`, 1) },
			outcome: deploy.Failed,
			errHas:  []string{"needs a password", "--sudo-password-file"},
		},
		{
			name:    "no sudo",
			edit:    func(s string) string { return strings.Replace(s, `ssh-user: "deploy"`, `ssh-user: "nosudo"`, 1) },
			outcome: deploy.Failed,
			errHas:  []string{"may not use sudo", "sudo: a password is required"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := stateOf(t, ctx, n)
			acts := activationCount(t, ctx, n)
			plan := writePlan(t, f, tt.edit)
			// A hang would hit this deadline and fail the exit code check.
			rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			o := runCLI(t, rctx, f, deployArgs(plan, tt.args...)...)
			require.NoError(t, rctx.Err(), "the deploy hung")
			assert.Equal(t, 1, o.code)
			r := o.node(t, n.Name)
			assert.Equal(t, tt.outcome, r.Outcome)
			for _, s := range tt.errHas {
				assert.Contains(t, r.Error, s)
			}
			assert.Equal(t, before, stateOf(t, ctx, n))
			assert.Equal(t, acts, activationCount(t, ctx, n), "nothing activated")
		})
	}

	t.Run("sudo with the password", func(t *testing.T) {
		plan := writePlan(t, f, tests[1].edit)
		o := runCLI(t, ctx, f, deployArgs(plan, "--sudo-password-file", f.SudoPasswordFile)...)
		require.Equal(t, 0, o.code)
		r := o.node(t, n.Name)
		assert.Equal(t, deploy.Deployed, r.Outcome)
		password, err := os.ReadFile(f.SudoPasswordFile)
		require.NoError(t, err)
		assert.NotContains(t, o.stdout+o.stderr, strings.TrimSpace(string(password)), "the password is never printed")
		assert.Equal(t, endState{system: r.Profiles[0].Path, generations: 2, current: r.Profiles[0].Path, reachable: true}, stateOf(t, ctx, n))
	})
}

// TestDeployPlanMismatch: a build that differs from the reviewed plan.json
// is refused, naming node, profile and both paths, and nothing is deployed
// anywhere, not even to the nodes that match.
func TestDeployPlanMismatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, plan := startFleet(t, 2, nil)
	for _, n := range f.Nodes {
		require.NoError(t, f.SetRelease(n.Name, "2"))
	}
	reviewed := filepath.Join(t.TempDir(), "plan.json")
	o := runCLI(t, ctx, f, append([]string{"plan", "-f", plan, "--env", "local", "--json", reviewed}, noSubstituters...)...)
	require.Equal(t, 0, o.code, o.stderr)
	p, err := readPlanJSON(reviewed)
	require.NoError(t, err)
	reviewedPath, _ := p.OutPath("node2", "system")

	require.NoError(t, f.SetRelease("node2", "3"))
	before := map[string]endState{}
	acts := map[string]int{}
	for _, n := range f.Nodes {
		before[n.Name] = stateOf(t, ctx, n)
		acts[n.Name] = activationCount(t, ctx, n)
	}
	o = runCLI(t, ctx, f, deployArgs(plan, "--plan", reviewed)...)
	assert.Equal(t, 2, o.code)
	assert.Nil(t, o.result, "no node was deployed, so no result")
	assert.Contains(t, o.stderr, "node2/system differs from the reviewed plan: reviewed "+reviewedPath+", built /nix/store/")
	assert.Contains(t, o.stderr, "nixos-system-node2-3")
	for _, n := range f.Nodes {
		assert.Equal(t, before[n.Name], stateOf(t, ctx, n), n.Name)
		assert.Equal(t, acts[n.Name], activationCount(t, ctx, n), n.Name)
	}
}

// TestDeployRejectsShellMetacharacters: names and hosts that a shell would
// interpret never get as far as a connection (quoting of every remote
// argument is tested at the ssh layer).
func TestDeployRejectsShellMetacharacters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := map[string]string{
		"host":    "nodes:\n  web1:\n    host: \"127.0.0.1;touch /tmp/pwned\"\n    profiles:\n      system: { nixos: web1 }\n",
		"name":    "nodes:\n  \"web1$(id)\":\n    host: 127.0.0.1\n    profiles:\n      system: { nixos: web1 }\n",
		"profile": "nodes:\n  web1:\n    host: 127.0.0.1\n    profiles:\n      \"sys;rm\": { nixos: web1 }\n",
	}
	for name, nodes := range tests {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, name+".yml")
			env := "environments:\n  local:\n    nodes: [web1]\n"
			if name == "name" {
				env = "environments:\n  local:\n    nodes: [\"web1$(id)\"]\n"
			}
			require.NoError(t, os.WriteFile(file, []byte("version: 1\nflake: ./flake\n"+env+nodes), 0o644))
			var out bytes.Buffer
			code := Run(context.Background(), []string{"deploy", "-f", file, "--env", "local"}, IO{Out: &out, Err: &out, Getenv: func(string) string { return "" }})
			assert.Equal(t, 2, code, out.String())
			assert.Contains(t, out.String(), file+":")
			_, err := os.Stat("/tmp/pwned")
			assert.True(t, errors.Is(err, os.ErrNotExist))
		})
	}
}

// TestDeployConnectionDropRetried cuts the TCP connection in the middle of
// the closure stream (a proxy between runner and node): the transfer is
// retried on a fresh connection, takes the lock again and succeeds.
func TestDeployConnectionDropRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := testbed.StartForTest(t, testbed.Options{Nodes: 1})
	n := f.Nodes[0]
	px := startCutProxy(t, net.JoinHostPort(n.Host, strconv.Itoa(n.Port)), 400<<10)
	plan := writePlan(t, f, func(s string) string {
		s = strings.Replace(s, `host: "`+n.Host+`"`, `host: "127.0.0.1"`+"\n    port: "+strconv.Itoa(px.port), 1)
		return s
	})
	require.NoError(t, f.SetRelease(n.Name, "2"))
	o := runCLI(t, ctx, f, deployArgs(plan)...)
	require.Equal(t, 0, o.code)
	r := o.node(t, n.Name)
	assert.Equal(t, deploy.Deployed, r.Outcome)
	require.NotNil(t, r.Profiles[0].Transfer)
	assert.Equal(t, 2, r.Profiles[0].Transfer.Attempts)
	assert.True(t, px.cut.Load(), "the proxy cut a connection")
	assert.Equal(t, endState{system: r.Profiles[0].Path, generations: 2, current: r.Profiles[0].Path, reachable: true}, stateOf(t, ctx, n))
}

// cutProxy forwards TCP to a node and cuts the first connection that sends
// more than limit bytes towards it.
type cutProxy struct {
	port int
	cut  atomic.Bool
}

func startCutProxy(t *testing.T, target string, limit int64) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	px := &cutProxy{port: ln.Addr().(*net.TCPAddr).Port}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go px.serve(c, target, limit)
		}
	}()
	return px
}

func (px *cutProxy) serve(c net.Conn, target string, limit int64) {
	defer c.Close()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(c, up)
		c.Close()
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		var sent int64
		for {
			k, err := c.Read(buf)
			if k > 0 {
				if _, werr := up.Write(buf[:k]); werr != nil {
					return
				}
				sent += int64(k)
				if sent > limit && px.cut.CompareAndSwap(false, true) {
					// A dropped connection: both ends see it die.
					c.Close()
					up.Close()
					return
				}
			}
			if err != nil {
				up.Close()
				return
			}
		}
	}()
	wg.Wait()
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// nixDeployBinary builds the real nix-deploy once for the subprocess tests.
func nixDeployBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nix-deploy-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "nix-deploy")
		out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/nix-deploy").CombinedOutput()
		if err != nil {
			binErr = errors.New(string(out))
		}
	})
	require.NoError(t, binErr)
	return binPath
}

// startDeploy runs the real binary; its stderr (progress lines) is returned
// as a pipe to watch.
func startDeploy(t *testing.T, f *testbed.Fleet, plan string) (*exec.Cmd, *os.File) {
	t.Helper()
	cmd := exec.Command(nixDeployBinary(t), deployArgs(plan, "--ssh-key", f.KeyFile, "--no-ssh-agent")...)
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	cmd.Stderr = pw
	require.NoError(t, cmd.Start())
	pw.Close()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		pr.Close()
	})
	return cmd, pr
}

// TestDeployRunnerKilledBeforeConfirmation: the runner dies (SIGKILL, no
// chance to clean up) after activation, before confirming; the node rolls
// itself back at the confirm timeout.
func TestDeployRunnerKilledBeforeConfirmation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, plan := startFleet(t, 1, func(s string) string {
		// A slow check holds the runner in the confirm step.
		return strings.Replace(s, "      - command: /run/current-system/bin/healthcheck\n", "      - command: sleep 5\n", 1)
	})
	n := f.Nodes[0]
	before := stateOf(t, ctx, n)
	require.NoError(t, f.SetRelease(n.Name, "2"))
	cmd, stderr := startDeploy(t, f, plan)
	waitForLine(t, stderr, n.Name+"/system: confirm")
	sys, err := n.CurrentSystem(ctx)
	require.NoError(t, err)
	require.NotEqual(t, before.system, sys, "activated before the kill")
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()

	// The agent rolls back once the confirm timeout has passed.
	assert.Eventually(t, func() bool { return stateOf(t, ctx, n) == before }, time.Minute, 500*time.Millisecond)
	assert.Equal(t, before, stateOf(t, ctx, n))
}

// TestDeploySIGTERMMidTransfer: SIGTERM while the closure streams stops the
// deploy (exit 130) with nothing activated; a later deploy picks up and
// succeeds (the transfer is idempotent, the lock was released).
func TestDeploySIGTERMMidTransfer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := testbed.StartForTest(t, testbed.Options{Nodes: 1, PayloadKiB: 96 << 10})
	plan := writePlan(t, f, nil)
	n := f.Nodes[0]
	before := stateOf(t, ctx, n)
	acts := activationCount(t, ctx, n)
	require.NoError(t, f.SetRelease(n.Name, "2"))
	cmd, stderr := startDeploy(t, f, plan)
	waitForLine(t, stderr, n.Name+"/system: transfer")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	err := cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 130, ee.ExitCode())
	assert.Equal(t, before, stateOf(t, ctx, n))
	assert.Equal(t, acts, activationCount(t, ctx, n), "nothing activated after the signal")

	o := runCLI(t, ctx, f, deployArgs(plan)...)
	require.Equal(t, 0, o.code)
	r := o.node(t, n.Name)
	assert.Equal(t, deploy.Deployed, r.Outcome)
	require.NotNil(t, r.Profiles[0].Transfer)
	assert.Positive(t, r.Profiles[0].Transfer.Missing, "the interrupted transfer had not finished")
}
