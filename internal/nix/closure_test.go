package nix

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
)

// realSystem builds, in the real store, a fake NixOS system: a toplevel
// derivation with a `sw` link to a system-path that references two
// packages, plus a kernel the toplevel references directly.
func realSystem(t *testing.T) (toplevel, sw string, pkgs []string) {
	t.Helper()
	expr := `
let
  lib = builtins.toFile "libfoo-1.0" "libfoo";
  hello = builtins.toFile "hello-2.12.1" "hello uses ${lib}";
  tool = builtins.toFile "tool-3.0-bin" "tool";
  sw = builtins.toFile "system-path" "${hello} ${tool}";
  kernel = builtins.toFile "linux-6.6.30" "kernel";
in builtins.derivation {
  name = "nixos-system-test-24.05"; system = builtins.currentSystem; builder = "/bin/sh";
  args = [ "-c" "/bin/mkdir $out && /bin/ln -s ${sw} $out/sw && /bin/ln -s ${kernel} $out/kernel" ];
}`
	out, err := exec.Command("nix", "build", "--json", "--no-link", "--impure", "--expr", expr).Output()
	require.NoError(t, err, "nix build: %s", exitStderr(err))
	res, err := ParseBuildJSON(out)
	require.NoError(t, err)
	toplevel = res[0].Out()
	sw, err = filepath.EvalSymlinks(toplevel + "/sw")
	require.NoError(t, err)
	data, err := os.ReadFile(sw)
	require.NoError(t, err)
	return toplevel, sw, strings.Fields(string(data))
}

func exitStderr(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

// TestStoreClosure reads the same real closure through every way in: the
// database, the database behind symlinks, and `nix path-info` when the
// database cannot be used. All must agree.
func TestStoreClosure(t *testing.T) {
	toplevel, sw, pkgs := realSystem(t)
	link := filepath.Join(t.TempDir(), "current-system")
	require.NoError(t, os.Symlink(toplevel, link))
	garbage := filepath.Join(t.TempDir(), "db.sqlite")
	require.NoError(t, os.WriteFile(garbage, []byte("not a database"), 0o644))

	ctx := context.Background()
	want := func(t *testing.T, c *closure.Closure) {
		assert.Equal(t, toplevel, c.Root)
		assert.Equal(t, pkgs, c.Selected, "selected = references of sw")
		var names []string
		for _, p := range c.Paths {
			names = append(names, closure.BaseName(p.Path))
			assert.Positive(t, p.NarSize, p.Path)
		}
		assert.ElementsMatch(t, []string{
			"nixos-system-test-24.05", "system-path", "hello-2.12.1", "libfoo-1.0", "tool-3.0-bin", "linux-6.6.30",
		}, names)
		assert.Contains(t, c.Paths, closure.Path{Path: sw, NarSize: c.Paths[indexOf(c.Paths, sw)].NarSize})
	}
	var results []*closure.Closure
	for _, tt := range []struct {
		name string
		opts StoreOptions
		path string
	}{
		{"database", StoreOptions{}, toplevel},
		{"database via symlink", StoreOptions{}, link},
		{"path inside the store path", StoreOptions{}, toplevel + "/kernel"},
		{"no database", StoreOptions{DBPath: "/nonexistent/db.sqlite"}, toplevel},
		{"broken database", StoreOptions{DBPath: garbage}, link},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStore(tt.opts)
			defer s.Close()
			c, err := s.Closure(ctx, tt.path)
			require.NoError(t, err)
			if tt.name == "path inside the store path" {
				// kernel is a link out of the toplevel: it resolves to the kernel's path.
				assert.Equal(t, "linux-6.6.30", closure.BaseName(c.Root))
				return
			}
			want(t, c)
			results = append(results, c)
		})
	}
	for _, c := range results[1:] {
		assert.Equal(t, results[0], c)
	}
}

func indexOf(paths []closure.Path, p string) int {
	for i, x := range paths {
		if x.Path == p {
			return i
		}
	}
	return 0
}

func TestStoreClosureErrors(t *testing.T) {
	ctx := context.Background()
	s := NewStore(StoreOptions{})
	defer s.Close()
	_, err := s.Closure(ctx, "/nonexistent/link")
	require.ErrorContains(t, err, "resolve /nonexistent/link")
	_, err = s.Closure(ctx, t.TempDir())
	require.ErrorContains(t, err, "is not in /nix/store")

	_, err = s.Closure(ctx, "/nix/store/00000000000000000000000000000000-missing")
	require.Error(t, err)
}

func TestDiffSizeStyleRealNix(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	n := &Nix{}
	ctx := context.Background()
	// Nix 2.8 here: the legacy style, first asked, then from the cache.
	assert.Equal(t, closure.Legacy, n.DiffSizeStyle(ctx))
	data, err := os.ReadFile(versionCachePath())
	require.NoError(t, err)
	assert.Contains(t, string(data), "nix (Nix) 2.")
	assert.Equal(t, closure.Legacy, n.DiffSizeStyle(ctx))
	assert.Equal(t, closure.Legacy, (&Nix{Bin: "/nonexistent/nix"}).DiffSizeStyle(ctx))
}
