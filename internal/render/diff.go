package render

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
)

// DiffTextOptions tune the terminal view of a closure diff.
type DiffTextOptions struct {
	// Color adds ANSI colours (markers, sizes); only for terminals.
	Color bool
}

// DiffText writes the terminal view of a closure diff without colour.
func DiffText(w io.Writer, d *closure.Diff) { WriteDiffText(w, d, DiffTextOptions{}) }

// section is one kind of change in display order.
type section struct {
	kind   closure.Kind
	title  string
	marker string
	color  string
}

var sections = []section{
	{closure.Upgrade, "Upgraded", "U", "\x1b[32m"},
	{closure.Downgrade, "Downgraded", "D", "\x1b[31m"},
	{closure.Added, "Added", "A", "\x1b[36m"},
	{closure.Removed, "Removed", "R", "\x1b[35m"},
	{closure.Changed, "Changed", "C", "\x1b[33m"},
}

const (
	ansiBold  = "\x1b[1m"
	ansiReset = "\x1b[0m"
)

// diffRow is one visible change, ready for either view. Text is unescaped.
type diffRow struct {
	selected      bool
	name          string
	before, after []string
	note          string
	rebuilt       bool
	delta         int64
}

// versions is "old → new", or one side alone where the other says nothing
// (additions, removals, rebuilds).
func (r diffRow) versions() string {
	switch {
	case r.rebuilt || len(r.before) == 0:
		return listOrNone(r.after)
	case len(r.after) == 0:
		return listOrNone(r.before)
	}
	return listOrNone(r.before) + " → " + listOrNone(r.after)
}

func listOrNone(vs []string) string {
	if len(vs) == 0 {
		return "∅"
	}
	return strings.Join(vs, ", ")
}

// rowsByKind groups the visible changes; selected packages come first,
// then names in bytewise order.
func rowsByKind(d *closure.Diff) map[closure.Kind][]diffRow {
	rows := map[closure.Kind][]diffRow{}
	for i := range d.Changes {
		c := d.Changes[i]
		if !c.Visible() {
			continue
		}
		rows[c.Kind] = append(rows[c.Kind], newRow(c))
	}
	for _, rs := range rows {
		sort.SliceStable(rs, func(i, j int) bool {
			if rs[i].selected != rs[j].selected {
				return rs[i].selected
			}
			return rs[i].name < rs[j].name
		})
	}
	return rows
}

func newRow(c closure.Change) diffRow {
	r := diffRow{selected: c.Selected, name: c.Name, delta: c.SizeDelta}
	for _, v := range c.Before {
		if contains(c.RemovedVersions, v.Version) {
			r.before = append(r.before, versionText(v, false))
		}
	}
	for _, v := range c.After {
		if contains(c.AddedVersions, v.Version) {
			r.after = append(r.after, versionText(v, false))
		}
	}
	var counts []string
	for _, name := range c.CommonVersions {
		b, a := findVersion(c.Before, name), findVersion(c.After, name)
		if b.Paths != a.Paths {
			r.before = append(r.before, versionText(b, true))
			r.after = append(r.after, versionText(a, true))
			counts = append(counts, name)
		}
	}
	unchanged := len(c.CommonVersions) - len(counts)
	switch {
	case len(r.before) == 0 && len(r.after) == 0:
		// Same versions, same counts: rebuilt with a size change.
		for _, v := range c.After {
			r.before = append(r.before, versionText(v, false))
		}
		r.after = r.before
		r.rebuilt = true
		r.note = "rebuilt"
	case unchanged > 0 && c.VersionsChanged():
		r.note = fmt.Sprintf("%d unchanged", unchanged)
	}
	return r
}

func contains(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

func findVersion(vs []closure.Version, v string) closure.Version {
	for _, x := range vs {
		if x.Version == v {
			return x
		}
	}
	return closure.Version{Version: v}
}

// versionText is "3.0.12", "3.0.12 (bin, dev, out)" when there are outputs
// other than out, and "1.0 ×2" when counting copies.
func versionText(v closure.Version, count bool) string {
	s := v.Version
	if s == "" {
		s = "<none>"
	}
	if len(v.Outputs) > 1 || len(v.Outputs) == 1 && v.Outputs[0] != "out" {
		s += " (" + strings.Join(v.Outputs, ", ") + ")"
	}
	if count {
		s += fmt.Sprintf(" ×%d", v.Paths)
	}
	return s
}

// WriteDiffText writes the terminal view: one section per kind of change
// (upgrades, downgrades, additions, removals, other changes) with a marker
// per package ("*" for selected packages, which come first), versions with
// their outputs, copy counts and size changes, then a summary line.
func WriteDiffText(w io.Writer, d *closure.Diff, o DiffTextOptions) {
	paint := func(color, s string) string {
		if !o.Color || color == "" {
			return s
		}
		return color + s + ansiReset
	}
	rows := rowsByKind(d)
	// Columns line up, but one long row does not push every size far right.
	const maxVersionWidth = 40
	nameWidth, versionWidth := 0, 0
	for _, rs := range rows {
		for _, r := range rs {
			nameWidth = max(nameWidth, utf8.RuneCountInString(r.name))
			versionWidth = max(versionWidth, min(maxVersionWidth, utf8.RuneCountInString(r.versions())))
		}
	}
	for _, s := range sections {
		rs := rows[s.kind]
		if len(rs) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s\n", paint(ansiBold, fmt.Sprintf("%s (%d):", s.title, len(rs))))
		for _, r := range rs {
			sel := " "
			if r.selected {
				sel = "*"
			}
			line := fmt.Sprintf("[%s%s] %s  %s", paint(s.color, s.marker), sel, pad(r.name, nameWidth), pad(r.versions(), versionWidth))
			if r.delta != 0 {
				line += "  " + paint(sizeColor(r.delta), fmt.Sprintf("%10s", sizeDelta(r.delta)))
			}
			if r.note != "" {
				line += "  (" + r.note + ")"
			}
			fmt.Fprintln(w, strings.TrimRight(line, " "))
		}
	}
	fmt.Fprintln(w, summaryLine(d))
}

func sizeColor(delta int64) string {
	if delta > 0 {
		return "\x1b[31m"
	}
	return "\x1b[32m"
}

func pad(s string, width int) string {
	if n := utf8.RuneCountInString(s); n < width {
		return s + strings.Repeat(" ", width-n)
	}
	return s
}

// summaryLine is "Closure: 26 → 25 paths (+21, -22), 17.4 MiB → 20.2 MiB
// (+2.8 MiB); 6 upgraded, 3 added, 3 removed, 6 changed".
func summaryLine(d *closure.Diff) string {
	s := d.Summary
	line := fmt.Sprintf("Closure: %d → %d paths (+%d, -%d), %s → %s (%s)",
		s.PathsBefore, s.PathsAfter, s.PathsAdded, s.PathsRemoved, size(s.SizeBefore), size(s.SizeAfter), sizeDelta(s.SizeDelta))
	if counts := kindCounts(s); counts != "" {
		line += "; " + counts
	}
	if hidden := hiddenRebuilds(d); hidden > 0 {
		line += fmt.Sprintf("; %d rebuilt with under 8 KiB of change not shown", hidden)
	}
	return line
}

func kindCounts(s closure.Summary) string {
	var parts []string
	for _, c := range []struct {
		n    int
		word string
	}{{s.Upgrades, "upgraded"}, {s.Downgrades, "downgraded"}, {s.Additions, "added"}, {s.Removals, "removed"}, {s.Others, "changed"}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.word))
		}
	}
	return strings.Join(parts, ", ")
}

func hiddenRebuilds(d *closure.Diff) int {
	n := 0
	for i := range d.Changes {
		if !d.Changes[i].Visible() {
			n++
		}
	}
	return n
}

// size renders bytes with binary units: "512 B", "17.4 MiB".
func size(v int64) string {
	if v < 0 {
		return "-" + size(-v)
	}
	if v < 1024 {
		return fmt.Sprintf("%d B", v)
	}
	f, i := float64(v), 0
	const units = "KMGTPE"
	for f >= 1024 && i < len(units) {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, units[i-1])
}

// sizeDelta is size with an explicit sign.
func sizeDelta(v int64) string {
	if v < 0 {
		return size(v)
	}
	return "+" + size(v)
}

// DiffMarkdown renders a closure diff for a PR comment: a summary line and
// a table of visible changes. Package names and versions come from store
// paths, which may come from an untrusted build: every one is a code span
// (no links, HTML or emphasis inside) with '|' escaped for the table.
func DiffMarkdown(d *closure.Diff) string {
	var b strings.Builder
	s := d.Summary
	fmt.Fprintf(&b, "**Closure:** %d → %d paths (+%d, -%d), %s → %s (%s)",
		s.PathsBefore, s.PathsAfter, s.PathsAdded, s.PathsRemoved, size(s.SizeBefore), size(s.SizeAfter), sizeDelta(s.SizeDelta))
	if counts := kindCounts(s); counts != "" {
		b.WriteString(" · " + counts)
	}
	b.WriteString("\n")
	rows := rowsByKind(d)
	if len(rows) == 0 {
		b.WriteString("\nNo package changes.\n")
		return b.String()
	}
	b.WriteString("\n| | Package | Before | After | Size Δ |\n|---|---|---|---|--:|\n")
	anySelected := false
	for _, sec := range sections {
		for _, r := range rows[sec.kind] {
			name := code(r.name)
			if r.selected {
				name = "**" + name + "**"
				anySelected = true
			}
			after := mdList(r.after)
			if r.note != "" {
				after += " (" + r.note + ")"
			}
			delta := ""
			if r.delta != 0 {
				delta = sizeDelta(r.delta)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", strings.ToLower(sec.title), name, mdList(r.before), after, delta)
		}
	}
	if hidden := hiddenRebuilds(d); hidden > 0 {
		fmt.Fprintf(&b, "\n%d package(s) rebuilt with under 8 KiB of change are not shown.\n", hidden)
	}
	if anySelected {
		b.WriteString("\n**Bold**: packages the system installs directly (its `sw` references).\n")
	}
	return b.String()
}

func mdList(vs []string) string {
	if len(vs) == 0 {
		return "∅"
	}
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = code(v)
	}
	return strings.Join(parts, ", ")
}

// code makes untrusted text a Markdown code span that is safe in a table
// cell: the fence is longer than any run of backticks inside, '|' is
// escaped (GitHub splits cells before parsing code spans), and line breaks
// and control characters become spaces.
func code(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.ReplaceAll(s, "|", `\|`)
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if longest > 0 || strings.HasPrefix(s, " ") || strings.HasSuffix(s, " ") {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}
