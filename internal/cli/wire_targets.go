package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
	"github.com/nix-deploy-action/nix-deploy-action/internal/nix"
	"github.com/nix-deploy-action/nix-deploy-action/internal/ssh"
)

// sshTargets is plan.Targets over SSH: it reads, as the SSH user and
// without sudo, what each profile points to and that closure with sizes,
// in one command per profile (never one per path).
type sshTargets struct {
	io  IO
	ssh *sshOptions
}

func newSSHTargets(io IO, o *sshOptions) (*sshTargets, error) {
	return &sshTargets{io: io, ssh: o}, nil
}

// nodePath makes nix reachable in non-interactive sessions on NixOS and
// single-user installs too.
const nodePath = `PATH="$PATH:/run/current-system/sw/bin:/nix/var/nix/profiles/default/bin"; export PATH; `

// resolveProfiles prints "<profile>\t<store path>\t<sw store path>" for
// each profile argument that exists.
const resolveProfiles = nodePath + `for p in "$@"; do
  t=$(readlink -f -- "$p") || continue
  [ -e "$t" ] || continue
  sw=$(readlink -f -- "$t/sw" 2>/dev/null) || sw=
  printf '%s\t%s\t%s\n' "$p" "$t" "$sw"
done`

func (s *sshTargets) Current(ctx context.Context, n *config.Node) (map[string]*closure.Closure, error) {
	c, err := ssh.Dial(ctx, s.ssh.sshConfig(s.io, n))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	argv := []string{"sh", "-c", resolveProfiles, "sh"}
	byPath := map[string]*config.Profile{}
	for _, p := range n.Profiles {
		argv = append(argv, p.Path)
		byPath[p.Path] = p
	}
	var out bytes.Buffer
	if err := c.Run(ctx, argv, nil, &out, nil); err != nil {
		return nil, fmt.Errorf("read profiles of %s: %w", n.Name, err)
	}
	res := map[string]*closure.Closure{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 3 || byPath[f[0]] == nil || !nix.IsStorePath(f[1]) {
			continue
		}
		var info bytes.Buffer
		cmd := []string{"sh", "-c", nodePath + `exec nix --extra-experimental-features nix-command path-info --json -r "$1"`, "sh", f[1]}
		if err := c.Run(ctx, cmd, nil, &info, nil); err != nil {
			return nil, fmt.Errorf("read closure of %s on %s: %w", f[1], n.Name, err)
		}
		infos, err := nix.DecodePathInfo(info.Bytes())
		if err != nil {
			return nil, fmt.Errorf("read closure of %s on %s: %w", f[1], n.Name, err)
		}
		cl, err := nix.ClosureFromPathInfo(f[1], f[2], infos)
		if err != nil {
			return nil, err
		}
		res[byPath[f[0]].Name] = cl
	}
	return res, nil
}
