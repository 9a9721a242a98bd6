package nix

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseBuildJSON(t *testing.T) {
	const drv = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello-2.12.drv"
	const out = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello-2.12"
	tests := []struct {
		name    string
		in      string
		want    []Built
		wantErr string
	}{
		{
			name: "nix 2.8",
			in:   `[{"drvPath":"` + drv + `","outputs":{"out":"` + out + `"}}]`,
			want: []Built{{DrvPath: drv, Outputs: map[string]string{"out": out}}},
		},
		{
			name: "nix 2.2x with times",
			in:   `[{"drvPath":"` + drv + `","outputs":{"out":"` + out + `"},"startTime":0,"stopTime":0}]`,
			want: []Built{{DrvPath: drv, Outputs: map[string]string{"out": out}}},
		},
		{
			name: "opaque store path",
			in:   `[{"path":"` + out + `"}]`,
			want: []Built{{Outputs: map[string]string{"out": out}}},
		},
		{name: "not json", in: `error: oops`, wantErr: "parse build result"},
		{name: "no outputs", in: `[{"drvPath":"` + drv + `"}]`, wantErr: "no outputs"},
		{name: "bad path", in: `[{"outputs":{"out":"/tmp/x"}}]`, wantErr: "not a store path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBuildJSON([]byte(tt.in))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func FuzzParseBuildJSON(f *testing.F) {
	f.Add([]byte(`[{"drvPath":"/nix/store/0123456789abcdfghijklmnpqrsvwxyz-a.drv","outputs":{"out":"/nix/store/0123456789abcdfghijklmnpqrsvwxyz-a"}}]`))
	f.Add([]byte(`[{"path":"/nix/store/x"}]`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := ParseBuildJSON(data)
		if err == nil {
			for _, b := range res {
				if !IsStorePath(b.Out()) {
					t.Fatalf("accepted a non-store path output: %q", b.Out())
				}
			}
		}
	})
}

func TestIsStorePath(t *testing.T) {
	for p, want := range map[string]bool{
		"/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello-2.12":     true,
		"/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello/bin/x":    false,
		"/nix/store/0123456789abcdfghijklmnpqrsvwxyz-":               false,
		"/nix/store/e123456789abcdfghijklmnpqrsvwxyz-hello":          false,
		"/nix/store/0123456789abcdfghijklmnpqrsvwxyz-a;rm -rf /":     false,
		"/nix/store/0123456789abcdfghijklmnpqrsvwxyz-a$(id)":         false,
		"/tmp/0123456789abcdfghijklmnpqrsvwxyz-hello":                false,
		"/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-x": true,
	} {
		assert.Equal(t, want, IsStorePath(p), p)
	}
}

// TestBuildRealNix builds a tiny flake with the real nix and checks the
// result and the streamed log lines.
func TestBuildRealNix(t *testing.T) {
	dir := t.TempDir()
	flake := `{
  outputs = { self }: {
    packages.x86_64-linux.hello = builtins.derivation {
      name = "hello-1.0"; system = "x86_64-linux"; builder = "/bin/sh";
      args = [ "-c" "echo building-hello-NONCE; echo hi > $out" ];
    };
    packages.x86_64-linux.broken = builtins.derivation {
      name = "broken-1.0"; system = "x86_64-linux"; builder = "/bin/sh";
      args = [ "-c" "echo something went wrong >&2; exit 3" ];
    };
  };
}`
	// A nonce makes the derivation new, so it really builds and logs.
	flake = strings.ReplaceAll(flake, "NONCE", filepath.Base(dir)+strconv.FormatInt(time.Now().UnixNano(), 10))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "flake.nix"), []byte(flake), 0o644))
	n := &Nix{}
	ctx := context.Background()
	var lines []string
	b, err := n.Build(ctx, "path:"+dir+"#hello", func(l string) { lines = append(lines, l) })
	require.NoError(t, err)
	assert.True(t, IsStorePath(b.Out()), b.Out())
	assert.True(t, strings.HasSuffix(b.DrvPath, "-hello-1.0.drv"), b.DrvPath)
	data, err := os.ReadFile(b.Out())
	require.NoError(t, err)
	assert.Equal(t, "hi\n", string(data))
	assert.Contains(t, strings.Join(lines, "\n"), "building-hello")

	_, err = n.Build(ctx, "path:"+dir+"#broken", nil)
	var nerr *Error
	require.ErrorAs(t, err, &nerr)
	assert.Contains(t, strings.Join(nerr.Tail, "\n"), "something went wrong")
}
