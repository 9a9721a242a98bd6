package nix

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
)

const (
	sampleA = "/nix/store/76day32c54zwzb74arpwqiqlmrr59fzb-a-1.0"
	sampleB = "/nix/store/f40ji821ifpzaz9n96kvaks903wpcii5-b-2.0-bin"
)

// TestParsePathInfoSamples reads one closure as printed by each format:
// 2.8 was captured here, 2.19 and 2.33 are written from their documented
// shape.
func TestParsePathInfoSamples(t *testing.T) {
	want := []PathInfo{
		{Path: sampleA, NarSize: 120, References: []string{}},
		{Path: sampleB, NarSize: 168, References: []string{sampleA}},
	}
	for _, file := range []string{"pathinfo-2.8.json", "pathinfo-2.19.json", "pathinfo-2.33.json"} {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", file))
			require.NoError(t, err)
			infos, err := DecodePathInfo(data)
			require.NoError(t, err)
			assert.Equal(t, want, infos)
			paths, err := ParsePathInfo(data)
			require.NoError(t, err)
			assert.Equal(t, []closure.Path{{Path: sampleA, NarSize: 120}, {Path: sampleB, NarSize: 168}}, paths)
		})
	}
}

func TestParsePathInfoErrors(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"empty", "  ", "empty output"},
		{"not json", "error: oops", "not a JSON list or object"},
		{"list invalid path", `[{"path":"` + sampleA + `","valid":false}]`, "path is not valid"},
		{"map invalid path", `{"` + sampleA + `":null}`, "path is not valid"},
		{"v2 invalid path", `{"version":2,"storeDir":"/nix/store","info":{"76day32c54zwzb74arpwqiqlmrr59fzb-a-1.0":null}}`, "path is not valid"},
		{"v3", `{"version":3,"info":{}}`, "unsupported format version"},
		{"other store dir", `{"version":2,"storeDir":"/gnu/store","info":{}}`, "is not /nix/store"},
		{"v2 no info", `{"version":2}`, "info"},
		{"not a store path", `[{"path":"/tmp/x","narSize":1}]`, "not a store path"},
		{"shell in name", `[{"path":"/nix/store/76day32c54zwzb74arpwqiqlmrr59fzb-a;rm -rf","narSize":1}]`, "not a store path"},
		{"bad reference", `[{"path":"` + sampleA + `","narSize":1,"references":["/etc/passwd"]}]`, "reference is not a store path"},
		{"no size", `[{"path":"` + sampleA + `"}]`, "missing or negative narSize"},
		{"negative size", `[{"path":"` + sampleA + `","narSize":-1}]`, "missing or negative narSize"},
		{"float size", `[{"path":"` + sampleA + `","narSize":1.5}]`, "parse path-info"},
		{"map of strings", `{"` + sampleA + `":"x"}`, "parse path-info"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodePathInfo([]byte(tt.in))
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestParsePathInfoDuplicates(t *testing.T) {
	infos, err := DecodePathInfo([]byte(`[{"path":"` + sampleA + `","narSize":1},{"path":"` + sampleA + `","narSize":1}]`))
	require.NoError(t, err)
	assert.Len(t, infos, 1)
}

func TestClosureFromPathInfo(t *testing.T) {
	const sw = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-system-path"
	const root = "/nix/store/1123456789abcdfghijklmnpqrsvwxyz-nixos-system-x-1"
	infos := []PathInfo{
		{Path: sampleA, NarSize: 1},
		{Path: sampleB, NarSize: 2, References: []string{sampleA}},
		{Path: sw, NarSize: 3, References: []string{sampleB, sw}},
		{Path: root, NarSize: 4, References: []string{sw, sampleA, root}},
	}
	c, err := ClosureFromPathInfo(root, sw, infos)
	require.NoError(t, err)
	assert.Equal(t, []string{sampleB}, c.Selected, "references of sw, itself excluded")
	assert.Len(t, c.Paths, 4)

	c, err = ClosureFromPathInfo(root, "", infos)
	require.NoError(t, err)
	assert.Equal(t, []string{sw, sampleA}, c.Selected, "references of the root without sw")

	_, err = ClosureFromPathInfo("/nix/store/2123456789abcdfghijklmnpqrsvwxyz-x", "", infos)
	require.ErrorContains(t, err, "root missing")
}

func FuzzParsePathInfo(f *testing.F) {
	for _, file := range []string{"pathinfo-2.8.json", "pathinfo-2.19.json", "pathinfo-2.33.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", file))
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte(`[{"path":"` + sampleA + `","valid":false}]`))
	f.Add([]byte(`{"version":2,"info":{"x":null}}`))
	f.Add([]byte(`{"version":"2"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		paths, err := ParsePathInfo(data)
		if err != nil {
			return
		}
		for _, p := range paths {
			if !IsStorePath(p.Path) || p.NarSize < 0 {
				t.Fatalf("accepted %+v", p)
			}
		}
	})
}

func TestParseVersionInfo(t *testing.T) {
	tests := []struct {
		in      string
		want    VersionInfo
		style   closure.SizeStyle
		wantErr bool
	}{
		{in: "nix (Nix) 2.8.0\n", want: VersionInfo{Major: 2, Minor: 8}, style: closure.Legacy},
		{in: "nix (Nix) 2.32.4", want: VersionInfo{Major: 2, Minor: 32}, style: closure.Legacy},
		{in: "nix (Nix) 2.33.0", want: VersionInfo{Major: 2, Minor: 33}, style: closure.Modern},
		{in: "nix (Nix) 2.34pre20251101_abcdef", want: VersionInfo{Major: 2, Minor: 34}, style: closure.Modern},
		{in: "nix (Lix, like Nix) 2.91.1", want: VersionInfo{Lix: true, Major: 2, Minor: 91}, style: closure.Legacy},
		{in: "nix (Determinate Nix 3.6.2) 2.29.0", want: VersionInfo{Major: 2, Minor: 29}, style: closure.Legacy},
		{in: "nix (Nix) 3.0.0", want: VersionInfo{Major: 3}, style: closure.Modern},
		{in: "", wantErr: true},
		{in: "bash: nix: command not found", wantErr: true},
		{in: "nix (Nix) two", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := ParseVersionInfo(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, v)
			assert.Equal(t, tt.style, v.DiffSizeStyle())
		})
	}
}
