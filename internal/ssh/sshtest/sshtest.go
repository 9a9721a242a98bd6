// Package sshtest runs a real OpenSSH sshd on 127.0.0.1 for tests: a random
// port, a fresh host key, and one client key authorized for every user.
// Tests run as root (sshd needs it); sshd missing is a failure, not a skip.
//
// The test users are the testbed's: User (NOPASSWD sudo), PasswordUser
// (sudo with Password), NoSudoUser (no sudo rule; also Password). EnsureUsers
// creates whichever are missing.
package sshtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/nix-deploy-action/nix-deploy-action/internal/ssh"
	"github.com/nix-deploy-action/nix-deploy-action/internal/testbed"
)

// The test users and their password.
const (
	User         = testbed.UserDeploy
	PasswordUser = testbed.UserDeployPW
	NoSudoUser   = testbed.UserNoSudo
	Password     = testbed.SudoPassword
)

var usersOnce sync.Once
var usersErr error

// EnsureUsers creates the test users and their sudo rules when missing, and
// sets Password for PasswordUser and NoSudoUser. Safe to call from
// concurrent tests and processes.
func EnsureUsers(t testing.TB) {
	t.Helper()
	usersOnce.Do(func() { usersErr = ensureUsers() })
	if usersErr != nil {
		t.Fatal(usersErr)
	}
}

func ensureUsers() error {
	// One setup for the users, shared with the testbed, so test packages
	// running at the same time never fight over passwords or sudoers.
	if err := testbed.EnsureUsers(context.Background()); err != nil {
		return err
	}
	// NoSudoUser gets a password too, so sudo -S gets past authentication
	// and reports that the user is not in sudoers.
	pw := exec.Command("chpasswd")
	pw.Stdin = strings.NewReader(NoSudoUser + ":" + Password + "\n")
	if out, err := pw.CombinedOutput(); err != nil {
		return fmt.Errorf("chpasswd: %w: %s", err, out)
	}
	return nil
}

// Server is a running sshd.
type Server struct {
	Host    string
	Port    int
	HostKey string // the host key, authorized_keys format
	KeyPEM  []byte // client private key accepted for every test user
	Dir     string // config, keys and authorized_keys (mode 0755)

	cmd  *exec.Cmd
	logs *logBuffer
}

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Start starts sshd and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	EnsureUsers(t)
	dir, err := os.MkdirTemp("", "sshtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// sshd reads authorized_keys as the user.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Server{Host: "127.0.0.1", Dir: dir, logs: &logBuffer{}}

	_, hostPriv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	writeKey(t, filepath.Join(dir, "host_ed25519"), hostPriv)
	hostPub, err := xssh.NewPublicKey(hostPriv.Public())
	if err != nil {
		t.Fatal(err)
	}
	s.HostKey = strings.TrimSpace(string(xssh.MarshalAuthorizedKey(hostPub)))

	_, clientPriv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.KeyPEM = writeKey(t, filepath.Join(dir, "client_ed25519"), clientPriv)
	clientPub, err := xssh.NewPublicKey(clientPriv.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), xssh.MarshalAuthorizedKey(clientPub), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}

	// A free port may be taken between probe and bind: retry a few times.
	for attempt := 0; ; attempt++ {
		s.Port = freePort(t)
		if err := s.start(); err == nil {
			break
		} else if attempt == 4 {
			t.Fatalf("start sshd: %v\n%s", err, s.logs)
		}
	}
	t.Cleanup(s.stop)
	return s
}

func writeKey(t testing.TB, path string, key ed25519.PrivateKey) []byte {
	t.Helper()
	block, err := xssh.MarshalPrivateKey(key, "")
	if err != nil {
		t.Fatal(err)
	}
	data := pem.EncodeToMemory(block)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return data
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *Server) start() error {
	conf := filepath.Join(s.Dir, "sshd_config")
	text := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM yes
PidFile none
MaxStartups 100
MaxSessions 100
LogLevel VERBOSE
Subsystem sftp internal-sftp
`, s.Port, filepath.Join(s.Dir, "host_ed25519"), filepath.Join(s.Dir, "authorized_keys"))
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return err
	}
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", conf)
	cmd.Stdout = s.logs
	cmd.Stderr = s.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	for i := 0; i < 200; i++ {
		select {
		case <-exited:
			return fmt.Errorf("sshd exited")
		default:
		}
		c, err := net.Dial("tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)))
		if err == nil {
			c.Close()
			s.cmd = cmd
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	return fmt.Errorf("sshd did not listen on port %d", s.Port)
}

func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	s.KillConnections()
	s.cmd.Process.Kill()
}

// KillConnections kills the sshd processes serving connections (the
// listener stays), which is what a crashed peer or reset link looks like.
// The commands they ran are left to notice on their own, as on a real node.
func (s *Server) KillConnections() {
	for _, pid := range descendants(s.cmd.Process.Pid) {
		if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); strings.TrimSpace(string(comm)) == "sshd" {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// descendants lists the processes below pid, parents first.
func descendants(pid int) []int {
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		kids := children(p)
		out = append(out, kids...)
		queue = append(queue, kids...)
	}
	return out
}

// Config returns a client config for user with the host key pinned.
func (s *Server) Config(user string) ssh.Config {
	return ssh.Config{Host: s.Host, Port: s.Port, User: user, HostKey: s.HostKey, KeyPEM: s.KeyPEM, DialTimeout: 10 * time.Second}
}

// Logs returns what sshd logged so far.
func (s *Server) Logs() string { return s.logs.String() }

func children(ppid int) []int {
	out, _ := exec.Command("pgrep", "-P", strconv.Itoa(ppid)).Output()
	var pids []int
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if pid, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}
