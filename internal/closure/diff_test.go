package closure

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// storePath makes a store path whose hash is derived from id: the same id
// is the same store path, a different id a rebuild.
func storePath(id, name string) string {
	const alphabet = "0123456789abcdfghijklmnpqrsvwxyz"
	h := make([]byte, 32)
	x := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		x = (x ^ uint64(id[i])) * 1099511628211
	}
	for i := range h {
		x = x*6364136223846793005 + 1442695040888963407
		h[i] = alphabet[x>>59]
	}
	return "/nix/store/" + string(h) + "-" + name
}

// entry is a test path: id selects the hash (empty: name+side, unique).
type entry struct {
	name string
	size int64
	id   string
}

func mkClosure(side string, entries []entry) *Closure {
	c := &Closure{}
	for i, e := range entries {
		id := e.id
		if id == "" {
			id = side + "/" + e.name + fmt.Sprint(i)
		}
		p := storePath(id, e.name)
		c.Paths = append(c.Paths, Path{Path: p, NarSize: e.size})
		if i == 0 {
			c.Root = p
		}
	}
	return c
}

// pairD is the reference's closure pair "D".
func pairD() (before, after *Closure) {
	before = mkClosure("b", []entry{
		{"nixos-system-web1-24.05.20240101.aaaaaaa", 216, ""},
		{"openssl-3.0.12", 800000, ""}, {"openssl-3.0.12-bin", 100000, ""}, {"openssl-3.0.12-dev", 300000, ""},
		{"kdeconnect-20.08.2", 6755000, ""},
		{"libfoo-1.1", 40000, "libfoo-1.1"}, {"libfoo-1.2", 40000, ""}, {"libfoo-1.3", 40000, ""},
		{"edge-1.0", 20000, ""}, {"under-1.0", 20000, ""},
		{"curl-8.4.0", 500000, ""},
		{"mixed", 500, ""}, {"mixed-1.0", 500, ""},
		{"nixos-manual-html", 300000, "manual"}, {"nixos-help", 3000, ""},
		{"python3.11-requests-2.31.0", 400000, ""},
		{"foo-1.0", 10000, "foo"},
		{"linux-6.6.30", 3000000, ""}, {"linux-6.6.30-modules", 2000000, ""}, {"linux-6.6.30-modules-shrunk", 1000000, ""},
		{"zfs-kernel-2.2.4-6.6.30", 300000, ""},
		{"bash-interactive-5.2-p15", 1500000, ""}, {"bash-interactive-5.2-p15-man", 50000, ""},
		{"hello-2.12.1", 50000, "hello"},
		{"big-1.0", 1048576, ""},
		{"quirk-1.0", 10000, ""},
	})
	after = mkClosure("a", []entry{
		{"nixos-system-web1-24.05.20240201.bbbbbbb", 216, ""},
		{"openssl-3.0.13", 800512, ""}, {"openssl-3.0.13-bin", 100000, ""},
		{"kdeconnect-kde-20.08.2", 6757000, ""},
		{"libfoo-1.1", 40000, "libfoo-1.1"}, {"libfoo-1.4", 40000, ""},
		{"edge-1.0", 28192, ""}, {"under-1.0", 28191, ""},
		{"curl-8.4.0", 509000, ""},
		{"nixos-manual-html", 300000, "manual"}, {"nixos-help", 3000, ""}, {"nixos-manpages", 20000, ""},
		{"python3.12-requests-2.31.0", 400000, ""},
		{"foo-1.0", 10000, "foo"}, {"foo-1.0", 10000, ""},
		{"linux-6.6.31", 3000000, ""}, {"linux-6.6.31-modules", 2000000, ""}, {"linux-6.6.31-modules-shrunk", 1000000, ""},
		{"zfs-kernel-2.2.4-6.6.31", 300000, ""},
		{"bash-interactive-5.2p26", 1500000, ""}, {"bash-interactive-5.2p26-man", 50000, ""},
		{"hello-2.12.1", 50000, "hello"},
		{"unit-sshd-.service", 1000, ""},
		{"big-1.0", 3198976, ""},
		{"quirk-1.0", 1059599, ""},
	})
	return before, after
}

const wantDLegacy = `bash-interactive: 5.2-p15 → 5.2p26
big: +2100.0 KiB
curl: +8.8 KiB
edge: +8.0 KiB
foo: +9.8 KiB
kdeconnect: 20.08.2 → ∅, -6596.7 KiB
kdeconnect-kde: ∅ → 20.08.2, +6598.6 KiB
libfoo: 1.2, 1.3 → 1.4, -39.1 KiB
linux: 6.6.30, 6.6.30-modules → 6.6.31, 6.6.31-modules
mixed: 1.0, ε → ∅
nixos: +19.5 KiB
nixos-system-web1: 24.05.20240101.aaaaaaa → 24.05.20240201.bbbbbbb
openssl: 3.0.12 → 3.0.13, -292.5 KiB
python3.11-requests: 2.31.0 → ∅, -390.6 KiB
python3.12-requests: ∅ → 2.31.0, +390.6 KiB
quirk: +1025.0 KiB
unit-sshd: ∅ → .service
zfs-kernel: 2.2.4-6.6.30 → 2.2.4-6.6.31
`

const wantDModern = `bash-interactive: 5.2-p15 → 5.2p26
big: 2.1 MiB
curl: 8.8 KiB
edge: 8.0 KiB
foo: 9.8 KiB
kdeconnect: 20.08.2 → ∅, -6.4 MiB
kdeconnect-kde: ∅ → 20.08.2, 6.4 MiB
libfoo: 1.2, 1.3 → 1.4, -39.1 KiB
linux: 6.6.30, 6.6.30-modules → 6.6.31, 6.6.31-modules
mixed: 1.0, ε → ∅
nixos: 19.5 KiB
nixos-system-web1: 24.05.20240101.aaaaaaa → 24.05.20240201.bbbbbbb
openssl: 3.0.12 → 3.0.13, -292.5 KiB
python3.11-requests: 2.31.0 → ∅, -390.6 KiB
python3.12-requests: ∅ → 2.31.0, 390.6 KiB
quirk: 1025.0 KiB
unit-sshd: ∅ → .service
zfs-kernel: 2.2.4-6.6.30 → 2.2.4-6.6.31
`

// TestNixOutput checks the reference's pairs T-D, T-DRV, T-C and T-0 in
// both size styles.
func TestNixOutput(t *testing.T) {
	dBefore, dAfter := pairD()
	tests := []struct {
		name          string
		before, after *Closure
		legacy        string
		modern        string
	}{
		{"T-D", dBefore, dAfter, wantDLegacy, wantDModern},
		{
			name: "T-DRV",
			before: mkClosure("b", []entry{
				{"app-1.0.drv", 900, ""}, {"libbar-2.0.drv", 800, ""}, {"libbar-2.0-dev.drv", 800, ""},
				{"libbaz-1.0.drv", 700, "libbaz"},
			}),
			after: mkClosure("a", []entry{
				{"app-1.1.drv", 900, ""}, {"libbar-2.1.drv", 800, ""}, {"libbar-2.1-dev.drv", 800, ""},
				{"libbaz-1.0.drv", 700, "libbaz"},
			}),
			legacy: "app: 1.0.drv → 1.1.drv\nlibbar: 2.0-dev.drv, 2.0.drv → 2.1-dev.drv, 2.1.drv\n",
			modern: "app: 1.0.drv → 1.1.drv\nlibbar: 2.0-dev.drv, 2.0.drv → 2.1-dev.drv, 2.1.drv\n",
		},
		{
			name: "T-C",
			before: mkClosure("b", []entry{
				{"top", 200, ""}, {"foo-1.0", 10120, "foo"}, {"hello-2.12-rc", 1000, "rc"},
				{"linux-firmware-20240610-zstd", 5000, ""}, {"mixed", 500, ""}, {"mixed-1.0", 500, ""},
				{"qt-5.15.12-lib64", 3000, ""},
			}),
			after: mkClosure("a", []entry{
				{"top", 200, ""}, {"foo-1.0", 10120, "foo"}, {"foo-1.0", 10120, ""}, {"hello-2.12-rc", 1000, "rc"},
				{"hello-2.13-rc", 1000, ""}, {"linux-firmware-20240715-zstd", 5000, ""}, {"qt-5.15.13-lib64", 3000, ""},
			}),
			legacy: "foo: +9.9 KiB\nhello: ∅ → 2.13\nlinux-firmware: 20240610 → 20240715\nmixed: 1.0, ε → ∅\nqt: 5.15.12 → 5.15.13\n",
			modern: "foo: 9.9 KiB\nhello: ∅ → 2.13\nlinux-firmware: 20240610 → 20240715\nmixed: 1.0, ε → ∅\nqt: 5.15.12 → 5.15.13\n",
		},
		{"T-0", dBefore, dBefore, "", ""},
		{"both empty", nil, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Compare(tt.before, tt.after)
			assert.Equal(t, tt.legacy, d.Nix(Legacy), "legacy")
			assert.Equal(t, tt.modern, d.Nix(Modern), "modern")
			assert.Equal(t, tt.legacy == "", d.Empty() || d.Nix(Legacy) == "")
		})
	}
}

func TestNixANSI(t *testing.T) {
	before := mkClosure("b", []entry{{"a-1", 0, ""}, {"b-1", 20000, ""}, {"c-1", 0, ""}})
	after := mkClosure("a", []entry{{"a-2", 0, ""}, {"b-1", 0, ""}, {"c-1", 9000, ""}})
	want := "a: 1 → 2\nb: \x1b[32;1m-19.5 KiB\x1b[0m\nc: \x1b[31;1m+8.8 KiB\x1b[0m\n"
	assert.Equal(t, want, Compare(before, after).NixANSI(Legacy))
}

// TestFormatSize is the reference's T-S table plus Nix's renderSize vectors.
func TestFormatSize(t *testing.T) {
	tests := []struct {
		delta          int64
		legacy, modern string
	}{
		{8192, "+8.0 KiB", "8.0 KiB"},
		{8448, "+8.2 KiB", "8.2 KiB"},
		{8960, "+8.8 KiB", "8.8 KiB"},
		{-8319, "-8.1 KiB", "-8.1 KiB"},
		{1048576, "+1024.0 KiB", "1024.0 KiB"},
		{1049599, "+1025.0 KiB", "1025.0 KiB"},
		{2150400, "+2100.0 KiB", "2.1 MiB"},
		{-6755000, "-6596.7 KiB", "-6.4 MiB"},
		{0, "+0.0 KiB", "0.0 KiB"},
		{100, "+0.1 KiB", "0.1 KiB"},
		{972, "+0.9 KiB", "0.9 KiB"},
		{973, "+1.0 KiB", "1.0 KiB"},
		{-1024, "-1.0 KiB", "-1.0 KiB"},
		{1100 * 1024, "+1100.0 KiB", "1.1 MiB"},
		{2 << 30, "+2097152.0 KiB", "2.0 GiB"},
		{2100 << 30, "+2202009600.0 KiB", "2.1 TiB"},
		{math.MinInt64, "-9007199254740992.0 KiB", "-8.0 EiB"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.delta), func(t *testing.T) {
			assert.Equal(t, tt.legacy, FormatSize(tt.delta, Legacy))
			assert.Equal(t, tt.modern, FormatSize(tt.delta, Modern))
		})
	}
}

// TestThreshold: 8192 bytes is shown, 8191 is not (edge/under in T-D).
func TestThreshold(t *testing.T) {
	before, after := pairD()
	d := Compare(before, after)
	byName := map[string]Change{}
	for _, c := range d.Changes {
		byName[c.Name] = c
	}
	assert.True(t, byName["edge"].InNix())
	assert.False(t, byName["under"].InNix())
	assert.False(t, byName["under"].Visible(), "a small rebuild is not worth a line")
	_, ok := byName["hello"]
	assert.False(t, ok, "unchanged paths are no change")
}

func TestSummaryAndKinds(t *testing.T) {
	before, after := pairD()
	d := Compare(before, after)
	assert.Equal(t, Summary{
		PathsBefore: 26, PathsAfter: 25, PathsAdded: 21, PathsRemoved: 22,
		SizeBefore: 18_287_792, SizeAfter: 21_205_686, SizeDelta: 2_917_894,
		Upgrades: 6, Downgrades: 0, Additions: 3, Removals: 3, Others: 6,
	}, d.Summary)
	kinds := map[string]Kind{}
	for _, c := range d.Changes {
		kinds[c.Name] = c.Kind
	}
	assert.Equal(t, map[string]Kind{
		"bash-interactive":    Upgrade,
		"big":                 Changed,
		"curl":                Changed,
		"edge":                Changed,
		"foo":                 Changed,
		"kdeconnect":          Removed,
		"kdeconnect-kde":      Added,
		"libfoo":              Upgrade,
		"linux":               Upgrade,
		"mixed":               Removed,
		"nixos":               Changed,
		"nixos-system-web1":   Upgrade,
		"openssl":             Upgrade,
		"python3.11-requests": Removed,
		"python3.12-requests": Added,
		"quirk":               Changed,
		"under":               Changed,
		"unit-sshd":           Added,
		"zfs-kernel":          Upgrade,
	}, kinds)
}

func TestChangeDetails(t *testing.T) {
	before, after := pairD()
	before.Selected = []string{before.Paths[1].Path}
	d := Compare(before, after)
	var openssl, foo Change
	for _, c := range d.Changes {
		switch c.Name {
		case "openssl":
			openssl = c
		case "foo":
			foo = c
		}
	}
	assert.Equal(t, []Version{{Version: "3.0.12", Outputs: []string{"bin", "dev", "out"}, Paths: 3, NarSize: 1200000}}, openssl.Before)
	assert.Equal(t, []Version{{Version: "3.0.13", Outputs: []string{"bin", "out"}, Paths: 2, NarSize: 900512}}, openssl.After)
	assert.True(t, openssl.Selected)
	assert.False(t, foo.Selected)
	assert.True(t, foo.CountChanged())
	assert.Equal(t, []string{"1.0"}, foo.CommonVersions)
	assert.Equal(t, 1, foo.PathsBefore)
	assert.Equal(t, 2, foo.PathsAfter)

	// The JSON form is the struct; empty version lists are [] not null.
	data, err := json.Marshal(d)
	require.NoError(t, err)
	var back Diff
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, *d, back)
	assert.Contains(t, string(data), `"removedVersions":[]`)
}

func TestClassify(t *testing.T) {
	tests := []struct {
		removed, added []string
		want           Kind
	}{
		{[]string{"1.0"}, []string{"1.1"}, Upgrade},
		{[]string{"1.1"}, []string{"1.0"}, Downgrade},
		{[]string{"1.0", "2.0"}, []string{"1.5"}, Changed},
		{[]string{"1.0"}, []string{"1.0pre1"}, Downgrade},
		{[]string{"0.11.1-946aa34"}, []string{"0.11.1-3564204"}, Changed},
		{[]string{"20240610"}, []string{"20240715"}, Upgrade},
		{[]string{"24.05.20240101.aaaaaaa"}, []string{"24.05.20240201.bbbbbbb"}, Upgrade},
		{[]string{"abc1234"}, []string{"def5678"}, Changed},
		{[]string{}, []string{"1.0"}, Changed},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.removed, tt.added), func(t *testing.T) {
			assert.Equal(t, tt.want, classify(false, false, tt.removed, tt.added))
		})
	}
	assert.Equal(t, Added, classify(true, false, nil, []string{"1"}))
	assert.Equal(t, Removed, classify(false, true, []string{"1"}, nil))
}

func BenchmarkDiff(b *testing.B) {
	var be, af []entry
	for i := 0; i < 10000; i++ {
		name := fmt.Sprintf("pkg%d-%d.%d", i%3000, i/3000, i%7)
		be = append(be, entry{name, int64(i * 37 % 100000), name})
		id := name
		if i%10 == 0 {
			id = "rebuilt" + name
		}
		af = append(af, entry{name, int64(i * 41 % 100000), id})
	}
	before, after := mkClosure("b", be), mkClosure("a", af)
	b.ResetTimer()
	for b.Loop() {
		_ = Compare(before, after).Nix(Legacy)
	}
}
