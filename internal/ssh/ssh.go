// Package ssh is the adapter over golang.org/x/crypto/ssh that runs commands
// on nodes.
//
// Dial opens one connection per node; Run opens one session per command on
// it. The host key is checked against the pinned key (Config.HostKey) or a
// known_hosts file during key exchange, before any authentication; an
// unknown or changed key is refused with a *HostKeyError, never accepted.
//
// Run takes an argv, never a command string: Quote builds the remote command
// with POSIX single quotes so no argument is interpreted by the remote
// shell. Errors callers branch on:
//
//   - *ExitError: the command exited non-zero (Status, last 4 KiB of Stderr);
//   - ErrConnectionLost: the connection died (errors.Is);
//   - ErrSudoPassword, ErrNoSudo: sudo refused (see Sudo);
//   - the context's error when ctx ended: the remote command is signalled
//     and its session closed.
//
// A *HostKeyError or an authentication failure from Dial is permanent;
// retrying is pointless.
package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Config says where and how to connect.
type Config struct {
	Host string
	Port int // default 22
	User string

	// HostKey pins the server's key, authorized_keys format
	// ("ssh-ed25519 AAAA..."); several lines accept any of them. When set,
	// KnownHostsFile is not consulted.
	HostKey        string
	KnownHostsFile string

	// Client authentication: every source given is offered.
	KeyFile  string
	KeyPEM   []byte // e.g. from an environment variable or action input
	UseAgent bool   // the agent at $SSH_AUTH_SOCK

	DialTimeout time.Duration // TCP connect and SSH handshake; default 30s
	// KeepAlive is how often the server is pinged; a ping unanswered for
	// this long closes the connection. Default 15s.
	KeepAlive time.Duration
}

// ErrConnectionLost is wrapped by Run's error when the connection died.
var ErrConnectionLost = errors.New("ssh connection lost")

// errClosed is returned by Run on a client closed by Close.
var errClosed = errors.New("ssh client closed")

// ExitError is a remote command that exited non-zero or was killed.
type ExitError struct {
	Status int    // exit status; -1 when killed by a signal
	Signal string // the signal's name when killed, e.g. "KILL"
	Stderr string // the last 4 KiB of its stderr
}

func (e *ExitError) Error() string {
	msg := "exit status " + strconv.Itoa(e.Status)
	if e.Signal != "" {
		msg = "killed by signal " + e.Signal
	}
	if e.Stderr != "" {
		msg += ": " + string(bytes.TrimSpace([]byte(e.Stderr)))
	}
	return msg
}

// Counts is how many connections and sessions were opened.
type Counts struct{ Connections, Sessions int64 }

var total struct{ connections, sessions atomic.Int64 }

// Stats returns the process-wide counts, for benchmarks.
func Stats() Counts {
	return Counts{Connections: total.connections.Load(), Sessions: total.sessions.Load()}
}

// ciphers is the client's preference, which decides the negotiation. A
// deploy pushes whole closures through the connection while the node's
// import competes for the same CPUs, so the cheapest cipher comes first:
// piping 160 MiB into OpenSSH's sshd over loopback (x86-64 with AES-NI),
// aes128-gcm cost this client 0.2 CPU-seconds and sshd 0.3,
// chacha20-poly1305 0.65 and 0.5, aes128-ctr with its separate MAC 0.45 and
// 0.5. The others stay for servers without GCM.
var ciphers = []string{
	xssh.CipherAES128GCM, xssh.CipherAES256GCM, xssh.CipherChaCha20Poly1305,
	xssh.CipherAES128CTR, xssh.CipherAES192CTR, xssh.CipherAES256CTR,
}

// Client is one SSH connection. It is safe for concurrent use: each Run
// opens its own session.
type Client struct {
	addr     string
	conn     *xssh.Client
	agent    net.Conn // nil without an agent
	dead     chan struct{}
	sessions atomic.Int64

	closeOnce sync.Once
	closed    atomic.Bool
}

// Dial connects and authenticates. Cancelling ctx aborts the connect and the
// handshake.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Host == "" || cfg.User == "" {
		return nil, errors.New("dial: host and user are required")
	}
	port := cfg.Port
	if port == 0 {
		port = 22
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(port))
	check, algos, err := hostKeyCheck(cfg, addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	auth, agentConn, err := authMethods(cfg)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	closeAgent := func() {
		if agentConn != nil {
			agentConn.Close()
		}
	}
	timeout := cfg.DialTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	d := net.Dialer{Timeout: timeout, KeepAlive: 15 * time.Second}
	tcp, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		closeAgent()
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	total.connections.Add(1)
	// The handshake has no context of its own: a deadline bounds it and
	// closing the socket cancels it.
	stop := context.AfterFunc(ctx, func() { tcp.Close() })
	tcp.SetDeadline(time.Now().Add(timeout))
	c, chans, reqs, err := xssh.NewClientConn(tcp, addr, &xssh.ClientConfig{
		Config:            xssh.Config{Ciphers: ciphers},
		User:              cfg.User,
		Auth:              auth,
		HostKeyCallback:   check,
		HostKeyAlgorithms: algos,
		Timeout:           timeout,
	})
	if !stop() {
		if c != nil {
			c.Close()
		}
		closeAgent()
		return nil, fmt.Errorf("dial %s: %w", addr, ctx.Err())
	}
	if err != nil {
		tcp.Close()
		closeAgent()
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, hk
		}
		return nil, fmt.Errorf("dial %s as %s: %w", addr, cfg.User, err)
	}
	tcp.SetDeadline(time.Time{})
	cl := &Client{addr: addr, conn: xssh.NewClient(c, chans, reqs), agent: agentConn, dead: make(chan struct{})}
	go func() {
		cl.conn.Wait()
		close(cl.dead)
	}()
	keepAlive := cfg.KeepAlive
	if keepAlive <= 0 {
		keepAlive = 15 * time.Second
	}
	go cl.keepAlive(keepAlive)
	return cl, nil
}

func authMethods(cfg Config) ([]xssh.AuthMethod, net.Conn, error) {
	var signers []xssh.Signer
	if cfg.KeyFile != "" {
		pem, err := os.ReadFile(cfg.KeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("read ssh key: %w", err)
		}
		s, err := parseKey(pem)
		if err != nil {
			return nil, nil, fmt.Errorf("ssh key %s: %w", cfg.KeyFile, err)
		}
		signers = append(signers, s)
	}
	if len(bytes.TrimSpace(cfg.KeyPEM)) > 0 {
		s, err := parseKey(cfg.KeyPEM)
		if err != nil {
			return nil, nil, fmt.Errorf("ssh key: %w", err)
		}
		signers = append(signers, s)
	}
	var methods []xssh.AuthMethod
	if len(signers) > 0 {
		methods = append(methods, xssh.PublicKeys(signers...))
	}
	var agentConn net.Conn
	if cfg.UseAgent {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return nil, nil, errors.New("ssh-agent requested but SSH_AUTH_SOCK is not set")
		}
		c, err := net.Dial("unix", sock)
		if err != nil {
			return nil, nil, fmt.Errorf("connect to ssh-agent: %w", err)
		}
		agentConn = c
		methods = append(methods, xssh.PublicKeysCallback(agent.NewClient(c).Signers))
	}
	if len(methods) == 0 {
		return nil, nil, errors.New("no ssh key: give a key file, a key, or use ssh-agent")
	}
	return methods, agentConn, nil
}

func parseKey(pem []byte) (xssh.Signer, error) {
	s, err := xssh.ParsePrivateKey(pem)
	var pm *xssh.PassphraseMissingError
	if errors.As(err, &pm) {
		return nil, errors.New("the key is encrypted: use ssh-agent for encrypted keys")
	}
	return s, err
}

// keepAlive pings the server so a dead peer is noticed even while no
// command writes anything; an unanswered ping closes the connection.
func (c *Client) keepAlive(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.dead:
			return
		case <-t.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := c.conn.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case err := <-reply:
			if err == nil {
				continue
			}
		case <-time.After(every):
		case <-c.dead:
			return
		}
		c.conn.Close()
		return
	}
}

// Run runs argv on the node in a new session and waits for it. stdin,
// stdout and stderr may be nil. When ctx ends, the remote command gets
// SIGTERM and its session is closed; Run then returns ctx's error.
func (c *Client) Run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(argv) == 0 {
		return errors.New("run: empty command")
	}
	if c.closed.Load() {
		return fmt.Errorf("run %s: %w", argv[0], errClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("run %s: %w", argv[0], err)
	}
	sess, err := c.conn.NewSession()
	if err != nil {
		return c.runError(argv, err)
	}
	total.sessions.Add(1)
	c.sessions.Add(1)
	defer sess.Close()
	tail := &tailWriter{max: 4096}
	sess.Stdin = stdin
	sess.Stdout = stdout
	if stdout == nil {
		sess.Stdout = io.Discard
	}
	sess.Stderr = tail
	if stderr != nil {
		sess.Stderr = io.MultiWriter(tail, stderr)
	}
	if err := sess.Start(Quote(argv...)); err != nil {
		return c.runError(argv, err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// sudo relays SIGTERM to its command; closing the channel ends the
		// command's stdin and makes its output fail.
		sess.Signal(xssh.SIGTERM)
		sess.Close()
		<-done
		return fmt.Errorf("run %s: %w", argv[0], ctx.Err())
	}
	if err == nil {
		return nil
	}
	var ee *xssh.ExitError
	if errors.As(err, &ee) {
		e := &ExitError{Status: ee.ExitStatus(), Signal: ee.Signal(), Stderr: tail.String()}
		if e.Signal != "" {
			e.Status = -1
		}
		if path.Base(argv[0]) == "sudo" {
			if serr := sudoError(e.Stderr); serr != nil {
				return fmt.Errorf("run %s: %w: %w", argv[0], serr, e)
			}
		}
		return fmt.Errorf("run %s: %w", argv[0], e)
	}
	return c.runError(argv, err)
}

// runError tells a lost connection from other failures.
func (c *Client) runError(argv []string, err error) error {
	if c.closed.Load() {
		return fmt.Errorf("run %s: %w", argv[0], errClosed)
	}
	if c.lost() {
		return fmt.Errorf("run %s on %s: %w (%v)", argv[0], c.addr, ErrConnectionLost, err)
	}
	return fmt.Errorf("run %s: %w", argv[0], err)
}

// lost reports whether the connection is dead, probing it when a session
// failed in a way that does not say.
func (c *Client) lost() bool {
	reply := make(chan error, 1)
	go func() {
		_, _, err := c.conn.SendRequest("keepalive@openssh.com", true, nil)
		reply <- err
	}()
	select {
	case <-c.dead:
		return true
	case err := <-reply:
		return err != nil
	case <-time.After(10 * time.Second):
		return true
	}
}

// Stats returns this client's counts: one connection and its sessions.
func (c *Client) Stats() Counts { return Counts{Connections: 1, Sessions: c.sessions.Load()} }

// Close closes the connection; running commands fail.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		err = c.conn.Close()
		if c.agent != nil {
			c.agent.Close()
		}
	})
	return err
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - w.max; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}
