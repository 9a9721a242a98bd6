package closure

import (
	"slices"
	"sort"
	"strings"
)

// Path is one store path of a closure with its NAR size in bytes.
type Path struct {
	Path    string `json:"path"`
	NarSize int64  `json:"narSize"`
}

// Closure is the runtime closure of Root (Root included).
type Closure struct {
	Root  string `json:"root"`
	Paths []Path `json:"paths"`
	// Selected are the store paths the user "installed": the references of
	// <root>/sw when the root has one (a NixOS system), else of the root.
	Selected []string `json:"selected,omitempty"`
}

// SizeThreshold is the smallest size change Nix shows: |delta| >= 8 KiB
// (inclusive, although Nix's manual says "more than").
const SizeThreshold = 8 * 1024

// Kind classifies a changed package name.
type Kind string

// The kinds of change, judged with CompareVersions on the versions that
// changed (versions present on both sides are left out).
const (
	Upgrade   Kind = "upgrade"
	Downgrade Kind = "downgrade"
	Added     Kind = "added"
	Removed   Kind = "removed"
	// Changed is anything else: mixed or unordered version changes,
	// rebuilds, size or path-count changes.
	Changed Kind = "changed"
)

// Version is one version of a package name on one side of a diff.
type Version struct {
	Version string `json:"version"`
	// Outputs are the output suffixes of its paths, bytewise sorted; "out"
	// stands for a path without a suffix.
	Outputs []string `json:"outputs"`
	Paths   int      `json:"paths"`
	NarSize int64    `json:"narSize"`
}

// Change is one package name whose store paths differ between the sides.
type Change struct {
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// RemovedVersions and AddedVersions are the versions only before and
	// only after, bytewise sorted; "" is the empty version (Nix's ε).
	RemovedVersions []string `json:"removedVersions"`
	AddedVersions   []string `json:"addedVersions"`
	// CommonVersions exist on both sides.
	CommonVersions []string  `json:"commonVersions"`
	Before         []Version `json:"before"`
	After          []Version `json:"after"`
	PathsBefore    int       `json:"pathsBefore"`
	PathsAfter     int       `json:"pathsAfter"`
	SizeBefore     int64     `json:"sizeBefore"`
	SizeAfter      int64     `json:"sizeAfter"`
	SizeDelta      int64     `json:"sizeDelta"`
	// Selected: one of its paths is a selected path on either side.
	Selected bool `json:"selected"`
}

// VersionsChanged reports whether the set of versions differs.
func (c Change) VersionsChanged() bool {
	return len(c.RemovedVersions) > 0 || len(c.AddedVersions) > 0
}

// SizeShown reports whether the size change reaches Nix's threshold.
func (c Change) SizeShown() bool {
	return c.SizeDelta >= SizeThreshold || c.SizeDelta <= -SizeThreshold
}

// CountChanged reports whether a version common to both sides has a
// different number of paths (an extra copy of the same version), which Nix
// shows only as a size change.
func (c Change) CountChanged() bool {
	for _, v := range c.CommonVersions {
		b, _ := findVersion(c.Before, v)
		a, _ := findVersion(c.After, v)
		if a.Paths != b.Paths {
			return true
		}
	}
	return false
}

// InNix reports whether `nix store diff-closures` prints a line for it.
func (c Change) InNix() bool { return c.VersionsChanged() || c.SizeShown() }

// Visible reports whether it is worth showing to a person: what Nix shows
// plus path-count changes. Rebuilds with a small size change are not.
func (c Change) Visible() bool { return c.InNix() || c.CountChanged() }

func findVersion(vs []Version, v string) (Version, bool) {
	for _, x := range vs {
		if x.Version == v {
			return x, true
		}
	}
	return Version{}, false
}

// Summary is the closure-wide comparison.
type Summary struct {
	PathsBefore  int   `json:"pathsBefore"`
	PathsAfter   int   `json:"pathsAfter"`
	PathsAdded   int   `json:"pathsAdded"`
	PathsRemoved int   `json:"pathsRemoved"`
	SizeBefore   int64 `json:"sizeBefore"`
	SizeAfter    int64 `json:"sizeAfter"`
	SizeDelta    int64 `json:"sizeDelta"`
	// Counts of visible changes by kind.
	Upgrades   int `json:"upgrades"`
	Downgrades int `json:"downgrades"`
	Additions  int `json:"additions"`
	Removals   int `json:"removals"`
	Others     int `json:"others"`
}

// Diff is the comparison of two closures.
type Diff struct {
	BeforeRoot string `json:"beforeRoot"`
	AfterRoot  string `json:"afterRoot"`
	// Changes holds every name whose set of store paths differs, bytewise
	// sorted by name.
	Changes []Change `json:"changes"`
	Summary Summary  `json:"summary"`
}

// Empty reports whether the closures have the same paths.
func (d *Diff) Empty() bool { return len(d.Changes) == 0 }

// group is one name's paths on one side, by version. Most names have one
// version, so a slice beats a map here.
type group struct {
	versions []*Version
	paths    []string
	size     int64
}

func (g *group) version(v string) *Version {
	for _, x := range g.versions {
		if x.Version == v {
			return x
		}
	}
	x := &Version{Version: v}
	g.versions = append(g.versions, x)
	return x
}

type side struct {
	groups   map[string]*group
	paths    map[string]int64
	selected map[string]bool
}

func index(c *Closure) side {
	s := side{groups: map[string]*group{}, paths: map[string]int64{}, selected: map[string]bool{}}
	if c == nil {
		return s
	}
	s.paths = make(map[string]int64, len(c.Paths))
	s.groups = make(map[string]*group, len(c.Paths))
	for _, p := range c.Selected {
		s.selected[p] = true
	}
	for _, p := range c.Paths {
		if _, dup := s.paths[p.Path]; dup {
			continue
		}
		s.paths[p.Path] = p.NarSize
		k := KeyOf(p.Path)
		g := s.groups[k.Name]
		if g == nil {
			g = &group{}
			s.groups[k.Name] = g
		}
		v := g.version(k.Version)
		out := k.Output
		if out == "" {
			out = "out"
		}
		if !slices.Contains(v.Outputs, out) {
			v.Outputs = append(v.Outputs, out)
		}
		v.Paths++
		v.NarSize += p.NarSize
		g.paths = append(g.paths, p.Path)
		g.size += p.NarSize
	}
	return s
}

// Compare diffs two closures. Either may be nil (an empty closure).
func Compare(before, after *Closure) *Diff {
	b, a := index(before), index(after)
	d := &Diff{}
	if before != nil {
		d.BeforeRoot = before.Root
	}
	if after != nil {
		d.AfterRoot = after.Root
	}
	names := make([]string, 0, len(b.groups)+len(a.groups))
	for n := range b.groups {
		names = append(names, n)
	}
	for n := range a.groups {
		if _, ok := b.groups[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		gb, ga := b.groups[n], a.groups[n]
		if gb != nil && ga != nil && samePaths(gb, ga, a.paths) {
			continue
		}
		c := newChange(n, gb, ga)
		c.Selected = anySelected(gb, b.selected) || anySelected(ga, a.selected)
		d.Changes = append(d.Changes, c)
	}
	d.Summary = summarize(b, a, d.Changes)
	return d
}

// samePaths reports whether a name has the same paths on both sides. A
// path's name follows from the path, so gb's paths all being in the after
// closure means they are all in ga.
func samePaths(gb, ga *group, after map[string]int64) bool {
	if len(gb.paths) != len(ga.paths) {
		return false
	}
	for _, p := range gb.paths {
		if _, ok := after[p]; !ok {
			return false
		}
	}
	return true
}

func anySelected(g *group, selected map[string]bool) bool {
	if g == nil || len(selected) == 0 {
		return false
	}
	for _, p := range g.paths {
		if selected[p] {
			return true
		}
	}
	return false
}

func versionsOf(g *group) []Version {
	if g == nil {
		return []Version{}
	}
	vs := make([]Version, 0, len(g.versions))
	for _, v := range g.versions {
		sort.Strings(v.Outputs)
		vs = append(vs, *v)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].Version < vs[j].Version })
	return vs
}

func newChange(name string, gb, ga *group) Change {
	c := Change{
		Name:            name,
		Before:          versionsOf(gb),
		After:           versionsOf(ga),
		RemovedVersions: []string{},
		AddedVersions:   []string{},
		CommonVersions:  []string{},
	}
	if gb != nil {
		c.PathsBefore, c.SizeBefore = len(gb.paths), gb.size
	}
	if ga != nil {
		c.PathsAfter, c.SizeAfter = len(ga.paths), ga.size
	}
	c.SizeDelta = c.SizeAfter - c.SizeBefore
	for _, v := range c.Before {
		if _, ok := findVersion(c.After, v.Version); ok {
			c.CommonVersions = append(c.CommonVersions, v.Version)
		} else {
			c.RemovedVersions = append(c.RemovedVersions, v.Version)
		}
	}
	for _, v := range c.After {
		if _, ok := findVersion(c.Before, v.Version); !ok {
			c.AddedVersions = append(c.AddedVersions, v.Version)
		}
	}
	c.Kind = classify(gb == nil, ga == nil, c.RemovedVersions, c.AddedVersions)
	return c
}

// classify follows nvd's markers with Nix's version order: an upgrade when
// every removed version is older than every added one, a downgrade the other
// way round.
func classify(noBefore, noAfter bool, removed, added []string) Kind {
	switch {
	case noBefore:
		return Added
	case noAfter:
		return Removed
	case len(removed) == 0 || len(added) == 0:
		return Changed
	}
	if allOrdered(removed, added) {
		return Upgrade
	}
	if allOrdered(added, removed) {
		return Downgrade
	}
	return Changed
}

// allOrdered reports whether every version in lo is older than every one in
// hi.
func allOrdered(lo, hi []string) bool {
	for _, l := range lo {
		for _, h := range hi {
			if c, ok := orderVersions(l, h); !ok || c >= 0 {
				return false
			}
		}
	}
	return true
}

// orderVersions is CompareVersions except that two versions differing only
// in a trailing git-hash-like component (7 to 40 hex digits, a letter in at
// least one of them) have no order: hashes say nothing about which commit is
// newer, and all-digit tails are more likely dates.
func orderVersions(a, b string) (int, bool) {
	ra, ha := cutHash(a)
	rb, hb := cutHash(b)
	if ha && hb && ra == rb && (hasHexLetter(a[len(ra):]) || hasHexLetter(b[len(rb):])) {
		return 0, false
	}
	return CompareVersions(a, b), true
}

func cutHash(v string) (rest string, ok bool) {
	i := strings.LastIndexAny(v, ".-")
	h := v[i+1:]
	if len(h) < 7 || len(h) > 40 {
		return v, false
	}
	for j := 0; j < len(h); j++ {
		c := h[j]
		if !isDigit(c) && (c < 'a' || c > 'f') {
			return v, false
		}
	}
	if i < 0 {
		return "", true
	}
	return v[:i], true
}

func hasHexLetter(s string) bool { return strings.ContainsAny(s, "abcdef") }

func summarize(b, a side, changes []Change) Summary {
	s := Summary{PathsBefore: len(b.paths), PathsAfter: len(a.paths)}
	for p, size := range b.paths {
		s.SizeBefore += size
		if _, ok := a.paths[p]; !ok {
			s.PathsRemoved++
		}
	}
	for p, size := range a.paths {
		s.SizeAfter += size
		if _, ok := b.paths[p]; !ok {
			s.PathsAdded++
		}
	}
	s.SizeDelta = s.SizeAfter - s.SizeBefore
	for i := range changes {
		c := &changes[i]
		if !c.Visible() {
			continue
		}
		switch c.Kind {
		case Upgrade:
			s.Upgrades++
		case Downgrade:
			s.Downgrades++
		case Added:
			s.Additions++
		case Removed:
			s.Removals++
		default:
			s.Others++
		}
	}
	return s
}
