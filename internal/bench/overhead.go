package bench

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
	"github.com/nix-deploy-action/nix-deploy-action/internal/plan"
	"github.com/nix-deploy-action/nix-deploy-action/internal/render"
)

// OverheadCommand measures what nix-deploy itself costs for a plan of many
// nodes, without Nix builds and without network (DESIGN §7: under one
// second for 50 nodes): parse and validate the plan, select the nodes,
// diff every profile against its baseline, render the terminal report and
// the PR comment, and encode plan.json. Builds, closures and the nodes'
// current systems come from memory.
func OverheadCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("overhead", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodes := fs.Int("nodes", 50, "nodes in the plan (two profiles each)")
	paths := fs.Int("paths", 2000, "store paths per closure (a NixOS system has 1,000–3,000)")
	runs := fs.Int("runs", 7, "repetitions")
	if err := fs.Parse(args); err != nil {
		return err
	}
	w, err := newOverheadWorld(*nodes, *paths)
	if err != nil {
		return err
	}
	var times []time.Duration
	var size int
	for range *runs {
		start := time.Now()
		n, err := w.once(ctx)
		if err != nil {
			return err
		}
		times = append(times, time.Since(start))
		size = n
	}
	m := median(times)
	fmt.Fprintf(stdout, "tool overhead, %d nodes x 2 profiles, %d-path closures, %d runs\n", *nodes, *paths, *runs)
	fmt.Fprintf(stdout, "  parse + select + diff + render + plan.json (%d KiB): median %s (runs %s)\n", size/1024, ms(m), msList(times))
	verdict := "met"
	if m >= time.Second {
		verdict = "NOT met"
	}
	fmt.Fprintf(stdout, "target: under 1 s: %s\n", verdict)
	return nil
}

// overheadWorld is a plan file and everything nix and the nodes would
// answer, in memory.
type overheadWorld struct {
	planYAML []byte
	built    map[string]string           // installable -> out path
	closures map[string]*closure.Closure // out path -> closure
	current  map[string]map[string]*closure.Closure
}

func newOverheadWorld(nodes, paths int) (*overheadWorld, error) {
	pub, _, err := ed25519.GenerateKey(rand.New(rand.NewSource(1)))
	if err != nil {
		return nil, err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	hostKey := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
	rng := rand.New(rand.NewSource(2))
	w := &overheadWorld{built: map[string]string{}, closures: map[string]*closure.Closure{}, current: map[string]map[string]*closure.Closure{}}

	var b strings.Builder
	b.WriteString("version: 1\nflake: github:example/fleet\ndefaults:\n  ssh-user: deploy\nenvironments:\n  production:\n    nodes: [\"@web\"]\n    strategy: rolling\n    max-parallel: 5\nnodes:\n")
	shared := closurePaths(rng, "shared", paths*9/10)
	// One app package for the whole fleet, as a real app profile would be.
	appInstallable := "github:example/fleet#packages.x86_64-linux.app"
	appOld := sideClosure(rng, shared, "app-old", paths-len(shared))
	appNew := sideClosure(rng, shared, "app-new", paths-len(shared))
	w.built[appInstallable] = appNew.Root
	w.closures[appNew.Root] = appNew
	for i := range nodes {
		name := fmt.Sprintf("web%03d", i)
		fmt.Fprintf(&b, "  %s:\n    host: %s.example.com\n    host-key: %s\n    tags: [web]\n    profiles:\n      system: { nixos: %s }\n      app: { installable: \".#packages.x86_64-linux.app\", user: app, activate: bin/activate }\n    checks:\n      - http: https://%s.example.com/healthz\n      - command: systemctl is-active nginx\n", name, name, hostKey, name, name)
		before := sideClosure(rng, shared, name+"-old", paths-len(shared))
		after := sideClosure(rng, shared, name+"-new", paths-len(shared))
		w.current[name] = map[string]*closure.Closure{"system": before, "app": appOld}
		w.built["github:example/fleet#nixosConfigurations."+name+".config.system.build.toplevel"] = after.Root
		w.closures[after.Root] = after
	}
	w.planYAML = []byte(b.String())
	return w, nil
}

func closurePaths(rng *rand.Rand, tag string, n int) []closure.Path {
	out := make([]closure.Path, n)
	for i := range out {
		out[i] = closure.Path{Path: fakeStorePath(rng, fmt.Sprintf("%s-pkg%d-1.%d", tag, i, rng.Intn(20))), NarSize: int64(rng.Intn(4 << 20))}
	}
	return out
}

func sideClosure(rng *rand.Rand, shared []closure.Path, tag string, own int) *closure.Closure {
	root := closure.Path{Path: fakeStorePath(rng, "nixos-system-"+tag), NarSize: 4096}
	c := &closure.Closure{Root: root.Path, Paths: append([]closure.Path{root}, shared...)}
	c.Paths = append(c.Paths, closurePaths(rng, tag, own)...)
	return c
}

func fakeStorePath(rng *rand.Rand, name string) string {
	const alphabet = "0123456789abcdfghijklmnpqrsvwxyz"
	h := make([]byte, 32)
	for i := range h {
		h[i] = alphabet[rng.Intn(len(alphabet))]
	}
	return "/nix/store/" + string(h) + "-" + name
}

// once runs the whole pipeline and returns the size of plan.json.
func (w *overheadWorld) once(ctx context.Context) (int, error) {
	cfg, err := config.Parse("plan.yml", w.planYAML)
	if err != nil {
		return 0, err
	}
	nodes, err := cfg.Select("production", "")
	if err != nil {
		return 0, err
	}
	pl := &plan.Planner{Builder: memBuilder{w}, Closures: memClosures{w}, Targets: memTargets{w}, Jobs: 8}
	p, err := pl.Run(ctx, plan.Request{Plan: cfg, Env: "production", Nodes: nodes, Against: plan.BaselineTarget})
	if err != nil {
		return 0, err
	}
	render.PlanText(io.Discard, p)
	_ = render.PlanMarkdown(p, render.MarkdownOptions{})
	data, err := json.Marshal(p)
	return len(data), err
}

type memBuilder struct{ w *overheadWorld }

func (b memBuilder) Build(_ context.Context, installable string, _ func(string)) (plan.Build, error) {
	if out, ok := b.w.built[installable]; ok {
		return plan.Build{OutPath: out}, nil
	}
	return plan.Build{}, fmt.Errorf("no build for %s", installable)
}

type memClosures struct{ w *overheadWorld }

func (c memClosures) Closure(_ context.Context, path string) (*closure.Closure, error) {
	if cl, ok := c.w.closures[path]; ok {
		return cl, nil
	}
	return nil, fmt.Errorf("no closure for %s", path)
}

type memTargets struct{ w *overheadWorld }

func (t memTargets) Current(_ context.Context, n *config.Node) (map[string]*closure.Closure, error) {
	return t.w.current[n.Name], nil
}
