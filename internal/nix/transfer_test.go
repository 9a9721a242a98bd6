package nix

import (
	"bytes"
	"context"
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
