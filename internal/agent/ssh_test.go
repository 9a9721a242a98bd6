package agent_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nix-deploy-action/nix-deploy-action/internal/agent"
	"github.com/nix-deploy-action/nix-deploy-action/internal/ssh"
	"github.com/nix-deploy-action/nix-deploy-action/internal/ssh/sshtest"
)

// TestLockOverSSH holds the lock the way the runner does, through a real
// sshd and sudo, and checks that both ends of a session release it: a
// clean close and a dropped connection.
func TestLockOverSSH(t *testing.T) {
	srv := sshtest.Start(t)
	tests := []struct {
		name string
		end  func(closeStdin func(), c *ssh.Client)
	}{
		{name: "session closed", end: func(closeStdin func(), _ *ssh.Client) { closeStdin() }},
		{name: "connection lost", end: func(func(), *ssh.Client) { srv.KillConnections() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newNode(t)
			c, err := ssh.Dial(context.Background(), srv.Config(sshtest.User))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			sudo := ssh.Sudo{Command: []string{"sudo", "-n"}}
			inW, done := remoteLock(t, n, c, sudo, "remote")
			if out, code := n.agent(agent.SubLock, "local"); code != agent.ExitBusy {
				t.Fatalf("local lock while the remote holds it: exit %d %q", code, out)
			}
			tt.end(func() { inW.Close() }, c)
			if err := <-done; err != nil && !errors.Is(err, ssh.ErrConnectionLost) {
				t.Errorf("lock session: %v", err)
			}
			// The agent notices the end of its stdin a moment later. A lock
			// without a session of its own is released at once.
			for i := 0; ; i++ {
				if _, code := n.agent(agent.SubLock, "local"); code == 0 {
					break
				}
				if i == 100 {
					t.Fatal("the lock was never released")
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// remote returns argv for an agent subcommand run through sudo on the test
// node; sudo resets the environment, so the node's paths are passed on.
func remote(n *node, sudo ssh.Sudo, argv []string) []string {
	env := []string{"env", "NIX_DEPLOY_STATE=" + n.state, "NIX_DEPLOY_CURRENT_SYSTEM=" + n.current, "FAKE_DIR=" + n.root}
	return sudo.Wrap(append(env, argv...))
}

// remoteLock takes the node lock over c and returns the session's stdin
// (close it to release) and its result.
func remoteLock(t *testing.T, n *node, c *ssh.Client, sudo ssh.Sudo, id string) (*io.PipeWriter, chan error) {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		stdin := io.MultiReader(strings.NewReader(string(agent.Script())), inR)
		done <- c.Run(context.Background(), remote(n, sudo, agent.Command(agent.SubLock, id)), stdin, outW, nil)
		outW.Close()
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if l, perr := agent.ParseLock(line); err != nil || perr != nil || !l.OK {
		t.Fatalf("remote lock: %q %v %v (run: %v)", line, err, perr, <-done)
	}
	go io.Copy(io.Discard, outR)
	return inW, done
}

// TestWorkerOutlivesSSH starts an activation over SSH and sudo, then drops
// the connection: the worker carries on and, unconfirmed, rolls back.
func TestWorkerOutlivesSSH(t *testing.T) {
	srv := sshtest.Start(t)
	n := newNode(t)
	old := fake(t, "old")
	profile := n.profile("system")
	n.setProfile(profile, old)
	n.setCurrent(old)
	c, err := ssh.Dial(context.Background(), srv.Config(sshtest.User))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sudo := ssh.Sudo{Command: []string{"sudo", "-n"}}
	remoteLock(t, n, c, sudo, "drop")
	argv, err := agent.Start{Lock: "drop", ID: "drop-1", Path: fake(t, "new"), Profile: profile, MagicRollback: true, ConfirmTimeout: 2 * time.Second}.Command()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := c.Run(context.Background(), remote(n, sudo, argv), strings.NewReader(string(agent.Script())), &out, nil); err != nil || out.String() != "started=drop-1\n" {
		t.Fatalf("start: %v %q", err, out.String())
	}
	srv.KillConnections()
	want := agent.Status{State: agent.RolledBack, Reason: agent.NotConfirmed}
	if s := n.final("drop-1"); s != want {
		t.Errorf("status %+v, want %+v; log:\n%s", s, want, n.log("drop-1"))
	}
	if c := n.calls(); c != "new test\nold test\n" {
		t.Errorf("calls %q", c)
	}
	if r := target(t, n.current); r != old {
		t.Errorf("running %s, want the old system", r)
	}
}
