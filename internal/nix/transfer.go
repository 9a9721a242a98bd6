package nix

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// LocalStore reads and exports paths of the runner's own Nix store with
// nix-store, the one tool whose flags have not changed across the Nix
// versions we support.
type LocalStore struct {
	// Bin is the nix-store executable; "nix-store" when empty.
	Bin string
}

func (s *LocalStore) bin() string {
	if s.Bin == "" {
		return "nix-store"
	}
	return s.Bin
}

// Requisites returns the closure of path, dependencies before dependents
// (nix-store prints the requisites in reverse topological order), which is
// the order nix-store --import needs.
func (s *LocalStore) Requisites(ctx context.Context, path string) ([]string, error) {
	if !IsStorePath(path) {
		return nil, fmt.Errorf("requisites of %q: not a store path", path)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, s.bin(), "--query", "--requisites", path)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("read closure of %s: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	paths, err := ParsePathList(stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("read closure of %s: %w", path, err)
	}
	return paths, nil
}

// Export writes the nix-store --export stream of paths, in the given order,
// to w.
func (s *LocalStore) Export(ctx context.Context, paths []string, w io.Writer) error {
	if len(paths) == 0 {
		return errors.New("export: no paths")
	}
	for _, p := range paths {
		if !IsStorePath(p) {
			return fmt.Errorf("export %q: not a store path", p)
		}
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, s.bin(), append([]string{"--export"}, paths...)...)
	cmd.Stdout = w
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("export %d paths: %w: %s", len(paths), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// ParsePathList parses one store path per line, as nix-store --query and
// --check-validity --print-invalid print them. Blank lines are ignored;
// anything else that is not a store path is an error.
func ParsePathList(data []byte) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if !IsStorePath(line) {
			return nil, fmt.Errorf("line %d: not a store path: %q", n, truncate(line, 80))
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read path list: %w", err)
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
