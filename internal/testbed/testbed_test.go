package testbed

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

// The fleets below need root, nix, sshd and sudo; they run in parallel with
// each other, as fleets of several test packages do.

func TestFleet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := StartForTest(t, Options{Nodes: 2, PayloadKiB: 64})
	node1, node2 := f.Node("node1"), f.Node("node2")

	t.Run("files", func(t *testing.T) {
		plan, err := os.ReadFile(f.PlanFile)
		require.NoError(t, err)
		for _, n := range f.Nodes {
			assert.Contains(t, string(plan), `host: "`+n.Host+`"`)
			assert.Contains(t, string(plan), `host-key: "`+n.HostKey+`"`)
		}
		info, err := os.Stat(f.KeyFile)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
		pw, err := os.ReadFile(f.SudoPasswordFile)
		require.NoError(t, err)
		assert.Equal(t, SudoPassword, strings.TrimSpace(string(pw)))
		assert.NotEqual(t, node1.Host, node2.Host)
	})

	t.Run("separate stores", func(t *testing.T) {
		sys1, err := node1.CurrentSystem(ctx)
		require.NoError(t, err)
		sys2, err := node2.CurrentSystem(ctx)
		require.NoError(t, err)
		assert.Contains(t, sys1, "-nixos-system-node1-1")
		assert.Contains(t, sys2, "-nixos-system-node2-1")

		// node1's store holds exactly its system's closure, nothing of the
		// host's or node2's.
		closure, err := node1.Exec(ctx, "nix-store", "--query", "--requisites", sys1)
		require.NoError(t, err)
		store, err := node1.Exec(ctx, "ls", "/nix/store")
		require.NoError(t, err)
		assert.Len(t, strings.Fields(store), len(strings.Fields(closure)))
		_, err = node1.Exec(ctx, "test", "-e", sys2)
		assert.Error(t, err, "node2's system is in node1's store")

		gens, err := node1.Generations(ctx, SystemProfile)
		require.NoError(t, err)
		require.Len(t, gens, 1)
		assert.Equal(t, Generation{Number: 1, Path: sys1, Current: true, Time: gens[0].Time}, gens[0])
	})

	t.Run("own nix settings", func(t *testing.T) {
		host, err := os.ReadFile(hostNixConf)
		require.NoError(t, err)
		require.NoError(t, node1.AddNixConfig("connect-timeout = 7"))
		setting := func(n *Node) string {
			out, err := n.Exec(ctx, "nix", "show-config")
			require.NoError(t, err)
			for line := range strings.SplitSeq(out, "\n") {
				if v, ok := strings.CutPrefix(line, "connect-timeout = "); ok {
					return v
				}
			}
			return ""
		}
		assert.Equal(t, "7", setting(node1))
		assert.NotEqual(t, "7", setting(node2), "node2 has its own nix.conf")
		after, err := os.ReadFile(hostNixConf)
		require.NoError(t, err)
		assert.Equal(t, string(host), string(after), "the host's nix.conf is untouched")
	})

	t.Run("ssh and sudo per user", func(t *testing.T) {
		tests := []struct {
			user, cmd, stdin string
			ok               bool
		}{
			{UserDeploy, "sudo -n true", "", true},
			{UserDeploy, "sudo -n nix-store --verify-path /run/current-system", "", true},
			{UserDeployPW, "sudo -n true", "", false},
			{UserDeployPW, "sudo -S -p '' true", SudoPassword + "\n", true},
			{UserDeployPW, "sudo -S -p '' true", "wrong\n", false},
			{UserNoSudo, "sudo -n true", "", false},
			{UserNoSudo, "sudo -S -p '' true", SudoPassword + "\n", false},
			// Non-root users reach the node's store through its own nix-daemon.
			{UserNoSudo, `nix-store --check-validity "$(readlink /run/current-system)"`, "", true},
		}
		for _, tt := range tests {
			t.Run(tt.user+"/"+tt.cmd, func(t *testing.T) {
				client, err := node1.Dial(ctx, tt.user)
				require.NoError(t, err)
				defer client.Close()
				_, stderr, code := runSSH(t, client, tt.cmd, tt.stdin)
				assert.Equal(t, tt.ok, code == 0, "exit %d: %s", code, stderr)
			})
		}
	})

	t.Run("unknown client key", func(t *testing.T) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		other, err := ssh.NewSignerFromKey(priv)
		require.NoError(t, err)
		_, err = node1.DialWith(ctx, UserDeploy, other)
		assert.ErrorContains(t, err, "unable to authenticate")
	})

	t.Run("host key pinned", func(t *testing.T) {
		impostor := *node1
		impostor.HostKey = node2.HostKey
		_, err := impostor.Dial(ctx, UserDeploy)
		assert.ErrorContains(t, err, "host key mismatch")
	})

	t.Run("behaviours", func(t *testing.T) {
		testBehaviours(t, f, node2)
	})

	t.Run("down", func(t *testing.T) {
		// A detached process spawned on the node over SSH, as a deploy
		// agent is, must end with the fleet.
		client, err := node1.Dial(ctx, UserDeploy)
		require.NoError(t, err)
		_, stderr, code := runSSH(t, client, "sudo -n setsid -f sleep 1000 </dev/null >/dev/null 2>&1", "")
		client.Close()
		require.Zero(t, code, stderr)

		require.NoError(t, f.Down(ctx))
		members, err := namespaceMembers(f.Nodes)
		require.NoError(t, err)
		assert.Empty(t, members)
		assert.Empty(t, mountsOf(t, f))
		assert.False(t, node1.SSHReachable(ctx))

		require.NoError(t, f.Down(ctx), "down is idempotent")
		loaded, err := Load(f.Dir)
		require.NoError(t, err)
		require.NoError(t, loaded.Down(ctx))
		require.NoError(t, loaded.Clean())
		_, err = os.Stat(f.Dir)
		assert.True(t, errors.Is(err, os.ErrNotExist), "clean removes the fleet's directory: %v", err)
	})
}

// testBehaviours activates one new generation per row on n, in order, each
// row seeing what the previous ones left.
func testBehaviours(t *testing.T, f *Fleet, n *Node) {
	ctx := context.Background()
	type result int
	const (
		old   result = iota // unchanged by the row
		built               // the row's system
	)
	tests := []struct {
		behaviour, action string
		viaSSH            bool // as a deploy does; else as root with Exec
		wantExit          int
		wantCurrent       result
		wantBoot          result
		wantSSH           bool
		wantHealthy       bool
		wantStderr        string
	}{
		{BehaviourOK, "switch", true, 0, built, built, true, true, ""},
		{BehaviourOK, "boot", true, 0, old, built, true, true, ""},
		{BehaviourOK, "dry-activate", true, 0, old, old, true, true, ""},
		{BehaviourFail, "test", true, 1, old, old, true, true, "failed"},
		{BehaviourUnhealthy, "test", true, 0, built, old, true, false, ""},
		{BehaviourSlow, "test", true, 0, built, old, true, true, ""},
		{BehaviourDegraded, "switch", true, 4, built, built, true, true, "warning: the following units failed: nginx.service"},
		{BehaviourBreakSSH, "test", true, 0, built, old, false, true, ""},
		// Activating an ok system brings sshd back, as a rollback would.
		{BehaviourOK, "test", false, 0, built, old, true, true, ""},
	}
	for i, tt := range tests {
		release := "b" + string(rune('a'+i))
		require.NoError(t, f.SetBehaviour(n.Name, tt.behaviour))
		require.NoError(t, f.SetRelease(n.Name, release))
		systems, err := f.Build(ctx, n.Name)
		require.NoError(t, err)
		system := systems[n.Name]
		require.Contains(t, system, "-nixos-system-"+n.Name+"-"+release)
		require.NoError(t, n.Copy(ctx, system))
		before, err := n.CurrentSystem(ctx)
		require.NoError(t, err)
		bootBefore, err := n.BootDefault(ctx)
		require.NoError(t, err)

		var stderr string
		code := 0
		if tt.viaSSH {
			client, err := n.Dial(ctx, UserDeploy)
			require.NoError(t, err)
			_, stderr, code = runSSH(t, client, "sudo -n "+system+"/bin/switch-to-configuration "+tt.action, "")
			client.Close()
		} else {
			_, err := n.Exec(ctx, system+"/bin/switch-to-configuration", tt.action)
			if err != nil {
				code, stderr = -1, err.Error()
			}
		}
		name := tt.behaviour + "/" + tt.action
		assert.Equal(t, tt.wantExit, code, "%s: exit status; stderr: %s", name, stderr)
		assert.Contains(t, stderr, tt.wantStderr, name)

		pick := func(r result, prev string) string {
			if r == built {
				return system
			}
			return prev
		}
		current, err := n.CurrentSystem(ctx)
		require.NoError(t, err)
		assert.Equal(t, pick(tt.wantCurrent, before), current, "%s: current system", name)
		boot, err := n.BootDefault(ctx)
		require.NoError(t, err)
		assert.Equal(t, pick(tt.wantBoot, bootBefore), boot, "%s: boot default", name)
		assert.Equal(t, tt.wantSSH, n.SSHReachable(ctx), "%s: ssh reachable", name)
		_, err = n.Exec(ctx, "/run/current-system/bin/healthcheck")
		assert.Equal(t, tt.wantHealthy, err == nil, "%s: healthcheck: %v", name, err)

		acts, err := n.Activations(ctx)
		require.NoError(t, err)
		require.NotEmpty(t, acts)
		last := acts[len(acts)-1]
		assert.Equal(t, Activation{Time: last.Time, Action: tt.action, System: system, Behaviour: tt.behaviour}, last, name)
	}

	t.Run("hang", func(t *testing.T) {
		require.NoError(t, f.SetBehaviour(n.Name, BehaviourHang))
		require.NoError(t, f.SetRelease(n.Name, "hang"))
		systems, err := f.Build(ctx, n.Name)
		require.NoError(t, err)
		system := systems[n.Name]
		require.NoError(t, n.Copy(ctx, system))
		// Detached, as the deploy agent runs it: it outlives the session
		// and Down must end it.
		client, err := n.Dial(ctx, UserDeploy)
		require.NoError(t, err)
		_, stderr, code := runSSH(t, client, "sudo -n setsid -f "+system+"/bin/switch-to-configuration test </dev/null >/dev/null 2>&1", "")
		client.Close()
		require.Zero(t, code, stderr)
		require.Eventually(t, func() bool {
			acts, err := n.Activations(ctx)
			return err == nil && len(acts) > 0 && acts[len(acts)-1].System == system
		}, time.Minute, 50*time.Millisecond)
		members, err := namespaceMembers([]*Node{n})
		require.NoError(t, err)
		hanging := 0
		for _, pid := range members[n] {
			cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
			if pid != n.pids[0] && string(cmdline) == "sleep\x00infinity\x00" {
				hanging++
			}
		}
		assert.Equal(t, 1, hanging, "the hanging activation runs on the node")
	})
}

func TestEmptyFleet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := StartForTest(t, Options{Nodes: 1, Empty: true})
	n := f.Nodes[0]
	current, err := n.CurrentSystem(ctx)
	require.NoError(t, err)
	assert.Empty(t, current)
	gens, err := n.Generations(ctx, SystemProfile)
	require.NoError(t, err)
	assert.Empty(t, gens)
	store, err := n.Exec(ctx, "ls", "/nix/store")
	require.NoError(t, err)
	assert.Empty(t, strings.TrimSpace(store))
	assert.True(t, n.SSHReachable(ctx))

	// The fleet outlives its process: another one finds it from the files.
	loaded, err := Load(f.Dir)
	require.NoError(t, err)
	require.Len(t, loaded.Nodes, 1)
	assert.Equal(t, n.HostKey, loaded.Nodes[0].HostKey)
	assert.True(t, loaded.Nodes[0].SSHReachable(ctx))
	_, err = Up(ctx, Options{Nodes: 1, Dir: f.Dir})
	assert.ErrorContains(t, err, "still running")

	require.NoError(t, n.StopSSH(ctx))
	assert.False(t, n.SSHReachable(ctx))
	require.NoError(t, n.StartSSH(ctx))
	assert.True(t, n.SSHReachable(ctx))
}

// runSSH runs cmd in a new session and returns its output and exit status.
func runSSH(t *testing.T, client *ssh.Client, cmd, stdin string) (string, string, int) {
	t.Helper()
	s, err := client.NewSession()
	require.NoError(t, err)
	defer s.Close()
	var stdout, stderr bytes.Buffer
	s.Stdout, s.Stderr = &stdout, &stderr
	s.Stdin = strings.NewReader(stdin)
	err = s.Run(cmd)
	var exit *ssh.ExitError
	switch {
	case errors.As(err, &exit):
		return stdout.String(), stderr.String(), exit.ExitStatus()
	case err != nil:
		t.Fatalf("run %q: %v", cmd, err)
	}
	return stdout.String(), stderr.String(), 0
}

// mountsOf returns the mounts, in any process, of the fleet's node
// directories.
func mountsOf(t *testing.T, f *Fleet) []string {
	t.Helper()
	files, err := filepath.Glob("/proc/[0-9]*/mountinfo")
	require.NoError(t, err)
	var found []string
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			continue // the process ended
		}
		for line := range strings.SplitSeq(string(data), "\n") {
			fields := strings.Fields(line)
			if len(fields) < 5 || !strings.Contains(fields[3], "/nodes/node") {
				continue
			}
			// The mount's root is relative to its filesystem: match the
			// tail of the node directory's path.
			root := strings.TrimSuffix(fields[3], "//deleted")
			for _, n := range f.Nodes {
				if strings.HasSuffix(n.Root+"/nix", root) || strings.HasSuffix(n.Root+"/run", root) || strings.HasSuffix(n.Root+"/etc/nix", root) {
					found = append(found, file+": "+line)
				}
			}
		}
	}
	return found
}
