// Package closure compares two runtime closures the way `nix store
// diff-closures` does: store paths are grouped by package name, and each
// name's versions, sizes and path counts are compared. It is pure: reading a
// closure from a store is the nix adapter's job.
package closure

import "strings"

// BaseName returns the name part of a store path: the text after the store
// directory and the 32-character hash. It also accepts a bare "<hash>-<name>"
// base name (the keys of `nix path-info --json` version 2).
func BaseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		p = p[i+1:]
	}
	if len(p) > 33 && p[32] == '-' && isHash(p[:32]) {
		return p[33:]
	}
	return p
}

// base32 marks Nix's base-32 digits (no e, o, u, t).
var base32 = func() (t [256]bool) {
	for _, c := range "0123456789abcdfghijklmnpqrsvwxyz" {
		t[c] = true
	}
	return t
}()

func isHash(s string) bool {
	for i := 0; i < len(s); i++ {
		if !base32[s[i]] {
			return false
		}
	}
	return true
}

// SplitOutput removes an output-like suffix from a store name, as Nix does
// before parsing: the text after the last '-' when it is only lowercase ASCII
// letters, or exactly "lib32" or "lib64". Nix cannot tell an output name from
// a word like "unstable" or "rc", so neither can we: parity matters more.
func SplitOutput(name string) (base, output string) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name, ""
	}
	s := name[i+1:]
	if s == "lib32" || s == "lib64" || isLower(s) {
		return name[:i], s
	}
	return name, ""
}

func isLower(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

// DrvName splits a name into package name and version the way Nix's DrvName
// does: the name ends at the first '-' that is followed by something other
// than an ASCII letter. Without such a dash the version is empty.
func DrvName(s string) (name, version string) {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '-' && !isAlpha(s[i+1]) {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// Key is how a store path is grouped: its package name, version and the
// output suffix that was stripped (empty for none).
type Key struct {
	Name    string
	Version string
	Output  string
}

// KeyOf parses a store path (or base name) into its grouping key. A ".drv"
// suffix gets no special treatment, as in Nix.
func KeyOf(path string) Key {
	base, out := SplitOutput(BaseName(path))
	name, version := DrvName(base)
	return Key{Name: name, Version: version, Output: out}
}
