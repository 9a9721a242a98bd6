package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
	"github.com/nix-deploy-action/nix-deploy-action/internal/deploy"
	"github.com/nix-deploy-action/nix-deploy-action/internal/nix"
	"github.com/nix-deploy-action/nix-deploy-action/internal/ssh"
)

// newDeployer plugs the adapters into the deploy engine: SSH for nodes,
// nix for builds and the local store, net/http for HTTP health checks.
func newDeployer(io IO, o *sshOptions, nixArgs []string) (*deploy.Deployer, error) {
	password, err := o.sudoPassword(io)
	if err != nil {
		return nil, err
	}
	return &deploy.Deployer{
		Dialer:  &sshDialer{io: io, ssh: o},
		Store:   &nix.LocalStore{},
		Builder: &deployBuilder{b: &nixBuilder{nix: &nix.Nix{Args: nixArgs}}},
		Prober:  httpProber{},
		Sudo: func(ctx context.Context, n *config.Node, c deploy.Conn) (deploy.Sudo, error) {
			sc, ok := c.(*sshConn)
			if !ok {
				return nil, fmt.Errorf("sudo check: unexpected connection type %T", c)
			}
			s, err := ssh.Sudo{Command: n.Sudo, Password: password}.Check(ctx, sc.c)
			if err != nil {
				return nil, mapSSHError(err)
			}
			return s, nil
		},
	}, nil
}

// sshDialer is deploy.Dialer over internal/ssh.
type sshDialer struct {
	io  IO
	ssh *sshOptions
}

func (d *sshDialer) Dial(ctx context.Context, n *config.Node) (deploy.Conn, error) {
	c, err := ssh.Dial(ctx, d.ssh.sshConfig(d.io, n))
	if err != nil {
		return nil, mapSSHError(err)
	}
	return &sshConn{c: c}, nil
}

// sshConn is deploy.Conn over an ssh.Client; it translates the adapter's
// errors into the ones the engine branches on.
type sshConn struct{ c *ssh.Client }

func (s *sshConn) Run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return mapSSHError(s.c.Run(ctx, argv, stdin, stdout, stderr))
}

func (s *sshConn) Close() error { return s.c.Close() }

func mapSSHError(err error) error {
	if err == nil {
		return nil
	}
	var hk *ssh.HostKeyError
	var ee *ssh.ExitError
	switch {
	case errors.As(err, &hk):
		return fmt.Errorf("%w: %w", deploy.ErrHostKey, err)
	case errors.Is(err, ssh.ErrSudoPassword):
		return fmt.Errorf("%w: %w", deploy.ErrSudoPassword, err)
	case errors.Is(err, ssh.ErrNoSudo):
		return fmt.Errorf("%w: %w", deploy.ErrNoSudo, err)
	case errors.Is(err, ssh.ErrConnectionLost):
		return fmt.Errorf("%w: %w", deploy.ErrConnectionLost, err)
	case errors.As(err, &ee):
		return &deploy.RemoteExit{Status: ee.Status, Stderr: strings.TrimSpace(ee.Stderr)}
	}
	return err
}

// deployBuilder adapts the plan command's builder to deploy.Builder.
type deployBuilder struct{ b *nixBuilder }

func (d *deployBuilder) Build(ctx context.Context, installable string, logLine func(string)) (string, error) {
	built, err := d.b.Build(ctx, installable, logLine)
	if err != nil {
		return "", err
	}
	return built.OutPath, nil
}

// httpProber runs HTTP health checks from the runner.
type httpProber struct{}

func (httpProber) HTTP(ctx context.Context, url string, status int, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != status {
		return fmt.Errorf("GET %s: status %d, want %d", url, resp.StatusCode, status)
	}
	return nil
}
