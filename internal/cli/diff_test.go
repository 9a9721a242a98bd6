package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/bench"
	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
	"github.com/nix-deploy-action/nix-deploy-action/internal/exit"
)

func TestDiffFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    diffOptions
		wantErr string
	}{
		{
			name: "defaults",
			args: []string{"a", "b"},
			want: diffOptions{Before: "a", After: "b", Format: "text", Color: "auto", SizeStyle: "auto"},
		},
		{
			name: "flags after the paths",
			args: []string{"a", "b", "--format", "nix", "--color=never", "--size-style", "modern"},
			want: diffOptions{Before: "a", After: "b", Format: "nix", Color: "never", SizeStyle: "modern"},
		},
		{
			name: "flags between the paths",
			args: []string{"--format", "json", "a", "--color", "always", "b"},
			want: diffOptions{Before: "a", After: "b", Format: "json", Color: "always", SizeStyle: "auto"},
		},
		{name: "one path", args: []string{"a"}, wantErr: "expected BEFORE and AFTER, got 1"},
		{name: "three paths", args: []string{"a", "b", "c"}, wantErr: "got 3"},
		{name: "bad format", args: []string{"--format", "yaml", "a", "b"}, wantErr: "--format must be one of"},
		{name: "bad color", args: []string{"--color", "sometimes", "a", "b"}, wantErr: "--color must be one of"},
		{name: "bad size style", args: []string{"--size-style", "new", "a", "b"}, wantErr: "--size-style must be one of"},
		{name: "unknown flag", args: []string{"--nope", "a", "b"}, wantErr: "not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			o, err := parseDiffFlags(tt.args, IO{Out: &out, Err: &out})
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.Equal(t, exit.Usage, exit.Code(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, *o)
		})
	}
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*m`)

func runNixDiffClosures(t *testing.T, before, after string) string {
	t.Helper()
	out, err := exec.Command("nix", "--extra-experimental-features", "nix-command", "store", "diff-closures", before, after).Output()
	require.NoError(t, err)
	return string(out)
}

func runDiffCommand(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), append([]string{"diff"}, args...), IO{Out: &stdout, Err: &stderr, Getenv: func(string) string { return "" }})
	return stdout.String(), stderr.String(), code
}

// TestDiffParityRealNix builds random pairs of closures in the real store
// (random names, versions, outputs and sizes; shared, rebuilt, added and
// removed paths) and checks that --format nix prints what `nix store
// diff-closures` prints: byte for byte with --color always, and without the
// colour codes otherwise.
func TestDiffParityRealNix(t *testing.T) {
	ctx := context.Background()
	for _, spec := range []bench.PairSpec{{Seed: 1, Paths: 300}, {Seed: 2, Paths: 500}, {Seed: 3, Paths: 150}, {Seed: 20260101, Paths: 400}, {Seed: 4, Paths: 2000}} {
		t.Logf("pair seed %d, %d paths", spec.Seed, spec.Paths)
		pair, err := bench.BuildPair(ctx, spec, t.TempDir())
		require.NoError(t, err)
		want := runNixDiffClosures(t, pair.Before, pair.After)
		require.NotEmpty(t, want, "a random pair has changes")

		got, stderr, code := runDiffCommand(t, "--format", "nix", "--size-style", "legacy", pair.Before, pair.After)
		require.Equal(t, 0, code, stderr)
		assert.Equal(t, ansi.ReplaceAllString(want, ""), got, "seed %d", spec.Seed)

		got, stderr, code = runDiffCommand(t, "--format", "nix", "--color", "always", "--size-style", "auto", pair.Before, pair.After)
		require.Equal(t, 0, code, stderr)
		assert.Equal(t, want, got, "seed %d with colour", spec.Seed)

		// The other direction, and a closure against itself (prints nothing).
		got, _, _ = runDiffCommand(t, "--format", "nix", "--color", "always", pair.After, pair.Before)
		assert.Equal(t, runNixDiffClosures(t, pair.After, pair.Before), got, "seed %d reversed", spec.Seed)
		got, _, code = runDiffCommand(t, "--format", "nix", pair.Before, pair.Before)
		assert.Equal(t, 0, code)
		assert.Empty(t, got)
	}
}

// TestDiffFormats runs every format on one real pair.
func TestDiffFormats(t *testing.T) {
	pair, err := bench.BuildPair(context.Background(), bench.PairSpec{Seed: 7, Paths: 120}, t.TempDir())
	require.NoError(t, err)

	text, stderr, code := runDiffCommand(t, pair.Before, pair.After)
	require.Equal(t, 0, code, stderr)
	assert.True(t, strings.HasPrefix(text, "<<< "+pair.Before+"\n>>> "+pair.After+"\n"), text)
	assert.Contains(t, text, "Closure: ")
	assert.NotContains(t, text, "\x1b[", "no colour off a terminal")

	colored, _, _ := runDiffCommand(t, "--color", "always", pair.Before, pair.After)
	assert.Contains(t, colored, "\x1b[")

	md, _, code := runDiffCommand(t, "--format", "markdown", pair.Before, pair.After)
	require.Equal(t, 0, code)
	assert.Contains(t, md, "| | Package | Before | After | Size Δ |")

	js, _, code := runDiffCommand(t, "--format", "json", pair.Before, pair.After)
	require.Equal(t, 0, code)
	var d closure.Diff
	require.NoError(t, json.Unmarshal([]byte(js), &d))
	assert.Equal(t, pair.Before, d.BeforeRoot)
	assert.NotEmpty(t, d.Changes)
	assert.Positive(t, d.Summary.PathsBefore)

	_, stderr, code = runDiffCommand(t, "/nonexistent", pair.After)
	assert.Equal(t, exit.Failure, code)
	assert.Contains(t, stderr, "resolve /nonexistent")
}
