package closure

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// SizeStyle is how `nix store diff-closures` prints a size change; it
// changed in Nix 2.33.
type SizeStyle int

const (
	// Legacy is Nix 2.4 to 2.32 and Lix: "%+.1f KiB" ("+2100.0 KiB").
	Legacy SizeStyle = iota
	// Modern is Nix 2.33 and later: a unit that fits and no plus sign
	// ("2.1 MiB").
	Modern
)

func (s SizeStyle) String() string {
	if s == Modern {
		return "modern"
	}
	return "legacy"
}

// The colours Nix writes around a size change, whatever stdout is.
const (
	ansiGrow   = "\x1b[31;1m"
	ansiShrink = "\x1b[32;1m"
	ansiReset  = "\x1b[0m"
)

// FormatSize renders a size change as diff-closures does in the given style.
func FormatSize(delta int64, style SizeStyle) string {
	if style == Modern {
		return renderSize(delta)
	}
	return fmt.Sprintf("%+.1f KiB", float64(delta)/1024)
}

// renderSize is Nix 2.33's renderSize: the unit is picked by repeated
// integer division, so 1025 KiB minus one byte is still shown in KiB.
func renderSize(v int64) string {
	const units = "KKMGTPEZY"
	a := uint64(v)
	if v < 0 {
		a = uint64(-v)
	}
	k := 0
	for a > 1024 && k < len(units)-1 {
		k++
		a /= 1024
	}
	value := float64(v) / math.Pow(1024, float64(max(1, k)))
	return fmt.Sprintf("%.1f %ciB", value, units[k])
}

// Nix renders the diff exactly as `nix store diff-closures` prints it,
// without colour: one line per name whose versions changed or whose size
// changed by at least 8 KiB; nothing when nothing changed.
func (d *Diff) Nix(style SizeStyle) string { return d.nix(style, false) }

// NixANSI is Nix with the colour codes Nix writes around sizes.
func (d *Diff) NixANSI(style SizeStyle) string { return d.nix(style, true) }

func (d *Diff) nix(style SizeStyle, color bool) string {
	var b strings.Builder
	for i := range d.Changes {
		c := &d.Changes[i]
		if !c.InNix() {
			continue
		}
		var items []string
		if c.VersionsChanged() {
			items = append(items, showVersions(c.RemovedVersions)+" → "+showVersions(c.AddedVersions))
		}
		if c.SizeShown() {
			size := FormatSize(c.SizeDelta, style)
			if color {
				col := ansiShrink
				if c.SizeDelta > 0 {
					col = ansiGrow
				}
				size = col + size + ansiReset
			}
			items = append(items, size)
		}
		b.WriteString(c.Name)
		b.WriteString(": ")
		b.WriteString(strings.Join(items, ", "))
		b.WriteByte('\n')
	}
	return b.String()
}

// showVersions is Nix's rendering of a version set: ∅ when empty, the empty
// version as ε, sorted bytewise after that substitution (so ε comes last).
func showVersions(vs []string) string {
	if len(vs) == 0 {
		return "∅"
	}
	shown := make([]string, len(vs))
	for i, v := range vs {
		shown[i] = ShowVersion(v)
	}
	sort.Strings(shown)
	return strings.Join(shown, ", ")
}

// ShowVersion renders one version as Nix does: ε for the empty one.
func ShowVersion(v string) string {
	if v == "" {
		return "ε"
	}
	return v
}
