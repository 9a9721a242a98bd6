package ssh

import "strings"

// Quote joins argv into one command line for the remote login shell, so that
// the shell runs exactly argv: words made only of safe characters stay bare
// (readable logs), anything else is single-quoted with ' written as '\”.
// This holds for POSIX shells, bash, zsh and fish; the node user's login
// shell must be one of them.
func Quote(argv ...string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if bare(a) {
			b.WriteString(a)
			continue
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(a, "'", `'\''`))
		b.WriteByte('\'')
	}
	return b.String()
}

// bare reports whether a word means itself to every supported shell: no
// expansion, no assignment (=), no tilde, not a reserved word.
func bare(a string) bool {
	if a == "" || reserved[a] {
		return false
	}
	for _, c := range a {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_./:,+@-", c)) {
			return false
		}
	}
	return true
}

var reserved = map[string]bool{
	"if": true, "then": true, "else": true, "elif": true, "fi": true, "do": true, "done": true,
	"case": true, "esac": true, "while": true, "until": true, "for": true, "in": true,
	"function": true, "select": true, "time": true, "coproc": true, "repeat": true,
	"foreach": true, "end": true, "begin": true, "not": true, "and": true, "or": true,
	"switch": true, "return": true, "nocorrect": true, "noglob": true, "exec": true,
}
