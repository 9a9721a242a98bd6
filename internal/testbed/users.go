package testbed

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
)

// The users are global on the host and shared by every fleet, so their
// state (the sudo password included) lives outside any fleet's directory.
const (
	hostStateDir = "/var/lib/nix-deploy-testbed"
	sudoersFile  = "/etc/sudoers.d/nix-deploy-testbed"
)

// sudoers: deploypw's credentials are never cached, so `sudo -n` fails for
// it even right after a `sudo -S` succeeded; no lecture on stderr.
var sudoers = fmt.Sprintf(`# Users of the nix-deploy testbed (internal/testbed); they log in only to
# testbed nodes, with the key of a fleet.
%[1]s ALL=(ALL:ALL) NOPASSWD: ALL
%[2]s ALL=(ALL:ALL) ALL
Defaults:%[2]s timestamp_timeout=0, lecture=never
`, UserDeploy, UserDeployPW)

// SudoPassword is UserDeployPW's password. It is fixed, not random, because
// internal/ssh/sshtest sets the same users up with this password: two
// setups on one machine must agree, or tests running in parallel break.
const SudoPassword = "nix-deploy-testbed-pw"

// EnsureUsers creates the testbed's users and sudoers entries when missing
// and unlocks them for sshd. Concurrent fleets serialise on a lock file.
func EnsureUsers(ctx context.Context) error {
	if err := os.MkdirAll(hostStateDir, 0o700); err != nil {
		return fmt.Errorf("users: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(hostStateDir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("users: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("users: lock: %w", err)
	}
	for _, name := range []string{UserDeploy, UserDeployPW, UserNoSudo} {
		if _, err := user.Lookup(name); err != nil {
			if _, err := output(ctx, "useradd", "--create-home", "--shell", "/bin/sh", name); err != nil {
				return fmt.Errorf("users: %w", err)
			}
		}
		hash, err := shadowHash(name)
		if err != nil {
			return fmt.Errorf("users: %w", err)
		}
		switch {
		case name == UserDeployPW && (hash == "" || hash == "*" || strings.HasPrefix(hash, "!")):
			// chpasswd reads the password from stdin: never on a command line.
			cmd := exec.CommandContext(ctx, "chpasswd")
			cmd.Stdin = strings.NewReader(name + ":" + SudoPassword + "\n")
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("users: chpasswd: %w: %s", err, bytes.TrimSpace(out))
			}
		case strings.HasPrefix(hash, "!"):
			// sshd without PAM refuses locked accounts even for keys; "*"
			// is no password, but not locked.
			if _, err := output(ctx, "usermod", "--password", "*", name); err != nil {
				return fmt.Errorf("users: %w", err)
			}
		}
	}
	if err := installSudoers(ctx); err != nil {
		return fmt.Errorf("users: %w", err)
	}
	return nil
}

// shadowHash returns the password field of name in /etc/shadow.
func shadowHash(name string) (string, error) {
	data, err := os.ReadFile("/etc/shadow")
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		fields := strings.Split(line, ":")
		if len(fields) > 1 && fields[0] == name {
			return fields[1], nil
		}
	}
	return "", fmt.Errorf("no %s in /etc/shadow", name)
}

func installSudoers(ctx context.Context) error {
	if current, err := os.ReadFile(sudoersFile); err == nil && string(current) == sudoers {
		return nil
	}
	// sudo skips files with a dot in their name: the candidate is inert
	// until it is validated and renamed.
	tmp := sudoersFile + ".new"
	if err := os.WriteFile(tmp, []byte(sudoers), 0o440); err != nil {
		return fmt.Errorf("sudoers: %w", err)
	}
	if _, err := output(ctx, "visudo", "-c", "-q", "-f", tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("sudoers: %w", err)
	}
	if err := os.Rename(tmp, sudoersFile); err != nil {
		return fmt.Errorf("sudoers: %w", err)
	}
	return nil
}

// output runs a host command and returns its standard output; the error
// includes its standard error.
func output(ctx context.Context, name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
