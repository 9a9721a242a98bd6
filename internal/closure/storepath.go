package closure

import "strings"

// StoreDir is the Nix store every supported deployment uses.
const StoreDir = "/nix/store"

// nixBase32 is Nix's base-32 alphabet (no e, o, u, t).
const nixBase32 = "0123456789abcdfghijklmnpqrsvwxyz"

// IsStorePath reports whether p is a top-level store path,
// /nix/store/<32 base-32 chars>-<name>, with a name of the characters Nix
// allows. Anything that reaches a remote command line or the agent is
// checked with this first, so it can carry no shell syntax.
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
	for _, c := range rest[33:] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("+-._?=", c)) {
			return false
		}
	}
	return true
}
