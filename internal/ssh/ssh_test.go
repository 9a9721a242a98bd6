package ssh_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/nix-deploy-action/nix-deploy-action/internal/ssh"
	"github.com/nix-deploy-action/nix-deploy-action/internal/ssh/sshtest"
)

func dial(t *testing.T, cfg ssh.Config) *ssh.Client {
	t.Helper()
	c, err := ssh.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func otherKey(t *testing.T) xssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := xssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDialHostKey(t *testing.T) {
	srv := sshtest.Start(t)
	hostKey, _, _, _, err := xssh.ParseAuthorizedKey([]byte(srv.HostKey))
	if err != nil {
		t.Fatal(err)
	}
	wrong := otherKey(t)
	seen := xssh.FingerprintSHA256(hostKey)
	addr := fmt.Sprintf("[%s]:%d", srv.Host, srv.Port)
	knownHosts := func(lines ...string) string {
		p := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyLine := func(k xssh.PublicKey) string { return strings.TrimSpace(string(xssh.MarshalAuthorizedKey(k))) }

	tests := []struct {
		name     string
		hostKey  string
		known    string
		wantErr  bool
		expected string // an Expected entry of the HostKeyError; "" for unknown
	}{
		{name: "pinned", hostKey: srv.HostKey},
		{name: "pinned among several", hostKey: keyLine(wrong) + "\n" + srv.HostKey},
		{name: "pinned wrong", hostKey: keyLine(wrong), wantErr: true, expected: "ssh-ed25519 " + xssh.FingerprintSHA256(wrong)},
		{name: "nothing configured", wantErr: true},
		{name: "known_hosts", known: knownHosts(addr + " " + keyLine(hostKey))},
		{name: "known_hosts other host", known: knownHosts("[example.org]:22 " + keyLine(hostKey)), wantErr: true},
		{name: "known_hosts changed", known: knownHosts(addr + " " + keyLine(wrong)), wantErr: true, expected: "ssh-ed25519 " + xssh.FingerprintSHA256(wrong)},
		{name: "known_hosts revoked", known: knownHosts("@revoked * "+keyLine(hostKey), addr+" "+keyLine(hostKey)), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := srv.Config(sshtest.User)
			cfg.HostKey, cfg.KnownHostsFile = tt.hostKey, tt.known
			c, err := ssh.Dial(context.Background(), cfg)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				c.Close()
				return
			}
			var hk *ssh.HostKeyError
			if !errors.As(err, &hk) {
				t.Fatalf("got %v, want a *HostKeyError", err)
			}
			if hk.Seen != seen || hk.SeenType != "ssh-ed25519" {
				t.Errorf("seen %s %s, want ssh-ed25519 %s", hk.SeenType, hk.Seen, seen)
			}
			if !strings.Contains(err.Error(), seen) {
				t.Errorf("error %q does not name the seen fingerprint", err)
			}
			if tt.expected != "" && (len(hk.Expected) == 0 || hk.Expected[len(hk.Expected)-1] != tt.expected) {
				t.Errorf("expected %v, want it to end with %q", hk.Expected, tt.expected)
			}
		})
	}
	// Host keys are checked before authentication: only the accepted
	// cases may have logged in.
	if n := strings.Count(srv.Logs(), "Accepted publickey"); n > 3 {
		t.Errorf("%d logins, want at most 3: a refused host key still authenticated", n)
	}
}

func TestDialCancelled(t *testing.T) {
	srv := sshtest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ssh.Dial(ctx, srv.Config(sshtest.User)); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestRunArgvRoundTrip(t *testing.T) {
	srv := sshtest.Start(t)
	c := dial(t, srv.Config(sshtest.User))
	args := []string{"", " ", "a b", "'", `"`, `\`, "$HOME", "`id`", "$(id)", "; rm -rf /", "*", "~", "a=b", "if", "!", "{x,y}", "line\nbreak", "tab\there", "ünï", "--", "-n", "%s"}
	var out bytes.Buffer
	if err := c.Run(context.Background(), append([]string{"printf", `%s\0`}, args...), nil, &out, nil); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\x00"), "\x00")
	if strings.Join(got, "|") != strings.Join(args, "|") || len(got) != len(args) {
		t.Errorf("argv came back as %q, want %q", got, args)
	}
}

func TestRunExit(t *testing.T) {
	srv := sshtest.Start(t)
	c := dial(t, srv.Config(sshtest.User))
	big := strings.Repeat("x", 10000) + "END"
	tests := []struct {
		name       string
		argv       []string
		status     int
		signal     string
		stderrTail string
	}{
		{name: "ok", argv: []string{"true"}},
		{name: "status", argv: []string{"sh", "-c", "echo boom >&2; exit 3"}, status: 3, stderrTail: "boom\n"},
		{name: "long stderr keeps the tail", argv: []string{"sh", "-c", "printf %s " + ssh.Quote(big) + " >&2; exit 1"}, status: 1, stderrTail: "xxxxEND"},
		// The login shell that runs the command reports a killed command
		// as 128+signal.
		{name: "killed", argv: []string{"sh", "-c", "kill -KILL $$"}, status: 137},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := c.Run(context.Background(), tt.argv, nil, nil, &stderr)
			if tt.status == 0 && tt.signal == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ee *ssh.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("got %v, want *ExitError", err)
			}
			if ee.Status != tt.status || ee.Signal != tt.signal {
				t.Errorf("status %d signal %q, want %d %q", ee.Status, ee.Signal, tt.status, tt.signal)
			}
			if len(ee.Stderr) > 4096 || !strings.HasSuffix(ee.Stderr, tt.stderrTail) {
				t.Errorf("stderr tail %d bytes ending %q, want ≤4096 ending %q", len(ee.Stderr), tail(ee.Stderr), tt.stderrTail)
			}
			if stderr.Len() < len(ee.Stderr) {
				t.Errorf("the stderr writer got %d bytes, less than the tail", stderr.Len())
			}
			if errors.Is(err, ssh.ErrConnectionLost) {
				t.Errorf("an exit is not a lost connection: %v", err)
			}
		})
	}
}

func tail(s string) string {
	if len(s) > 20 {
		return s[len(s)-20:]
	}
	return s
}

func TestRunStdinStream(t *testing.T) {
	srv := sshtest.Start(t)
	c := dial(t, srv.Config(sshtest.User))
	data := make([]byte, 5<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	var out bytes.Buffer
	if err := c.Run(context.Background(), []string{"sha256sum"}, bytes.NewReader(data), &out, nil); err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(out.String()); len(got) == 0 || got[0] != hex.EncodeToString(sum[:]) {
		t.Errorf("remote sha256 %q, want %x", out.String(), sum)
	}
}

// startedPID runs argv, which prints its remote pid first, in the
// background and returns that pid and Run's result channel.
func startedPID(t *testing.T, ctx context.Context, c *ssh.Client, argv []string) (int, chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, argv, nil, pw, nil)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("read pid: %v (run: %v)", err, <-done)
	}
	go io.Copy(io.Discard, pr)
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	return pid, done
}

// waitGone waits until pid has exited: the test machine is the node.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); os.IsNotExist(err) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("remote process %d still runs", pid)
}

func TestRunCancel(t *testing.T) {
	srv := sshtest.Start(t)
	c := dial(t, srv.Config(sshtest.User))
	ctx, cancel := context.WithCancel(context.Background())
	pid, done := startedPID(t, ctx, c, []string{"sh", "-c", "echo $$; exec sleep 1000"})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	waitGone(t, pid)
	// The connection itself stays usable.
	if err := c.Run(context.Background(), []string{"true"}, nil, nil, nil); err != nil {
		t.Fatalf("run after a cancelled run: %v", err)
	}
}

func TestConnectionLost(t *testing.T) {
	srv := sshtest.Start(t)
	c := dial(t, srv.Config(sshtest.User))
	pid, done := startedPID(t, context.Background(), c, []string{"sh", "-c", "echo $$; exec sleep 1000"})
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	srv.KillConnections()
	if err := <-done; !errors.Is(err, ssh.ErrConnectionLost) {
		t.Fatalf("got %v, want ErrConnectionLost", err)
	}
	if err := c.Run(context.Background(), []string{"true"}, nil, nil, nil); !errors.Is(err, ssh.ErrConnectionLost) {
		t.Fatalf("next run: got %v, want ErrConnectionLost", err)
	}
}

func TestSudo(t *testing.T) {
	srv := sshtest.Start(t)
	sudo := []string{"sudo", "-n"}
	tests := []struct {
		name     string
		user     string
		password string
		wantErr  error
		keepsPw  bool // Check keeps the password: sudo needs it
	}{
		{name: "nopasswd", user: sshtest.User},
		{name: "nopasswd ignores a password", user: sshtest.User, password: "unused"},
		{name: "password needed, none given", user: sshtest.PasswordUser, wantErr: ssh.ErrSudoPassword},
		{name: "password on stdin", user: sshtest.PasswordUser, password: sshtest.Password, keepsPw: true},
		{name: "wrong password", user: sshtest.PasswordUser, password: "wrong", wantErr: ssh.ErrSudoPassword},
		// Without a password sudo cannot tell "not allowed" from "needs a
		// password": it authenticates first.
		{name: "no sudo, no password", user: sshtest.NoSudoUser, wantErr: ssh.ErrSudoPassword},
		{name: "no sudo", user: sshtest.NoSudoUser, password: sshtest.Password, wantErr: ssh.ErrNoSudo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, srv.Config(tt.user))
			s, err := ssh.Sudo{Command: sudo, Password: tt.password}.Check(context.Background(), c)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, want %v", err, tt.wantErr)
				}
				if tt.password != "" && strings.Contains(err.Error(), tt.password) {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (s.Password != "") != tt.keepsPw {
				t.Errorf("Check kept password %v, want %v", s.Password != "", tt.keepsPw)
			}
			// The rest of stdin reaches the command after sudo took the
			// password line.
			var out bytes.Buffer
			script := "id -u\nread -r line\necho \"got $line\"\n"
			argv := s.Wrap([]string{"sh", "-c", script})
			if err := c.Run(context.Background(), argv, s.Stdin(strings.NewReader("payload\n")), &out, nil); err != nil {
				t.Fatal(err)
			}
			if out.String() != "0\ngot payload\n" {
				t.Errorf("output %q, want root and the payload", out.String())
			}
			for _, a := range argv {
				if tt.password != "" && strings.Contains(a, tt.password) {
					t.Errorf("the password is on the command line: %q", argv)
				}
			}
		})
	}
}

func TestSudoWrap(t *testing.T) {
	tests := []struct {
		name string
		sudo ssh.Sudo
		want []string
	}{
		{name: "root", sudo: ssh.Sudo{}, want: []string{"id"}},
		{name: "root ignores password", sudo: ssh.Sudo{Password: "x"}, want: []string{"id"}},
		{name: "sudo -n", sudo: ssh.Sudo{Command: []string{"sudo", "-n"}}, want: []string{"sudo", "-n", "id"}},
		{name: "password", sudo: ssh.Sudo{Command: []string{"sudo", "-n", "-H"}, Password: "pw"}, want: []string{"sudo", "-S", "-p", "", "-H", "id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.sudo.Wrap([]string{"id"})
			if strings.Join(got, "\x00") != strings.Join(tt.want, "\x00") || len(got) != len(tt.want) {
				t.Errorf("Wrap = %q, want %q", got, tt.want)
			}
		})
	}
}

func BenchmarkRun(b *testing.B) {
	srv := sshtest.Start(b)
	before := ssh.Stats()
	c, err := ssh.Dial(context.Background(), srv.Config(sshtest.User))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Run(context.Background(), []string{"true"}, nil, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	after := ssh.Stats()
	b.ReportMetric(float64(after.Sessions-before.Sessions)/float64(b.N), "sessions/op")
	b.ReportMetric(float64(after.Connections-before.Connections), "connections")
}
