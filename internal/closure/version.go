package closure

import "strconv"

// CompareVersions orders two version strings with Nix's semantics
// (builtins.compareVersions, nix-env -u): -1, 0 or 1.
//
// Versions are split into components, skipping '.' and '-'; a component is
// a run of digits or a run of other characters. Components compare as
// integers when both fit in an int32, otherwise: "" < a number, "pre" <
// anything else, a string < a number, and bytewise as a last resort.
func CompareVersions(a, b string) int {
	for a != "" || b != "" {
		var ca, cb string
		ca, a = nextComponent(a)
		cb, b = nextComponent(b)
		if componentLess(ca, cb) {
			return -1
		}
		if componentLess(cb, ca) {
			return 1
		}
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isSep(c byte) bool { return c == '.' || c == '-' }

// nextComponent returns the next component of v and what follows it.
func nextComponent(v string) (comp, rest string) {
	i := 0
	for i < len(v) && isSep(v[i]) {
		i++
	}
	start := i
	if i < len(v) && isDigit(v[i]) {
		for i < len(v) && isDigit(v[i]) {
			i++
		}
	} else {
		for i < len(v) && !isDigit(v[i]) && !isSep(v[i]) {
			i++
		}
	}
	return v[start:i], v[i:]
}

// asInt32 parses a component as Nix does (a C++ int); components that do not
// fit are strings.
func asInt32(c string) (int64, bool) {
	if c == "" || !isDigit(c[0]) {
		return 0, false
	}
	n, err := strconv.ParseInt(c, 10, 32)
	return n, err == nil
}

func componentLess(a, b string) bool {
	na, aNum := asInt32(a)
	nb, bNum := asInt32(b)
	switch {
	case aNum && bNum:
		return na < nb
	case a == "" && bNum:
		return true
	case a == "pre" && b != "pre":
		return true
	case b == "pre":
		return false
	case bNum:
		return true
	case aNum:
		return false
	default:
		return a < b
	}
}
