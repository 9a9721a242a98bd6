package cli

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
	"github.com/nix-deploy-action/nix-deploy-action/internal/ssh"
)

// sshOptions are the SSH credentials flags shared by every command that
// talks to nodes. Secrets may come from the environment so they never
// appear on a command line.
type sshOptions struct {
	KeyFile          string
	KnownHosts       string
	SudoPasswordFile string
	NoAgent          bool
}

// Environment variables that may carry secrets instead of flags.
const (
	envSSHKey       = "NIX_DEPLOY_SSH_KEY"
	envSudoPassword = "NIX_DEPLOY_SUDO_PASSWORD"
)

func (o *sshOptions) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.KeyFile, "ssh-key", "", "SSH private key `file` (default: $"+envSSHKey+" holds the key itself, else ssh-agent)")
	fs.StringVar(&o.KnownHosts, "known-hosts", "", "known_hosts `file` for nodes without a pinned host-key")
	fs.StringVar(&o.SudoPasswordFile, "sudo-password-file", "", "`file` holding the sudo password (default: $"+envSudoPassword+"); never logged")
	fs.BoolVar(&o.NoAgent, "no-ssh-agent", false, "do not use ssh-agent ($SSH_AUTH_SOCK)")
}

// keyPEM returns the private key given in the environment, if any.
func (o *sshOptions) keyPEM(io IO) []byte {
	if o.KeyFile != "" {
		return nil
	}
	if k := io.Getenv(envSSHKey); strings.TrimSpace(k) != "" {
		return []byte(k)
	}
	return nil
}

// sudoPassword returns the sudo password from the file or environment.
func (o *sshOptions) sudoPassword(io IO) (string, error) {
	if o.SudoPasswordFile != "" {
		data, err := os.ReadFile(o.SudoPasswordFile)
		if err != nil {
			return "", fmt.Errorf("read sudo password: %w", err)
		}
		return strings.TrimRight(string(data), "\r\n"), nil
	}
	return io.Getenv(envSudoPassword), nil
}

// sshConfig is how to reach node with these credentials.
func (o *sshOptions) sshConfig(io IO, n *config.Node) ssh.Config {
	return ssh.Config{
		Host:           n.Host,
		Port:           n.Port,
		User:           n.SSHUser,
		HostKey:        n.HostKey,
		KnownHostsFile: o.KnownHosts,
		KeyFile:        o.KeyFile,
		KeyPEM:         o.keyPEM(io),
		UseAgent:       !o.NoAgent && io.Getenv("SSH_AUTH_SOCK") != "",
	}
}
