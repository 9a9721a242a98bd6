package plan

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
)

// The planner is tested here with everything outside in memory; the
// internal/cli tests run it against real nix, git and a real fleet.

const planYAML = `version: 1
flake: github:example/fleet
environments:
  prod: { nodes: [changed, same, fresh, broken, away] }
nodes:
  changed: { host: a.example.com, profiles: { system: { nixos: changed } } }
  same:    { host: b.example.com, profiles: { system: { nixos: same } } }
  fresh:   { host: c.example.com, profiles: { system: { nixos: fresh } } }
  broken:  { host: d.example.com, profiles: { system: { nixos: broken } } }
  away:    { host: e.example.com, profiles: { system: { nixos: away } } }
`

func storePath(name string) string {
	h := fmt.Sprintf("%032d", len(name))
	h = strings.NewReplacer("0", "a", "1", "b", "2", "c", "3", "d", "4", "f", "5", "g", "6", "h", "7", "i", "8", "j", "9", "k").Replace(h)
	return "/nix/store/" + h + "-" + name
}

func single(name string, size int64) *closure.Closure {
	p := storePath(name)
	return &closure.Closure{Root: p, Paths: []closure.Path{{Path: p, NarSize: size}, {Path: storePath("glibc-2.39-52"), NarSize: 1000}}}
}

type fakes struct {
	built    map[string]*closure.Closure // by installable
	current  map[string]*closure.Closure // by node
	away     error
	mu       sync.Mutex // Build runs concurrently
	requests []string
}

func (f *fakes) Build(_ context.Context, installable string, log func(string)) (Build, error) {
	f.mu.Lock()
	f.requests = append(f.requests, installable)
	f.mu.Unlock()
	if log != nil {
		log("building " + installable)
	}
	c, ok := f.built[installable]
	if !ok {
		if strings.Contains(installable, "base#") {
			return Build{}, errors.New("error: flake 'base' does not provide attribute 'nixosConfigurations.fresh'")
		}
		return Build{}, errors.New("builder for '/nix/store/x.drv' failed with exit code 1")
	}
	return Build{DrvPath: c.Root + ".drv", OutPath: c.Root}, nil
}

func (f *fakes) Closure(_ context.Context, path string) (*closure.Closure, error) {
	for _, c := range f.built {
		if c.Root == path {
			return c, nil
		}
	}
	return nil, fmt.Errorf("no closure for %s", path)
}

func (f *fakes) Current(_ context.Context, n *config.Node) (map[string]*closure.Closure, error) {
	if n.Name == "away" {
		return nil, f.away
	}
	if c := f.current[n.Name]; c != nil {
		return map[string]*closure.Closure{"system": c}, nil
	}
	return map[string]*closure.Closure{}, nil
}

func (f *fakes) Checkout(context.Context, string) (func(string) (string, error), func(), error) {
	return func(inst string) (string, error) {
		return strings.Replace(inst, "github:example/fleet#", "base#", 1), nil
	}, func() {}, nil
}

func installable(node string) string {
	return "github:example/fleet#nixosConfigurations." + node + ".config.system.build.toplevel"
}

func newFakes() *fakes {
	f := &fakes{built: map[string]*closure.Closure{}, current: map[string]*closure.Closure{}, away: errors.New("dial e.example.com:22: connection refused")}
	for _, n := range []string{"changed", "same", "fresh", "away"} {
		f.built[installable(n)] = single("nixos-system-"+n+"-2", 20000)
	}
	f.current["changed"] = single("nixos-system-changed-1", 10000)
	f.current["same"] = f.built[installable("same")]
	return f
}

func load(t *testing.T) (*config.Plan, []*config.Node) {
	t.Helper()
	cfg, err := config.Parse("plan.yml", []byte(planYAML))
	require.NoError(t, err)
	nodes, err := cfg.Select("prod", "")
	require.NoError(t, err)
	return cfg, nodes
}

func statuses(p *Plan) map[string]Status {
	out := map[string]Status{}
	for _, n := range p.Nodes {
		out[n.Name] = n.Profiles[0].Status
	}
	return out
}

func TestRunAgainstTarget(t *testing.T) {
	cfg, nodes := load(t)
	f := newFakes()
	var logged []string
	var mu sync.Mutex
	pl := &Planner{Builder: f, Closures: f, Targets: f, Jobs: 2, Log: func(node, profile, line string) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, node+"/"+profile+": "+line)
	}}
	p, err := pl.Run(context.Background(), Request{Plan: cfg, Env: "prod", Nodes: nodes, Against: BaselineTarget})

	var be *BuildError
	require.ErrorAs(t, err, &be, "a build failure is returned with the plan")
	assert.Equal(t, "broken", be.Node)
	require.NotNil(t, p)
	assert.Equal(t, map[string]Status{"changed": Changed, "same": Unchanged, "fresh": New, "broken": Failed, "away": Unknown}, statuses(p))
	assert.True(t, p.Failed())
	assert.Equal(t, []string{"changed", "fresh", "broken", "away"}, p.ChangedNodes())

	ch := p.Nodes[0].Profiles[0]
	assert.Equal(t, f.current["changed"].Root, ch.Baseline.Path)
	assert.Equal(t, 2, ch.Paths)
	assert.Equal(t, int64(21000), ch.NarSize)
	require.NotNil(t, ch.Summary)
	assert.Equal(t, int64(10000), ch.Summary.SizeDelta)
	assert.Contains(t, p.Nodes[4].Error, "connection refused", "an unreachable node is reported, not fatal")
	assert.Contains(t, strings.Join(logged, "\n"), "changed/system: building ")
	assert.Equal(t, p.ComputeHash(), p.Hash)
}

func TestRunAgainstBase(t *testing.T) {
	cfg, nodes := load(t)
	f := newFakes()
	delete(f.built, installable("broken"))
	f.built["base#nixosConfigurations.changed.config.system.build.toplevel"] = single("nixos-system-changed-1", 10000)
	f.built["base#nixosConfigurations.same.config.system.build.toplevel"] = f.built[installable("same")]
	f.built["base#nixosConfigurations.away.config.system.build.toplevel"] = single("nixos-system-away-1", 10000)
	pl := &Planner{Builder: f, Closures: f, Checkouts: f}
	p, err := pl.Run(context.Background(), Request{Plan: cfg, Env: "prod", Nodes: nodes, Against: BaselineBase, BaseRef: "main"})
	require.Error(t, err)
	got := statuses(p)
	assert.Equal(t, New, got["fresh"], "a node the base does not have is new")
	assert.Equal(t, "not present at main", p.Nodes[2].Profiles[0].Baseline.Error)
	assert.Equal(t, Changed, got["changed"])
	assert.Equal(t, Unchanged, got["same"])
	assert.Equal(t, Changed, got["away"], "no SSH is needed against base")
	sort.Strings(f.requests)
	assert.Contains(t, f.requests, "base#nixosConfigurations.changed.config.system.build.toplevel")
}

func TestRunNone(t *testing.T) {
	cfg, nodes := load(t)
	f := newFakes()
	f.built[installable("broken")] = single("nixos-system-broken-2", 1)
	p, err := (&Planner{Builder: f, Closures: f}).Run(context.Background(), Request{Plan: cfg, Env: "prod", Nodes: nodes, Against: BaselineNone})
	require.NoError(t, err)
	for name, s := range statuses(p) {
		assert.Equal(t, New, s, name)
	}
}

func TestRunNeedsItsAdapters(t *testing.T) {
	cfg, nodes := load(t)
	f := newFakes()
	_, err := (&Planner{Builder: f, Closures: f}).Run(context.Background(), Request{Plan: cfg, Env: "prod", Nodes: nodes, Against: BaselineTarget})
	assert.ErrorContains(t, err, "no SSH access configured")
	_, err = (&Planner{Builder: f, Closures: f}).Run(context.Background(), Request{Plan: cfg, Env: "prod", Nodes: nodes, Against: BaselineBase, BaseRef: "main"})
	assert.ErrorContains(t, err, "no git checkout support configured")
}

func TestHashAndVerify(t *testing.T) {
	p := &Plan{Nodes: []*Node{
		{Name: "a", Profiles: []*Profile{{Name: "system", OutPath: storePath("sys-a")}, {Name: "app", OutPath: storePath("app")}}},
		{Name: "b", Profiles: []*Profile{{Name: "system", OutPath: storePath("sys-b")}}},
	}}
	h := p.ComputeHash()
	// Order does not matter; content does.
	p.Nodes[0], p.Nodes[1] = p.Nodes[1], p.Nodes[0]
	assert.Equal(t, h, p.ComputeHash())
	p.Nodes[0].Profiles[0].OutPath = storePath("sys-b2")
	assert.NotEqual(t, h, p.ComputeHash())

	require.NoError(t, p.Verify("a", "app", storePath("app")))
	var m *Mismatch
	require.ErrorAs(t, p.Verify("a", "app", storePath("app2")), &m)
	assert.Equal(t, 2, m.ExitCode())
	assert.Contains(t, m.Error(), "reviewed "+storePath("app")+", built "+storePath("app2"))
	require.ErrorAs(t, p.Verify("c", "system", storePath("sys-c")), &m)
	assert.Contains(t, m.Error(), "is not in the reviewed plan")
}
