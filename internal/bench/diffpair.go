// Package bench holds the benchmarks that hold the product to its numbers
// (DESIGN §7), and the fixtures they build in the real Nix store.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Pair is two closures in the real store to diff.
type Pair struct {
	Before string `json:"before"`
	After  string `json:"after"`
}

// PairSpec describes a random pair of closures: Paths is roughly the size
// of each closure (the roots included).
type PairSpec struct {
	Seed  uint64
	Paths int
}

// node is one store path to create: a builtins.toFile whose text references
// the nodes in Refs (string context makes them real references) and is
// padded to Size bytes.
type node struct {
	Name string `json:"n"`
	Salt string `json:"t"`
	Size int    `json:"s"`
	Refs []int  `json:"r"`
}

type pairJSON struct {
	Nodes      []node `json:"nodes"`
	Before     []int  `json:"before"`
	After      []int  `json:"after"`
	BeforeName string `json:"beforeName"`
	AfterName  string `json:"afterName"`
}

// pairExpr turns the JSON spec into store paths. Files are created lazily
// in list order; the padding is one big string cut to size.
const pairExpr = `
let
  spec = builtins.fromJSON (builtins.readFile %q);
  double = s: n: if n == 0 then s else double (s + s) (n - 1);
  pad = double "x" 21;
  files = builtins.genList (i:
    let n = builtins.elemAt spec.nodes i; in
    builtins.toFile n.n (n.t + " " + builtins.concatStringsSep " " (map (j: builtins.elemAt files j) n.r)
      + "\n" + builtins.substring 0 n.s pad)) (builtins.length spec.nodes);
  root = name: idx: builtins.toFile name (builtins.concatStringsSep "\n" (map (j: builtins.elemAt files j) idx));
in "${root spec.beforeName spec.before}\n${root spec.afterName spec.after}"
`

// BuildPair creates the pair described by spec in the real store with one
// nix evaluation (builtins.toFile, no builds) and returns the two roots.
func BuildPair(ctx context.Context, spec PairSpec, workDir string) (Pair, error) {
	data, err := json.Marshal(generate(spec))
	if err != nil {
		return Pair{}, err
	}
	specFile := filepath.Join(workDir, fmt.Sprintf("pair-%d-%d.json", spec.Seed, spec.Paths))
	if err := os.WriteFile(specFile, data, 0o644); err != nil {
		return Pair{}, fmt.Errorf("write pair spec: %w", err)
	}
	cmd := exec.CommandContext(ctx, "nix", "--extra-experimental-features", "nix-command",
		"eval", "--raw", "--impure", "--expr", fmt.Sprintf(pairExpr, specFile))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return Pair{}, fmt.Errorf("create pair in the store: %w: %s", err, stderr.String())
	}
	before, after, ok := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if !ok {
		return Pair{}, fmt.Errorf("create pair in the store: unexpected output %q", out)
	}
	return Pair{Before: before, After: after}, nil
}

// family is one package: its paths on one side are its outputs.
type family struct {
	name    string
	version string
	outputs []string
}

func (f family) pathName(output string) string {
	n := f.name
	if f.version != "" {
		n += "-" + f.version
	}
	if output != "" {
		n += "-" + output
	}
	return n
}

var (
	syllables = []string{"ba", "lo", "xi", "ter", "mon", "ka", "zu", "rel", "pi", "dor", "gra", "ne", "vo", "lib", "sh", "qu"}
	prefixes  = []string{"", "", "", "", "python3.12-", "perl5.38.2-", "lib", "haskell-", "unit-", "vimplugin-"}
	suffixes  = []string{"", "", "", "", "-unwrapped", "-utils", "-data", "+3"}
	outputSet = []string{"bin", "dev", "man", "lib", "doc", "modules", "lib64"}
)

func randomName(r *rand.Rand) string {
	var b strings.Builder
	b.WriteString(prefixes[r.IntN(len(prefixes))])
	for range 2 + r.IntN(2) {
		b.WriteString(syllables[r.IntN(len(syllables))])
	}
	b.WriteString(suffixes[r.IntN(len(suffixes))])
	return b.String()
}

func randomVersion(r *rand.Rand) string {
	switch r.IntN(12) {
	case 0:
		return "" // unversioned: source, etc-..., X-Restart-Triggers
	case 1:
		return fmt.Sprintf("unstable-20%02d-%02d-%02d", 18+r.IntN(8), 1+r.IntN(12), 1+r.IntN(28))
	case 2:
		return fmt.Sprintf("%d.%d-%07x", r.IntN(3), r.IntN(20), r.Uint32()&0xfffffff)
	case 3:
		return fmt.Sprintf("%d.%dpre%d", r.IntN(5), r.IntN(10), r.IntN(100))
	default:
		return fmt.Sprintf("%d.%d.%d", r.IntN(10), r.IntN(30), r.IntN(20))
	}
}

// bumpVersion returns a different version; sometimes a downgrade.
func bumpVersion(r *rand.Rand, v string) string {
	if v == "" || r.IntN(6) == 0 {
		return randomVersion(r)
	}
	return v + "." + fmt.Sprint(1+r.IntN(9))
}

func randomOutputs(r *rand.Rand) []string {
	outs := []string{""}
	for r.IntN(4) == 0 && len(outs) < 4 {
		outs = append(outs, outputSet[r.IntN(len(outputSet))])
	}
	return outs
}

// randomSize is mostly small files with a long tail, like a real system.
func randomSize(r *rand.Rand) int {
	if r.IntN(100) == 0 {
		return 100_000 + r.IntN(1_400_000)
	}
	return int(math.Exp(math.Log(100) + r.Float64()*(math.Log(100_000)-math.Log(100))))
}

// generator builds the node list; shared nodes only reference shared ones
// so that they are the same store path on both sides.
type generator struct {
	r                             *rand.Rand
	nodes                         []node
	shared, beforeOnly, afterOnly []int
	seen                          map[string]bool
}

func (g *generator) add(name string, pool int) int {
	refs := []int{}
	var from []int
	switch pool {
	case 0:
		from = g.shared
	case 1:
		from = append(append([]int{}, g.shared...), g.beforeOnly...)
	default:
		from = append(append([]int{}, g.shared...), g.afterOnly...)
	}
	for range g.r.IntN(5) {
		if len(from) > 0 {
			refs = append(refs, from[g.r.IntN(len(from))])
		}
	}
	id := len(g.nodes)
	g.nodes = append(g.nodes, node{Name: name, Salt: fmt.Sprintf("%x", g.r.Uint64()), Size: randomSize(g.r), Refs: refs})
	switch pool {
	case 0:
		g.shared = append(g.shared, id)
	case 1:
		g.beforeOnly = append(g.beforeOnly, id)
	default:
		g.afterOnly = append(g.afterOnly, id)
	}
	return id
}

func (g *generator) addFamily(f family, pool int) {
	for _, o := range f.outputs {
		g.add(f.pathName(o), pool)
	}
}

func generate(spec PairSpec) pairJSON {
	g := &generator{r: rand.New(rand.NewPCG(spec.Seed, 0x6e69782d6465706c)), seen: map[string]bool{}}
	target := max(spec.Paths-1, 1)
	for len(g.shared)+len(g.beforeOnly) < target {
		f := family{name: randomName(g.r), version: randomVersion(g.r), outputs: randomOutputs(g.r)}
		if g.seen[f.name] && g.r.IntN(3) != 0 {
			continue
		}
		g.seen[f.name] = true
		switch k := g.r.IntN(100); {
		case k < 84: // unchanged
			g.addFamily(f, 0)
		case k < 90: // new version
			g.addFamily(f, 1)
			f.version = bumpVersion(g.r, f.version)
			g.addFamily(f, 2)
		case k < 94: // rebuilt: same names, new hashes and sizes
			g.addFamily(f, 1)
			g.addFamily(f, 2)
		case k < 96: // removed
			g.addFamily(f, 1)
		case k < 97: // an extra copy of the same version
			g.addFamily(f, 0)
			g.addFamily(f, 2)
		case k < 98: // outputs change
			g.addFamily(f, 1)
			f.outputs = randomOutputs(g.r)
			g.addFamily(f, 2)
		default: // added
			g.addFamily(f, 2)
			g.addFamily(family{name: randomName(g.r), version: randomVersion(g.r), outputs: randomOutputs(g.r)}, 0)
		}
	}
	version := fmt.Sprintf("24.05.%d", 20240101+g.r.IntN(100))
	return pairJSON{
		Nodes:      g.nodes,
		Before:     append(append([]int{}, g.shared...), g.beforeOnly...),
		After:      append(append([]int{}, g.shared...), g.afterOnly...),
		BeforeName: "nixos-system-bench-" + version + ".aaaaaaa",
		AfterName:  "nixos-system-bench-" + version + ".bbbbbbb",
	}
}
