package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem in a plan (or in a deploy-rs node list), at a
// position in a file and a field path such as nodes.web1.profiles.app.user.
type Error struct {
	File         string
	Line, Column int
	Field        string
	Msg          string
}

// Error renders "FILE:LINE:COL: FIELD: msg", the format editors and
// GitHub problem matchers understand. Unknown parts are left out.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one run, sorted by position.
type Errors []*Error

// Error renders one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// ExitCode makes an invalid plan an input error (exit 2) without this
// package knowing the exit table.
func (es Errors) ExitCode() int { return 2 }

// sorted orders problems by file and position and drops repeats at the same
// spot (a bad default can be reported once per node that inherits it).
func (es Errors) sorted() Errors {
	out := slices.Clone(es)
	slices.SortStableFunc(out, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
		)
	})
	return slices.CompactFunc(out, func(a, b *Error) bool {
		return a.File == b.File && a.Line == b.Line && a.Column == b.Column && a.Field == b.Field
	})
}
