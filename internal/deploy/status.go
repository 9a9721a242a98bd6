package deploy

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
)

// NodeStatus is what `status` shows of a node.
type NodeStatus struct {
	Name          string           `json:"name"`
	Host          string           `json:"host"`
	CurrentSystem string           `json:"current_system,omitempty"`
	Profiles      []*ProfileStatus `json:"profiles"`
	Error         string           `json:"error,omitempty"`
}

// ProfileStatus is a profile's generations, oldest first.
type ProfileStatus struct {
	Name        string       `json:"name"`
	Path        string       `json:"path"`
	Current     int          `json:"current"` // 0 when the profile does not exist
	Generations []Generation `json:"generations"`
}

// Generation is one generation of a profile.
type Generation struct {
	Number  int       `json:"number"`
	Path    string    `json:"path"`
	Time    time.Time `json:"time"`
	Current bool      `json:"current"`
}

// CurrentPath returns the current generation's store path, or "".
func (p *ProfileStatus) CurrentPath() string {
	for _, g := range p.Generations {
		if g.Current {
			return g.Path
		}
	}
	return ""
}

// generationsScript lists a profile's generation links as Nix names them
// (<profile>-<N>-link) with their targets and times. It runs as the SSH
// user: profiles are world-readable. The profile path is $1, never part of
// the script.
const generationsScript = `p=$1
for l in "$p"-*-link; do
	[ -L "$l" ] || continue
	n=${l#"$p"-}
	n=${n%-link}
	printf 'generation=%s path=%s time=%s\n' "$n" "$(readlink "$l")" "$(stat -c %Y "$l" 2>/dev/null)"
done
printf 'current=%s\n' "$(readlink "$p" 2>/dev/null)"
printf 'system=%s\n' "$(readlink -f /run/current-system 2>/dev/null)"
`

// Status reads every node's profiles and generations, in parallel. A node
// that cannot be read has Error set.
func (d *Deployer) Status(ctx context.Context, nodes []*config.Node) []*NodeStatus {
	out := make([]*NodeStatus, len(nodes))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = d.nodeStatus(ctx, n)
		}()
	}
	wg.Wait()
	return out
}

func (d *Deployer) nodeStatus(ctx context.Context, n *config.Node) *NodeStatus {
	st := &NodeStatus{Name: n.Name, Host: n.Host}
	conn, err := d.Dialer.Dial(ctx, n)
	if err != nil {
		st.Error = fmt.Sprintf("connect: %v", err)
		return st
	}
	defer conn.Close()
	for _, p := range n.Profiles {
		ps, sys, err := readGenerations(ctx, conn, p)
		if err != nil {
			st.Error = err.Error()
			return st
		}
		st.CurrentSystem = sys
		st.Profiles = append(st.Profiles, ps)
	}
	return st
}

func readGenerations(ctx context.Context, conn Conn, p *config.Profile) (*ProfileStatus, string, error) {
	if !strings.HasPrefix(p.Path, "/") {
		return nil, "", fmt.Errorf("profile %s: path %q is not absolute", p.Name, p.Path)
	}
	var stdout, stderr bytes.Buffer
	if err := conn.Run(ctx, []string{"sh", "-c", generationsScript, "sh", p.Path}, nil, &stdout, &stderr); err != nil {
		return nil, "", fmt.Errorf("read generations of %s: %w", p.Path, withStderr(err, stderr.String()))
	}
	ps, sys, err := ParseGenerations(stdout.String())
	if err != nil {
		return nil, "", fmt.Errorf("read generations of %s: %w", p.Path, err)
	}
	ps.Name, ps.Path = p.Name, p.Path
	return ps, sys, nil
}

// ParseGenerations parses the generations listing. It never panics:
// malformed lines are errors.
func ParseGenerations(out string) (ps *ProfileStatus, system string, err error) {
	ps = &ProfileStatus{}
	current := ""
	for i, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		kv := map[string]string{}
		for _, tok := range strings.Fields(line) {
			k, v, ok := strings.Cut(tok, "=")
			if !ok {
				return nil, "", fmt.Errorf("line %d: %q is not key=value", i+1, clip(tok))
			}
			kv[k] = v
		}
		switch {
		case strings.HasPrefix(line, "generation="):
			n, err := strconv.Atoi(kv["generation"])
			if err != nil || n <= 0 {
				return nil, "", fmt.Errorf("line %d: bad generation %q", i+1, clip(kv["generation"]))
			}
			g := Generation{Number: n, Path: kv["path"]}
			if !closure.IsStorePath(g.Path) {
				return nil, "", fmt.Errorf("line %d: generation %d points to %q, not a store path", i+1, n, clip(g.Path))
			}
			if s, err := strconv.ParseInt(kv["time"], 10, 64); err == nil {
				g.Time = time.Unix(s, 0).UTC()
			}
			ps.Generations = append(ps.Generations, g)
		case strings.HasPrefix(line, "current="):
			current = kv["current"]
		case strings.HasPrefix(line, "system="):
			system = kv["system"]
		default:
			return nil, "", fmt.Errorf("line %d: unexpected %q", i+1, clip(line))
		}
	}
	sort.Slice(ps.Generations, func(i, j int) bool { return ps.Generations[i].Number < ps.Generations[j].Number })
	for i := range ps.Generations {
		g := &ps.Generations[i]
		// The profile link is relative: "<name>-<N>-link".
		if current != "" && strings.HasSuffix(current, "-"+strconv.Itoa(g.Number)+"-link") {
			g.Current = true
			ps.Current = g.Number
		}
	}
	return ps, system, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
