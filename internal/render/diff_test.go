package render

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
)

// update rewrites the golden files of every test in this package:
// go test ./internal/render/ -update
var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run with -update to create it")
	assert.Equal(t, string(want), got)
}

// hashFor makes a store path hash from an id: same id, same path.
func hashFor(id string) string {
	const alphabet = "0123456789abcdfghijklmnpqrsvwxyz"
	x := uint64(1469598103934665603)
	for i := 0; i < len(id); i++ {
		x = (x ^ uint64(id[i])) * 1099511628211
	}
	h := make([]byte, 32)
	for i := range h {
		x = x*6364136223846793005 + 1442695040888963407
		h[i] = alphabet[x>>59]
	}
	return string(h)
}

// side builds a closure from "name size [id]" lines; the first is the root,
// lines starting with "*" are selected.
func side(t *testing.T, label, spec string) *closure.Closure {
	t.Helper()
	c := &closure.Closure{}
	for i, line := range strings.Split(strings.TrimSpace(spec), "\n") {
		selected := strings.HasPrefix(strings.TrimSpace(line), "*")
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "*"))
		require.GreaterOrEqual(t, len(f), 2, line)
		id := fmt.Sprintf("%s/%d", label, i)
		if len(f) == 3 {
			id = f[2]
		}
		var size int64
		_, err := fmt.Sscan(f[1], &size)
		require.NoError(t, err)
		p := "/nix/store/" + hashFor(id) + "-" + f[0]
		c.Paths = append(c.Paths, closure.Path{Path: p, NarSize: size})
		if i == 0 {
			c.Root = p
		}
		if selected {
			c.Selected = append(c.Selected, p)
		}
	}
	return c
}

// The reference's pair "D", with a few selected packages.
const (
	beforeD = `
nixos-system-web1-24.05.20240101.aaaaaaa 216
*openssl-3.0.12 800000
openssl-3.0.12-bin 100000
openssl-3.0.12-dev 300000
kdeconnect-20.08.2 6755000
libfoo-1.1 40000 libfoo
libfoo-1.2 40000
libfoo-1.3 40000
edge-1.0 20000
under-1.0 20000
*curl-8.4.0 500000
mixed 500
mixed-1.0 500
nixos-manual-html 300000 manual
nixos-help 3000
python3.11-requests-2.31.0 400000
foo-1.0 10000 foo
linux-6.6.30 3000000
linux-6.6.30-modules 2000000
linux-6.6.30-modules-shrunk 1000000
zfs-kernel-2.2.4-6.6.30 300000
bash-interactive-5.2-p15 1500000
bash-interactive-5.2-p15-man 50000
hello-2.12.1 50000 hello
big-1.0 1048576
quirk-1.0 10000
firefox-121.0 9000000
`
	afterD = `
nixos-system-web1-24.05.20240201.bbbbbbb 216
*openssl-3.0.13 800512
openssl-3.0.13-bin 100000
kdeconnect-kde-20.08.2 6757000
libfoo-1.1 40000 libfoo
libfoo-1.4 40000
edge-1.0 28192
under-1.0 28191
*curl-8.4.0 509000
nixos-manual-html 300000 manual
nixos-help 3000
nixos-manpages 20000
python3.12-requests-2.31.0 400000
foo-1.0 10000 foo
foo-1.0 10000
linux-6.6.31 3000000
linux-6.6.31-modules 2000000
linux-6.6.31-modules-shrunk 1000000
zfs-kernel-2.2.4-6.6.31 300000
bash-interactive-5.2p26 1500000
bash-interactive-5.2p26-man 50000
hello-2.12.1 50000 hello
unit-sshd-.service 1000
big-1.0 3198976
quirk-1.0 1059599
*firefox-120.0 8900000
`
)

func TestDiffGolden(t *testing.T) {
	d := closure.Compare(side(t, "b", beforeD), side(t, "a", afterD))
	same := closure.Compare(side(t, "b", beforeD), side(t, "b", beforeD))
	tests := []struct {
		file string
		got  func() string
	}{
		{"diff-D.txt", func() string { var b bytes.Buffer; DiffText(&b, d); return b.String() }},
		{"diff-D-color.txt", func() string {
			var b bytes.Buffer
			WriteDiffText(&b, d, DiffTextOptions{Color: true})
			return b.String()
		}},
		{"diff-D.md", func() string { return DiffMarkdown(d) }},
		{"diff-identical.txt", func() string { var b bytes.Buffer; DiffText(&b, same); return b.String() }},
		{"diff-identical.md", func() string { return DiffMarkdown(same) }},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) { golden(t, tt.file, tt.got()) })
	}
}

// TestDiffMarkdownUntrusted: names and versions cannot break the table,
// inject HTML or links, or escape their code span, whatever they contain.
func TestDiffMarkdownUntrusted(t *testing.T) {
	evil := []string{
		"a|b", "<script>alert(1)</script>", "x`y", "``", "[link](https://evil.example)",
		"**bold**", "line\nbreak", "<img src=x onerror=alert(1)>", " lead", "www.evil.example",
	}
	d := &closure.Diff{}
	for _, e := range evil {
		d.Changes = append(d.Changes, closure.Change{
			Name: e, Kind: closure.Added,
			After:         []closure.Version{{Version: e, Outputs: []string{"out", e}, Paths: 1}},
			AddedVersions: []string{e},
		})
	}
	md := DiffMarkdown(d)
	golden(t, "diff-untrusted.md", md)
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "| added") {
			continue
		}
		cells := strings.Split(strings.ReplaceAll(line, `\|`, ""), "|")
		assert.Len(t, cells, 7, "a row has 5 cells: %s", line)
		for _, cell := range cells[1:6] {
			assert.NotContains(t, outsideCode(cell), "<", line)
			assert.NotContains(t, outsideCode(cell), "[", line)
		}
	}
}

// outsideCode drops code spans from a table cell.
func outsideCode(cell string) string {
	var b strings.Builder
	for i := 0; i < len(cell); {
		if cell[i] != '`' {
			b.WriteByte(cell[i])
			i++
			continue
		}
		n := 0
		for i+n < len(cell) && cell[i+n] == '`' {
			n++
		}
		fence := cell[i : i+n]
		end := strings.Index(cell[i+n:], fence)
		for end >= 0 && i+n+end+n < len(cell) && cell[i+n+end+n] == '`' {
			next := strings.Index(cell[i+n+end+1:], fence)
			if next < 0 {
				end = -1
				break
			}
			end += 1 + next
		}
		if end < 0 {
			b.WriteString(cell[i:])
			break
		}
		i += n + end + n
	}
	return b.String()
}

func TestSize(t *testing.T) {
	for v, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", -1536: "-1.5 KiB", 17_400_000: "16.6 MiB", 3 << 40: "3.0 TiB",
	} {
		assert.Equal(t, want, size(v), v)
	}
	assert.Equal(t, "+1.0 KiB", sizeDelta(1024))
	assert.Equal(t, "+0 B", sizeDelta(0))
}
