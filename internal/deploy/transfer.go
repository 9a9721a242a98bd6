package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
)

// TransferStats is what one profile's transfer moved.
type TransferStats struct {
	Closure  int   `json:"closure_paths"` // paths in the closure
	Missing  int   `json:"missing_paths"` // paths the node lacked
	Bytes    int64 `json:"bytes"`         // export stream bytes sent
	Attempts int   `json:"attempts"`
}

// missing asks the node, in one command, which of paths it lacks. The paths
// go on stdin (a big closure does not fit a command line).
func missing(ctx context.Context, conn Conn, sudo Sudo, nixStore string, paths []string) ([]string, error) {
	var out strings.Builder
	argv := []string{"xargs", nixStore, "--check-validity", "--print-invalid"}
	if err := privileged(ctx, conn, sudo, argv, strings.NewReader(strings.Join(paths, "\n")+"\n"), &out); err != nil {
		return nil, fmt.Errorf("ask which paths are missing: %w", err)
	}
	return parsePathList(out.String())
}

// parsePathList parses one store path per line; anything else is an error.
func parsePathList(s string) ([]string, error) {
	var out []string
	for i, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if !closure.IsStorePath(l) {
			if len(l) > 80 {
				l = l[:80] + "…"
			}
			return nil, fmt.Errorf("line %d: not a store path: %q", i+1, l)
		}
		out = append(out, l)
	}
	return out, nil
}

// push streams the paths the node lacks: nix-store --export here into
// sudo nix-store --import there. Importing as root needs no trusted-users
// and no signing key.
func (r *remote) push(ctx context.Context, nixStore string, closure []string, st *TransferStats) error {
	need, err := missing(ctx, r.conn, r.sudo, nixStore, closure)
	if err != nil {
		return err
	}
	st.Missing = len(need)
	if len(need) == 0 {
		return nil
	}
	// Keep the closure's order (dependencies first) for the import.
	want := make(map[string]bool, len(need))
	for _, p := range need {
		want[p] = true
	}
	ordered := make([]string, 0, len(need))
	for _, p := range closure {
		if want[p] {
			ordered = append(ordered, p)
		}
	}
	pr, pw := io.Pipe()
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	exported := make(chan error, 1)
	var sent atomic.Int64
	go func() {
		err := r.d.Store.Export(ectx, ordered, &countingWriter{w: pw, n: &sent})
		pw.CloseWithError(err)
		exported <- err
	}()
	ierr := privileged(ctx, r.conn, r.sudo, []string{nixStore, "--import"}, pr, io.Discard)
	if ierr != nil {
		// A failed import leaves the exporter blocked on the pipe.
		pr.CloseWithError(errors.New("import failed"))
		cancel()
	} else {
		// The import has read the whole stream; the exporter may not have
		// exited yet: let it finish, never kill it (a race seen with 25
		// nodes at once).
		go func() { _, _ = io.Copy(io.Discard, pr) }()
	}
	eerr := <-exported
	st.Bytes += sent.Load()
	if ierr != nil {
		return fmt.Errorf("import on the node: %w", ierr)
	}
	if eerr != nil {
		return fmt.Errorf("export: %w", eerr)
	}
	return nil
}

// substitute has the node realise the path from its own binary caches.
func (r *remote) substitute(ctx context.Context, nixStore, path string) error {
	if err := privileged(ctx, r.conn, r.sudo, []string{nixStore, "--realise", path}, nil, io.Discard); err != nil {
		return fmt.Errorf("substitute %s on the node: %w", path, err)
	}
	return nil
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}
