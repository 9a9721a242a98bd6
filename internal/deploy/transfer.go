package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
)

// TransferStats is what one profile's transfer moved.
type TransferStats struct {
	Closure  int   `json:"closure_paths"` // paths in the closure
	Missing  int   `json:"missing_paths"` // paths the node lacked
	Bytes    int64 `json:"bytes"`         // NAR (or export stream) bytes sent
	Attempts int   `json:"attempts"`
	// Where the last attempt's time went: asking the node which paths it
	// lacks; streaming the export (until its last byte was handed to SSH);
	// the import's work after that last byte.
	Query  Duration `json:"query,omitempty"`
	Stream Duration `json:"stream,omitempty"`
	Import Duration `json:"import,omitempty"`
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

// serveCopier is a Store that can also copy over a nix-store --serve
// --write connection (the nix adapter's LocalStore): one session asks which
// paths the node lacks and streams them, and the node adds each NAR to its
// store as it arrives, hashing it once, where nix-store --import reads
// every NAR into memory and parses it twice: for the same closure, less
// than half the node's CPU.
type serveCopier interface {
	// ServeCopy sends the paths of closure the far side of fromNode and
	// toNode (the serve process's stdout and stdin) lacks, calling queried
	// with them before it streams, and returns the NAR bytes sent.
	ServeCopy(ctx context.Context, closure []string, fromNode io.Reader, toNode io.Writer, queried func(missing []string)) (int64, error)
}

// push sends the paths the node lacks as root: through sudo nix-store
// --serve --write when the store can speak it, else nix-store --export
// here into sudo nix-store --import there. Either needs no trusted-users
// and no signing key.
func (r *remote) push(ctx context.Context, nixStore string, closure []string, st *TransferStats) error {
	st.Query, st.Stream, st.Import = 0, 0, 0
	if sc, ok := r.d.Store.(serveCopier); ok {
		err := r.pushServe(ctx, sc, nixStore, closure, st)
		var u interface{ Unsupported() bool }
		if !errors.As(err, &u) || !u.Unsupported() {
			return err
		}
		// Nothing was sent: an old nix-store --serve refused in its
		// handshake. --import works with every Nix.
		r.d.log().Warn("the node's nix-store --serve cannot receive paths; falling back to nix-store --import", "node", r.node.Name, "err", err)
		st.Query, st.Stream, st.Import = 0, 0, 0
	}
	return r.pushImport(ctx, nixStore, closure, st)
}

// pushServe copies over one sudo nix-store --serve --write session. The
// node holds the paths it reports valid as temporary GC roots while the
// session lasts, and checks each NAR against our store's hash.
func (r *remote) pushServe(ctx context.Context, sc serveCopier, nixStore string, closure []string, st *TransferStats) error {
	nodeIn, toNode := io.Pipe()
	fromNode, nodeOut := io.Pipe()
	ran := make(chan error, 1)
	go func() {
		err := privileged(ctx, r.conn, r.sudo, []string{nixStore, "--serve", "--write"}, nodeIn, nodeOut)
		// Whatever still reads or writes the session's pipes stops.
		nodeOut.CloseWithError(errServeEnded)
		nodeIn.CloseWithError(errServeEnded)
		ran <- err
	}()
	start := time.Now()
	var streamed time.Time
	w := &lastWrite{w: toNode}
	sent, cerr := sc.ServeCopy(ctx, closure, fromNode, w, func(missing []string) {
		st.Query = Duration(time.Since(start))
		st.Missing = len(missing)
		streamed = time.Now()
	})
	done := time.Now()
	// End of input ends nix-store --serve, cleanly after the last command.
	if cerr != nil {
		toNode.CloseWithError(cerr)
	} else {
		toNode.Close()
	}
	rerr := <-ran
	fromNode.Close()
	st.Bytes += sent
	if last := w.at.Load(); last != 0 && !streamed.IsZero() && st.Missing > 0 {
		st.Stream = Duration(time.Unix(0, last).Sub(streamed))
		st.Import = Duration(done.Sub(time.Unix(0, last)))
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("copy to the node: %w", ctx.Err())
	case cerr != nil && rerr != nil:
		return fmt.Errorf("copy to the node: %w; on the node: %w", cerr, rerr)
	case cerr != nil:
		return fmt.Errorf("copy to the node: %w", cerr)
	case rerr != nil:
		return fmt.Errorf("copy to the node: %w", rerr)
	}
	return nil
}

var errServeEnded = errors.New("the node's nix-store --serve ended")

// lastWrite notes when the last bytes were written through it.
type lastWrite struct {
	w  io.Writer
	at atomic.Int64 // UnixNano
}

func (l *lastWrite) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	l.at.Store(time.Now().UnixNano())
	return n, err
}

// pushImport streams the paths the node lacks: nix-store --export here
// into sudo nix-store --import there.
func (r *remote) pushImport(ctx context.Context, nixStore string, closure []string, st *TransferStats) error {
	start := time.Now()
	need, err := missing(ctx, r.conn, r.sudo, nixStore, closure)
	st.Query = Duration(time.Since(start))
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
	// An OS pipe rather than an io.Pipe: given an *os.File, nix-store
	// writes into it directly instead of through a copying goroutine here,
	// one copy of the whole closure less on a CPU the import competes for.
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("export pipe: %w", err)
	}
	defer pr.Close()
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	exported := make(chan error, 1)
	go func() {
		err := r.d.Store.Export(ectx, ordered, pw)
		pw.Close()
		exported <- err
	}()
	stream := &streamReader{r: pr}
	start = time.Now()
	ierr := privileged(ctx, r.conn, r.sudo, []string{nixStore, "--import"}, stream, io.Discard)
	done := time.Now()
	if ierr != nil {
		// A failed import leaves the exporter blocked on the pipe.
		pr.Close()
		cancel()
	} else {
		// The import has read the whole stream; the exporter may not have
		// exited yet: let it finish, never kill it (a race seen with 25
		// nodes at once).
		_, _ = io.Copy(io.Discard, pr)
	}
	eerr := <-exported
	st.Bytes += stream.n.Load()
	if eof := stream.eof.Load(); eof != 0 {
		st.Stream = Duration(time.Unix(0, eof).Sub(start))
		st.Import = Duration(done.Sub(time.Unix(0, eof)))
	} else {
		st.Stream = Duration(done.Sub(start))
	}
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
		// Nix says "don't know how to build" when no cache has the path:
		// name what the node needs instead.
		return fmt.Errorf("substitute %s on the node (its closure must be in the node's substituters, signed by a key in its trusted-public-keys): %w", path, err)
	}
	return nil
}

// streamReader counts the export stream's bytes and notes when it ended:
// what the import does after that is its own time, not the stream's.
type streamReader struct {
	r   io.Reader
	n   atomic.Int64
	eof atomic.Int64 // UnixNano of the end of the stream; 0 before
}

func (s *streamReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.n.Add(int64(n))
	if err == io.EOF {
		s.eof.CompareAndSwap(0, time.Now().UnixNano())
	}
	return n, err
}
