// Package git is the adapter for the few git operations nix-deploy needs:
// finding a repository's top level and exporting a revision's tree, so the
// base branch's profiles can be built next to the change's.
package git

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Toplevel returns the top directory of the git work tree holding dir.
func Toplevel(ctx context.Context, dir string) (string, error) {
	out, err := run(ctx, dir, nil, "rev-parse", "--show-toplevel")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// Export writes the tree of ref (a commit, branch or tag) into a new
// temporary directory, which cleanup removes. The export has no .git, so
// Nix treats a flake in it as a plain path flake.
func Export(ctx context.Context, repo, ref string) (dir string, cleanup func(), err error) {
	if strings.HasPrefix(ref, "-") {
		return "", nil, fmt.Errorf("git ref %q: must not start with '-'", ref)
	}
	rev, err := run(ctx, repo, nil, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}")
	if err != nil {
		return "", nil, fmt.Errorf("resolve %s: %w", ref, err)
	}
	dir, err = os.MkdirTemp("", "nix-deploy-base-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	archive, err := run(ctx, repo, nil, "archive", "--format=tar", strings.TrimSpace(string(rev)))
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("export %s: %w", ref, err)
	}
	tar := exec.CommandContext(ctx, "tar", "-x", "-C", dir)
	tar.Stdin = bytes.NewReader(archive)
	if out, err := tar.CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("unpack %s: %v: %s", ref, err, out)
	}
	return dir, cleanup, nil
}

// Rel returns path relative to the repository top level holding it.
func Rel(ctx context.Context, path string) (top, rel string, err error) {
	dir := path
	if st, err := os.Stat(path); err != nil || !st.IsDir() {
		dir = filepath.Dir(path)
	}
	top, err = Toplevel(ctx, dir)
	if err != nil {
		return "", "", err
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", "", err
	}
	rel, err = filepath.Rel(top, real)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", "", fmt.Errorf("%s is outside the git repository %s", path, top)
	}
	return top, rel, nil
}

func run(ctx context.Context, dir string, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
