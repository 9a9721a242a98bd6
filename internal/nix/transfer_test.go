package nix

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParsePathList(t *testing.T) {
	const a = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-a-1.0"
	const b = "/nix/store/1123456789abcdfghijklmnpqrsvwxyz-b"
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{name: "empty", in: "", want: nil},
		{name: "two", in: a + "\n" + b + "\n", want: []string{a, b}},
		{name: "blank lines and crlf", in: "\n" + a + "\r\n\n" + b, want: []string{a, b}},
		{name: "warning line", in: "warning: something\n" + a, wantErr: "line 1: not a store path"},
		{name: "subpath", in: a + "/bin/x", wantErr: "not a store path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePathList([]byte(tt.in))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func FuzzParsePathList(f *testing.F) {
	f.Add([]byte("/nix/store/0123456789abcdfghijklmnpqrsvwxyz-a-1.0\n"))
	f.Add([]byte("\n\n\r\n"))
	f.Add([]byte("error: x\n/nix/store/"))
	f.Fuzz(func(t *testing.T, data []byte) {
		paths, err := ParsePathList(data)
		if err != nil {
			return
		}
		for _, p := range paths {
			if !IsStorePath(p) {
				t.Fatalf("accepted %q", p)
			}
		}
	})
}

// buildChain builds c -> b -> a with the real nix and returns c's path.
func buildChain(t *testing.T) string {
	t.Helper()
	nonce := strconv.FormatInt(time.Now().UnixNano(), 10)
	expr := `let mk = name: deps: builtins.derivation {
  inherit name; system = "x86_64-linux"; builder = "/bin/sh";
  args = [ "-c" ("echo " + name + " NONCE " + builtins.concatStringsSep " " deps + " > $out") ];
}; a = mk "a-1.0" []; b = mk "b-2.0" [ "${a}" ]; in mk "c-3.0" [ "${b}" ]`
	expr = strings.ReplaceAll(expr, "NONCE", nonce)
	out, err := exec.Command("nix", "--extra-experimental-features", "nix-command flakes",
		"build", "--json", "--no-link", "--impure", "--expr", expr).Output()
	require.NoError(t, err)
	res, err := ParseBuildJSON(out)
	require.NoError(t, err)
	require.Len(t, res, 1)
	return res[0].Out()
}

// TestExportImportRealStore exports a closure with the real nix-store and
// imports it into an empty chroot store: the order from Requisites must be
// one nix-store --import accepts.
func TestExportImportRealStore(t *testing.T) {
	ctx := context.Background()
	top := buildChain(t)
	s := &LocalStore{}
	paths, err := s.Requisites(ctx, top)
	require.NoError(t, err)
	require.Len(t, paths, 3)
	assert.Equal(t, top, paths[2], "dependents come last")
	assert.True(t, strings.HasSuffix(paths[0], "-a-1.0"), paths[0])

	var stream bytes.Buffer
	require.NoError(t, s.Export(ctx, paths, &stream))

	root := filepath.Join(t.TempDir(), "store")
	require.NoError(t, os.MkdirAll(root, 0o755))
	imp := exec.Command("nix-store", "--store", root, "--import")
	imp.Stdin = &stream
	out, err := imp.CombinedOutput()
	require.NoError(t, err, string(out))
	valid := exec.Command("nix-store", "--store", root, "--check-validity", "--print-invalid", top)
	out, err = valid.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Empty(t, strings.TrimSpace(string(out)))

	_, err = s.Requisites(ctx, "/tmp/not-a-store-path")
	require.ErrorContains(t, err, "not a store path")
	require.ErrorContains(t, s.Export(ctx, []string{"/nix/store/x; rm -rf /"}, &stream), "not a store path")
}

func TestParseDumpDB(t *testing.T) {
	const a = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-a-1.0"
	const b = "/nix/store/1123456789abcdfghijklmnpqrsvwxyz-b"
	const drv = "/nix/store/2123456789abcdfghijklmnpqrsvwxyz-b.drv"
	const hash = "c221e6f4e18435a127cb45420aa3f5285b96ecc3bb0facde49bdaf523cc61c33"
	tests := []struct {
		name    string
		in      string
		want    []PathRecord
		wantErr string
	}{
		{name: "empty", in: ""},
		{
			name: "two",
			in:   a + "\n" + hash + "\n120\n\n0\n" + b + "\n" + hash + "\n33555272\n" + drv + "\n2\n" + a + "\n" + b + "\n",
			want: []PathRecord{
				{Path: a, NarHash: hash, NarSize: 120},
				{Path: b, NarHash: hash, NarSize: 33555272, Deriver: drv, References: []string{a, b}},
			},
		},
		{name: "truncated", in: a + "\n" + hash + "\n120\n", wantErr: "missing deriver"},
		{name: "reference count past the end", in: a + "\n" + hash + "\n120\n\n3\n" + b + "\n", wantErr: "bad reference count"},
		{name: "base32 hash", in: a + "\n0cqwqqy55bxx97gaq3xvqgn9cnr8ynihlhj5rcks2dc4w7sfc8f2\n120\n\n0\n", wantErr: "not a base16 sha256"},
		{name: "zero size", in: a + "\n" + hash + "\n0\n\n0\n", wantErr: "bad NAR size"},
		{name: "warning line", in: "warning: x\n" + a, wantErr: "not a store path"},
		{name: "bad reference", in: a + "\n" + hash + "\n1\n\n1\n/tmp/x\n", wantErr: "reference is not a store path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDumpDB([]byte(tt.in))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func FuzzParseDumpDB(f *testing.F) {
	const a = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-a-1.0"
	f.Add([]byte(a + "\nc221e6f4e18435a127cb45420aa3f5285b96ecc3bb0facde49bdaf523cc61c33\n120\n\n1\n" + a + "\n"))
	f.Add([]byte(a + "\n\n\n\n99999999999\n"))
	f.Add([]byte("\n\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := ParseDumpDB(data)
		if err != nil {
			return
		}
		for _, r := range recs {
			if !IsStorePath(r.Path) || r.NarSize <= 0 || !isBase16SHA256(r.NarHash) {
				t.Fatalf("accepted %+v", r)
			}
			for _, ref := range r.References {
				if !IsStorePath(ref) {
					t.Fatalf("accepted reference %q", ref)
				}
			}
		}
	})
}

// serveFrame builds bytes in Nix's wire format.
func serveFrame(parts ...any) []byte {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	for _, p := range parts {
		switch v := p.(type) {
		case uint64:
			writeU64(w, v)
		case string:
			writeString(w, v)
		case []string:
			writeStrings(w, v)
		}
	}
	_ = w.Flush()
	return buf.Bytes()
}

func TestReadServePathSet(t *testing.T) {
	const a = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-a-1.0"
	tests := []struct {
		name    string
		in      []byte
		want    []string
		wantErr string
	}{
		{name: "empty set", in: serveFrame([]string{})},
		{name: "one", in: serveFrame([]string{a}), want: []string{a}},
		{name: "not a store path", in: serveFrame([]string{"/etc/passwd"}), wantErr: "not a store path"},
		{name: "truncated", in: serveFrame([]string{a})[:20], wantErr: "EOF"},
		{name: "huge count", in: serveFrame(uint64(1) << 40), wantErr: "list of"},
		{name: "huge string", in: serveFrame(uint64(1), uint64(1)<<40), wantErr: "string of"},
		{name: "bad padding", in: append(serveFrame(uint64(1), uint64(1)), 'x', 'y', 0, 0, 0, 0, 0, 0), wantErr: "bad padding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadServePathSet(bytes.NewReader(tt.in))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func FuzzReadServePathSet(f *testing.F) {
	f.Add(serveFrame([]string{"/nix/store/0123456789abcdfghijklmnpqrsvwxyz-a-1.0"}))
	f.Add(serveFrame(uint64(3), "x"))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		paths, err := ReadServePathSet(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, p := range paths {
			if !IsStorePath(p) {
				t.Fatalf("accepted %q", p)
			}
		}
	})
}

// serveProcess starts the real nix-store --serve --write on an empty
// chroot store and returns its stdout, its stdin and a wait function.
func serveProcess(t *testing.T, root string) (io.Reader, io.WriteCloser, func() error) {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("nix-store", "--store", root, "--serve", "--write")
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	return out, in, func() error {
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("%w: %s", err, stderr.String())
		}
		return nil
	}
}

// TestServeCopyRealStore copies a closure with the real nix-store --serve
// into an empty store: everything the first time, nothing the second, and
// the paths are valid there.
func TestServeCopyRealStore(t *testing.T) {
	ctx := context.Background()
	top := buildChain(t)
	s := &LocalStore{}
	paths, err := s.Requisites(ctx, top)
	require.NoError(t, err)
	root := filepath.Join(t.TempDir(), "store")
	require.NoError(t, os.MkdirAll(root, 0o755))

	for i, wantMissing := range [][]string{paths, nil} {
		out, in, wait := serveProcess(t, root)
		var missing []string
		sent, err := s.ServeCopy(ctx, paths, out, in, func(m []string) { missing = m })
		require.NoError(t, err, "copy %d", i)
		require.NoError(t, in.Close())
		require.NoError(t, wait())
		assert.Equal(t, wantMissing, missing, "copy %d", i)
		if wantMissing == nil {
			assert.Zero(t, sent)
		} else {
			assert.Positive(t, sent)
		}
	}
	valid := exec.Command("nix-store", "--store", root, "--check-validity", "--print-invalid", top)
	got, err := valid.CombinedOutput()
	require.NoError(t, err, string(got))
	assert.Empty(t, strings.TrimSpace(string(got)))
	refs, err := exec.Command("nix-store", "--store", root, "--query", "--references", top).Output()
	require.NoError(t, err)
	assert.Contains(t, string(refs), paths[1], "references are registered")
}

// TestServeCopyRefused: a far side that is not nix-store --serve, or one
// that dies, is an error, never a hang.
func TestServeCopyRefused(t *testing.T) {
	ctx := context.Background()
	const a = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-a-1.0"
	s := &LocalStore{}
	tests := []struct {
		name    string
		reply   []byte
		wantErr string
	}{
		{name: "not serve", reply: []byte("bash: nix-store: command not found\n"), wantErr: "not nix-store --serve"},
		{name: "too old", reply: serveFrame(uint64(serveMagic2), uint64(2<<8|4)), wantErr: "too old"},
		{name: "dies", reply: serveFrame(uint64(serveMagic2), uint64(2<<8|7)), wantErr: "EOF"},
		{name: "bad answer", reply: serveFrame(uint64(serveMagic2), uint64(2<<8|7), []string{"../etc"}), wantErr: "not a store path"},
		{name: "not a store path", wantErr: "not a store path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			closure := []string{a}
			if tt.reply == nil {
				closure = []string{"/nix/store/x; rm -rf /"}
			}
			_, err := s.ServeCopy(ctx, closure, bytes.NewReader(tt.reply), io.Discard, func([]string) {})
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}
