package nix

import "strings"

// StoreDir is the Nix store every supported deployment uses.
const StoreDir = "/nix/store"

// IsStorePath reports whether p is a top-level store path:
// /nix/store/<32 base-32 chars>-<name>.
func IsStorePath(p string) bool {
	rest, ok := strings.CutPrefix(p, StoreDir+"/")
	if !ok || len(rest) < 34 || rest[32] != '-' {
		return false
	}
	for i := 0; i < 32; i++ {
		if !strings.ContainsRune(nixBase32, rune(rest[i])) {
			return false
		}
	}
	name := rest[33:]
	if name == "" || strings.ContainsRune(name, '/') {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("+-._?=", c)) {
			return false
		}
	}
	return true
}

// nixBase32 is Nix's base-32 alphabet (no e, o, u, t).
const nixBase32 = "0123456789abcdfghijklmnpqrsvwxyz"
