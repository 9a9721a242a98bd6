package report

import (
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// SummaryLimit is GitHub's limit on a check run's output.summary: 65,535
// characters, counted here as UTF-8 bytes, the stricter reading.
const SummaryLimit = 65535

// DescriptionLimit is GitHub's limit on commit and deployment status
// descriptions, in characters.
const DescriptionLimit = 140

// AnnotationsPerRequest is the most annotations one check run request may
// carry; more are sent by further updates, which append.
const AnnotationsPerRequest = 50

var timeZero time.Time

func isNotPermitted(err error) bool { return errors.Is(err, ErrNotPermitted) }

const cutNote = "\n\n> [!NOTE]\n> The rest was cut to fit GitHub's size limit; see the job summary.\n"

// fit returns s if it is at most limit bytes, else its longest prefix that
// ends a line (or at least a character) followed by a note saying it was cut.
func fit(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	room := max(0, limit-len(cutNote))
	cut := s[:room]
	if i := strings.LastIndexByte(cut, '\n'); i > 0 {
		cut = cut[:i]
	}
	for len(cut) > 0 && !utf8.ValidString(cut) {
		cut = cut[:len(cut)-1]
	}
	return cut + cutNote
}

// shorten cuts s to n characters with an ellipsis, on one line.
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// codeBlock fences untrusted text so it cannot close the fence or turn
// into markdown or HTML.
func codeBlock(s string) string {
	fence := "```"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	return fence + "\n" + strings.TrimRight(s, "\n") + "\n" + fence + "\n"
}

// inlineCode renders untrusted one-line text as inline code.
func inlineCode(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	ticks := "`"
	for strings.Contains(s, ticks) {
		ticks += "`"
	}
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	return ticks + pad + s + pad + ticks
}
