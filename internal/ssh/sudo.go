package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Sudo is how privileged commands run on a node.
type Sudo struct {
	// Command prefixes privileged argv, e.g. ["sudo", "-n"]; empty when the
	// SSH user is root.
	Command []string
	// Password, if set, is fed to sudo on stdin (sudo -S -p ''), never put
	// on a command line and never logged. Use Check before relying on it.
	Password string
}

// ErrSudoPassword means sudo wants a password we do not have, or the one
// we have is wrong.
var ErrSudoPassword = errors.New("sudo requires a password")

// ErrNoSudo means the SSH user may not run the command with sudo.
var ErrNoSudo = errors.New("the ssh user may not use sudo")

// Wrap returns argv prefixed by the sudo command. With a password, -n gives
// way to -S -p ” so sudo reads the password from stdin without a prompt.
func (s Sudo) Wrap(argv []string) []string {
	if len(s.Command) == 0 {
		return argv
	}
	cmd := slices.Clone(s.Command)
	if s.Password != "" {
		cmd = slices.DeleteFunc(cmd[1:], func(a string) bool { return a == "-n" || a == "--non-interactive" })
		cmd = append([]string{s.Command[0], "-S", "-p", ""}, cmd...)
	}
	return append(cmd, argv...)
}

// Stdin returns the stdin for a command made by Wrap: with a password, the
// password line first (sudo reads it byte by byte, so the rest reaches the
// command), then r, which may be nil.
func (s Sudo) Stdin(r io.Reader) io.Reader {
	if len(s.Command) == 0 || s.Password == "" {
		return r
	}
	pw := strings.NewReader(s.Password + "\n")
	if r == nil {
		return pw
	}
	return io.MultiReader(pw, r)
}

// Check runs "true" through sudo on c and returns the Sudo to use from now
// on. When sudo works without a password, the returned Sudo has none: a
// password sudo does not read would reach the command's stdin (for the
// agent, its shell). Errors wrap ErrSudoPassword or ErrNoSudo when sudo
// refused.
func (s Sudo) Check(ctx context.Context, c *Client) (Sudo, error) {
	if len(s.Command) == 0 {
		return s, nil
	}
	nopw := Sudo{Command: s.Command}
	if s.Password != "" {
		nopw.Command = append([]string{s.Command[0], "-n"}, slices.DeleteFunc(slices.Clone(s.Command[1:]), func(a string) bool {
			return a == "-n" || a == "--non-interactive"
		})...)
	}
	err := c.Run(ctx, nopw.Wrap([]string{"true"}), nil, nil, nil)
	if err == nil {
		return Sudo{Command: s.Command}, nil
	}
	if !errors.Is(err, ErrSudoPassword) || s.Password == "" {
		return Sudo{}, fmt.Errorf("check sudo: %w", err)
	}
	if err := c.Run(ctx, s.Wrap([]string{"true"}), s.Stdin(nil), nil, nil); err != nil {
		return Sudo{}, fmt.Errorf("check sudo with password: %w", err)
	}
	return s, nil
}

// sudoError recognises sudo's refusals in a command's stderr.
func sudoError(stderr string) error {
	switch {
	case strings.Contains(stderr, "sudo: a password is required"),
		strings.Contains(stderr, "incorrect password attempt"),
		strings.Contains(stderr, "sudo: no password was provided"):
		return ErrSudoPassword
	case strings.Contains(stderr, "is not in the sudoers file"),
		strings.Contains(stderr, "is not allowed to execute"),
		strings.Contains(stderr, "may not run sudo on"):
		return ErrNoSudo
	}
	return nil
}
