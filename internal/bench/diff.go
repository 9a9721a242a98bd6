package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// DiffOptions configure the closure diff benchmark.
type DiffOptions struct {
	// Paths is the size of each closure.
	Paths int
	// Seed picks the random pair.
	Seed uint64
	// Runs is how many timed runs each tool gets (after one warm-up).
	Runs int
	// Binary is a built nix-deploy; built from this module when empty.
	Binary string
	// CacheDir keeps the pair's roots (and GC roots) between runs.
	CacheDir string
}

// DiffResult is the outcome: the median wall time of each tool, end to end.
type DiffResult struct {
	Pair          Pair
	Lines         int
	NixMedian     time.Duration
	OursMedian    time.Duration
	Nix, Ours     []time.Duration
	Ratio         float64
	NixOutputSame bool
}

// DiffCommand is `nix-deploy-bench diff [--paths N] [--runs N] [--seed N] [--binary PATH]`.
func DiffCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("diff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := DiffOptions{}
	fs.IntVar(&o.Paths, "paths", 10000, "paths in each closure")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the random pair")
	fs.IntVar(&o.Runs, "runs", 7, "timed runs of each tool")
	fs.StringVar(&o.Binary, "binary", "", "nix-deploy binary (built from this module when empty)")
	fs.StringVar(&o.CacheDir, "cache", "", "where the pair is remembered (default: the user cache dir)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Paths < 2 || o.Runs < 1 {
		return errors.New("diff: --paths must be at least 2 and --runs at least 1")
	}
	res, err := RunDiff(ctx, o, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "closure diff, two %d-path closures (seed %d), %d lines of output, %d runs each\n", o.Paths, o.Seed, res.Lines, o.Runs)
	fmt.Fprintf(stdout, "  before: %s\n  after:  %s\n", res.Pair.Before, res.Pair.After)
	fmt.Fprintf(stdout, "  nix store diff-closures:      median %s  (runs %s)\n", ms(res.NixMedian), msList(res.Nix))
	fmt.Fprintf(stdout, "  nix-deploy diff --format nix: median %s  (runs %s)\n", ms(res.OursMedian), msList(res.Ours))
	fmt.Fprintf(stdout, "  ratio nix-deploy / nix: %.2f (goal: at most 0.50)\n", res.Ratio)
	if !res.NixOutputSame {
		return errors.New("diff: nix-deploy's output differs from nix store diff-closures")
	}
	fmt.Fprintf(stdout, "  outputs identical (colour codes stripped)\n")
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

func msList(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.0f", float64(d)/float64(time.Millisecond))
	}
	return strings.Join(parts, " ")
}

// RunDiff builds (or reuses) the pair and times both tools, alternating
// runs so that load from elsewhere hits both alike. Progress goes to log.
func RunDiff(ctx context.Context, o DiffOptions, log io.Writer) (DiffResult, error) {
	if o.CacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return DiffResult{}, fmt.Errorf("cache dir: %w", err)
		}
		o.CacheDir = filepath.Join(dir, "nix-deploy", "bench")
	}
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return DiffResult{}, fmt.Errorf("cache dir: %w", err)
	}
	pair, err := cachedPair(ctx, PairSpec{Seed: o.Seed, Paths: o.Paths}, o.CacheDir, log)
	if err != nil {
		return DiffResult{}, err
	}
	bin := o.Binary
	if bin == "" {
		bin = filepath.Join(o.CacheDir, "nix-deploy")
		fmt.Fprintf(log, "building nix-deploy into %s\n", bin)
		if err := buildBinary(ctx, bin); err != nil {
			return DiffResult{}, err
		}
	}
	nixCmd := []string{"nix", "--extra-experimental-features", "nix-command", "store", "diff-closures", pair.Before, pair.After}
	oursCmd := []string{bin, "diff", "--format", "nix", pair.Before, pair.After}

	// One warm-up each: page cache, and our cached `nix --version`.
	nixOut, _, err := timeRun(ctx, nixCmd)
	if err != nil {
		return DiffResult{}, err
	}
	oursOut, _, err := timeRun(ctx, oursCmd)
	if err != nil {
		return DiffResult{}, err
	}
	res := DiffResult{
		Pair:          pair,
		Lines:         strings.Count(oursOut, "\n"),
		NixOutputSame: ansiCodes.ReplaceAllString(nixOut, "") == oursOut,
	}
	for i := 0; i < o.Runs; i++ {
		_, d, err := timeRun(ctx, nixCmd)
		if err != nil {
			return DiffResult{}, err
		}
		res.Nix = append(res.Nix, d)
		_, d, err = timeRun(ctx, oursCmd)
		if err != nil {
			return DiffResult{}, err
		}
		res.Ours = append(res.Ours, d)
		fmt.Fprintf(log, "run %d: nix %s, nix-deploy %s\n", i+1, ms(res.Nix[i]), ms(res.Ours[i]))
	}
	res.NixMedian, res.OursMedian = median(res.Nix), median(res.Ours)
	res.Ratio = float64(res.OursMedian) / float64(res.NixMedian)
	return res, nil
}

var ansiCodes = regexp.MustCompile(`\x1b\[[0-9;]*m`)

func timeRun(ctx context.Context, argv []string) (string, time.Duration, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return "", 0, fmt.Errorf("run %s: %w: %s", argv[0], err, stderr.String())
	}
	return stdout.String(), d, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// cachedPair reuses a pair built earlier while its roots are still in the
// store; a new pair gets GC roots next to the cache file so that garbage
// collection does not take it.
func cachedPair(ctx context.Context, spec PairSpec, dir string, log io.Writer) (Pair, error) {
	name := fmt.Sprintf("diff-%d-%d", spec.Paths, spec.Seed)
	file := filepath.Join(dir, name+".json")
	if data, err := os.ReadFile(file); err == nil {
		var p Pair
		if json.Unmarshal(data, &p) == nil && exists(p.Before) && exists(p.After) {
			fmt.Fprintf(log, "reusing the pair in %s\n", file)
			return p, nil
		}
	}
	fmt.Fprintf(log, "creating two %d-path closures in the store (seed %d)\n", spec.Paths, spec.Seed)
	start := time.Now()
	p, err := BuildPair(ctx, spec, dir)
	if err != nil {
		return Pair{}, err
	}
	fmt.Fprintf(log, "created in %s\n", time.Since(start).Round(time.Millisecond))
	for side, path := range map[string]string{"before": p.Before, "after": p.After} {
		link := filepath.Join(dir, name+"-"+side)
		_ = os.Remove(link)
		cmd := exec.CommandContext(ctx, "nix-store", "--add-root", link, "--realise", path)
		if out, err := cmd.CombinedOutput(); err != nil {
			return Pair{}, fmt.Errorf("add gc root for %s: %w: %s", path, err, out)
		}
	}
	data, err := json.Marshal(p)
	if err != nil {
		return Pair{}, err
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		return Pair{}, fmt.Errorf("remember pair: %w", err)
	}
	return p, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// buildBinary builds ./cmd/nix-deploy of the module we run in.
func buildBinary(ctx context.Context, out string) error {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("find the module: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/nix-deploy")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build nix-deploy: %w: %s", err, b)
	}
	return nil
}
