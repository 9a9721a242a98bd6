package nix

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
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

// PathRecord is a store path's registration in the runner's store: what
// another store needs to add the path (nix-store --dump-db).
type PathRecord struct {
	Path       string
	NarHash    string // sha256, base16
	NarSize    int64
	Deriver    string // empty when unknown
	References []string
}

// Records returns the registration of each of paths, in the given order.
func (s *LocalStore) Records(ctx context.Context, paths []string) ([]PathRecord, error) {
	for _, p := range paths {
		if !IsStorePath(p) {
			return nil, fmt.Errorf("registration of %q: not a store path", p)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, s.bin(), append([]string{"--dump-db"}, paths...)...)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("registration of %d paths: %w: %s", len(paths), err, strings.TrimSpace(stderr.String()))
	}
	recs, err := ParseDumpDB(stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("registration of %d paths: %w", len(paths), err)
	}
	byPath := make(map[string]PathRecord, len(recs))
	for _, r := range recs {
		byPath[r.Path] = r
	}
	out := make([]PathRecord, len(paths))
	for i, p := range paths {
		r, ok := byPath[p]
		if !ok {
			return nil, fmt.Errorf("registration of %s: not in nix-store --dump-db output", p)
		}
		out[i] = r
	}
	return out, nil
}

// ParseDumpDB parses nix-store --dump-db output: per path, its line, the
// NAR hash (base16), the NAR size, the deriver (or an empty line), the
// number of references and one line per reference.
func ParseDumpDB(data []byte) ([]PathRecord, error) {
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(data) == 0 {
		return nil, nil
	}
	var out []PathRecord
	i := 0
	next := func(what string) (string, error) {
		if i >= len(lines) {
			return "", fmt.Errorf("line %d: missing %s", i+1, what)
		}
		i++
		return strings.TrimSuffix(lines[i-1], "\r"), nil
	}
	for i < len(lines) {
		var r PathRecord
		var err error
		if r.Path, err = next("store path"); err != nil {
			return nil, err
		}
		if !IsStorePath(r.Path) {
			return nil, fmt.Errorf("line %d: not a store path: %q", i, truncate(r.Path, 80))
		}
		if r.NarHash, err = next("NAR hash"); err != nil {
			return nil, err
		}
		if !isBase16SHA256(r.NarHash) {
			return nil, fmt.Errorf("line %d: not a base16 sha256 hash: %q", i, truncate(r.NarHash, 80))
		}
		size, err := next("NAR size")
		if err != nil {
			return nil, err
		}
		if r.NarSize, err = strconv.ParseInt(size, 10, 64); err != nil || r.NarSize <= 0 {
			return nil, fmt.Errorf("line %d: bad NAR size %q", i, truncate(size, 80))
		}
		if r.Deriver, err = next("deriver"); err != nil {
			return nil, err
		}
		if r.Deriver != "" && !IsStorePath(r.Deriver) {
			return nil, fmt.Errorf("line %d: deriver is not a store path: %q", i, truncate(r.Deriver, 80))
		}
		count, err := next("reference count")
		if err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(count)
		if err != nil || n < 0 || n > len(lines)-i {
			return nil, fmt.Errorf("line %d: bad reference count %q", i, truncate(count, 80))
		}
		for range n {
			ref, _ := next("reference")
			if !IsStorePath(ref) {
				return nil, fmt.Errorf("line %d: reference is not a store path: %q", i, truncate(ref, 80))
			}
			r.References = append(r.References, ref)
		}
		out = append(out, r)
	}
	return out, nil
}

func isBase16SHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// The serve protocol, what `nix copy --to ssh://` speaks to a remote
// `nix-store --serve --write`. Its AddToStoreNar (protocol 2.5, every Nix
// since 2.3) streams each NAR straight into the store, hashing it once;
// nix-store --import reads every NAR into memory and parses it twice, which
// made it cost more than twice the CPU for the same closure.
const (
	serveMagic1          = 0x390c9deb
	serveMagic2          = 0x5452eecb
	serveVersion         = 2<<8 | 5 // what we speak: the oldest with AddToStoreNar
	serveQueryValidPaths = 1
	serveAddToStoreNar   = 9
	exportMagic          = 0x4558494e
	// Bounds on what we accept from the far side.
	maxServeString = 4096
	maxServePaths  = 1 << 20
)

// ErrServeTooOld is a nix-store --serve that lacks AddToStoreNar. It says
// Unsupported, so a caller can fall back to another way of copying.
var ErrServeTooOld error = unsupported("the node's nix-store --serve is too old (protocol before 2.5)")

// unsupported is an error meaning "this method cannot work with that peer;
// another may".
type unsupported string

func (e unsupported) Error() string   { return string(e) }
func (unsupported) Unsupported() bool { return true }

// ServeCopy copies to the store on the far side of a nix-store --serve
// --write connection (fromNode is its stdout, toNode its stdin) the paths
// of closure it lacks, in closure's order (dependencies first). It asks
// which paths are valid there (holding them as temporary GC roots while the
// connection lives), calls queried with the missing ones, then streams
// their NARs from nix-store --export, each checked by the far side against
// the NAR hash of our store. It returns the NAR bytes sent. The caller
// closes toNode afterwards; that ends the far side.
func (s *LocalStore) ServeCopy(ctx context.Context, closure []string, fromNode io.Reader, toNode io.Writer, queried func(missing []string)) (int64, error) {
	for _, p := range closure {
		if !IsStorePath(p) {
			return 0, fmt.Errorf("copy %q: not a store path", p)
		}
	}
	r := bufio.NewReader(fromNode)
	w := bufio.NewWriterSize(toNode, 256<<10)
	if err := serveHandshake(r, w); err != nil {
		return 0, err
	}
	writeU64(w, serveQueryValidPaths)
	writeU64(w, 1) // lock: hold them as temporary roots
	writeU64(w, 0) // no substitution
	writeStrings(w, closure)
	if err := w.Flush(); err != nil {
		return 0, fmt.Errorf("ask which paths the node has: %w", err)
	}
	valid, err := ReadServePathSet(r)
	if err != nil {
		return 0, fmt.Errorf("ask which paths the node has: %w", err)
	}
	have := make(map[string]bool, len(valid))
	for _, p := range valid {
		have[p] = true
	}
	var missing []string
	for _, p := range closure {
		if !have[p] {
			missing = append(missing, p)
		}
	}
	queried(missing)
	if len(missing) == 0 {
		return 0, nil
	}
	recs, err := s.Records(ctx, missing)
	if err != nil {
		return 0, err
	}

	// The far side answers each path once it is in its store; read the
	// answers while sending, or a long closure would fill the channel.
	acks := make(chan error, 1)
	go func() {
		for i := range recs {
			n, err := readU64(r)
			if err == nil && n != 1 {
				err = fmt.Errorf("unexpected answer %d", n)
			}
			if err != nil {
				acks <- fmt.Errorf("add %s on the node: %w", recs[i].Path, err)
				return
			}
		}
		acks <- nil
	}()
	sent, err := s.sendNARs(ctx, recs, w)
	if err != nil {
		return sent, err
	}
	select {
	case err := <-acks:
		return sent, err
	case <-ctx.Done():
		return sent, ctx.Err()
	}
}

func serveHandshake(r *bufio.Reader, w *bufio.Writer) error {
	writeU64(w, serveMagic1)
	if err := w.Flush(); err != nil {
		return fmt.Errorf("serve handshake: %w", err)
	}
	magic, err := readU64(r)
	if err != nil {
		return fmt.Errorf("serve handshake: %w", err)
	}
	if magic != serveMagic2 {
		return fmt.Errorf("serve handshake: not nix-store --serve (magic %#x)", magic)
	}
	version, err := readU64(r)
	if err != nil {
		return fmt.Errorf("serve handshake: %w", err)
	}
	if version>>8 != 2 || version&0xff < 5 {
		return fmt.Errorf("%w: version %d.%d", ErrServeTooOld, version>>8, version&0xff)
	}
	writeU64(w, serveVersion)
	return nil
}

// sendNARs sends an AddToStoreNar per record, its NAR taken from one
// nix-store --export of them all (which checks each NAR against its hash
// as it reads it), and returns the NAR bytes sent.
func (s *LocalStore) sendNARs(ctx context.Context, recs []PathRecord, w *bufio.Writer) (int64, error) {
	args := []string{"--export"}
	for _, r := range recs {
		args = append(args, r.Path)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, s.bin(), args...)
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	sent, err := reframe(bufio.NewReaderSize(stdout, 64<<10), recs, w)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if ctx.Err() != nil {
			return sent, ctx.Err()
		}
		return sent, fmt.Errorf("export: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	if err := cmd.Wait(); err != nil {
		if ctx.Err() != nil {
			return sent, ctx.Err()
		}
		return sent, fmt.Errorf("export %d paths: %w: %s", len(recs), err, strings.TrimSpace(stderr.String()))
	}
	return sent, w.Flush()
}

// reframe turns nix-store --export's stream of recs into AddToStoreNar
// commands on w. The export format puts each path's name after its NAR,
// so the NAR size from the registration says where the NAR ends; the name
// that follows must be the expected one.
func reframe(ex *bufio.Reader, recs []PathRecord, w *bufio.Writer) (int64, error) {
	var sent int64
	for _, rec := range recs {
		if n, err := readU64(ex); err != nil || n != 1 {
			return sent, fmt.Errorf("export stream before %s: %v (marker %d)", rec.Path, err, n)
		}
		writeU64(w, serveAddToStoreNar)
		writeString(w, rec.Path)
		writeString(w, rec.Deriver)
		writeString(w, "sha256:"+rec.NarHash)
		writeStrings(w, rec.References)
		writeU64(w, 0) // registration time: now
		writeU64(w, uint64(rec.NarSize))
		writeU64(w, 0) // not ultimately trusted
		writeStrings(w, nil)
		writeString(w, "") // no content address
		n, err := io.CopyN(w, ex, rec.NarSize)
		sent += n
		if err != nil {
			return sent, fmt.Errorf("send %s: %w", rec.Path, err)
		}
		if err := skipExportTrailer(ex, rec.Path); err != nil {
			return sent, err
		}
	}
	if n, err := readU64(ex); err != nil || n != 0 {
		return sent, fmt.Errorf("export stream: no end after %d paths: %v (marker %d)", len(recs), err, n)
	}
	return sent, nil
}

// skipExportTrailer reads what follows a NAR in an export stream: the
// magic, the path (which must be path), its references, its deriver and
// an optional signature.
func skipExportTrailer(ex *bufio.Reader, path string) error {
	fail := func(what string, err error) error {
		return fmt.Errorf("export stream after the NAR of %s: %s: %v", path, what, err)
	}
	if m, err := readU64(ex); err != nil || m != exportMagic {
		return fail("magic", err)
	}
	got, err := readString(ex)
	if err != nil || got != path {
		return fail(fmt.Sprintf("path %q", truncate(got, 80)), err)
	}
	if _, err := readStrings(ex); err != nil {
		return fail("references", err)
	}
	if _, err := readString(ex); err != nil {
		return fail("deriver", err)
	}
	sig, err := readU64(ex)
	if err != nil {
		return fail("signature", err)
	}
	if sig == 1 {
		if _, err := readString(ex); err != nil {
			return fail("signature", err)
		}
	}
	return nil
}

// ReadServePathSet reads a set of store paths as nix-store --serve sends
// it. It rejects anything that is not a store path, and never panics: the
// bytes come from the node.
func ReadServePathSet(r io.Reader) ([]string, error) {
	paths, err := readStrings(r)
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		if !IsStorePath(p) {
			return nil, fmt.Errorf("not a store path: %q", truncate(p, 80))
		}
	}
	return paths, nil
}

// Nix's wire format: little-endian 64-bit numbers; strings as their length
// and their bytes, zero-padded to a multiple of 8; lists as their length
// and their strings. Writes go to a bufio.Writer whose error surfaces at
// its next Flush.

func writeU64(w *bufio.Writer, n uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], n)
	_, _ = w.Write(b[:])
}

func writeString(w *bufio.Writer, s string) {
	writeU64(w, uint64(len(s)))
	_, _ = w.WriteString(s)
	if pad := (8 - len(s)%8) % 8; pad > 0 {
		_, _ = w.Write(make([]byte, pad))
	}
}

func writeStrings(w *bufio.Writer, ss []string) {
	writeU64(w, uint64(len(ss)))
	for _, s := range ss {
		writeString(w, s)
	}
}

func readU64(r io.Reader) (uint64, error) {
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

func readString(r io.Reader) (string, error) {
	n, err := readU64(r)
	if err != nil {
		return "", err
	}
	if n > maxServeString {
		return "", fmt.Errorf("string of %d bytes", n)
	}
	b := make([]byte, (n+7)/8*8)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	for _, c := range b[n:] {
		if c != 0 {
			return "", errors.New("bad padding")
		}
	}
	return string(b[:n]), nil
}

func readStrings(r io.Reader) ([]string, error) {
	n, err := readU64(r)
	if err != nil {
		return nil, err
	}
	if n > maxServePaths {
		return nil, fmt.Errorf("list of %d strings", n)
	}
	var out []string
	for range n {
		s, err := readString(r)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
