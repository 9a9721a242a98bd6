package action

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"unicode/utf8"
)

// SummaryLimit is the most a step may write to its job summary: 1 MiB, over
// which the runner drops the whole summary with an error annotation.
const SummaryLimit = 1 << 20

// summaryTruncated ends a summary cut at SummaryLimit.
const summaryTruncated = "\n\n> [!WARNING]\n> The rest of this summary was cut: GitHub keeps at most 1 MiB of summary per step.\n"

var outputName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// SetOutput sets a step output through the GITHUB_OUTPUT file, as
// `name<<delimiter`, the value, `delimiter`. The delimiter is random per
// value and checked absent from it, so a value (a diff, a package name)
// cannot end itself early and forge other outputs.
func (rt *Runtime) SetOutput(name, value string) error {
	if !outputName.MatchString(name) {
		return fmt.Errorf("set output %q: not a valid output name", name)
	}
	var delim string
	for {
		tok, err := rt.token()
		if err != nil {
			return fmt.Errorf("set output %s: %w", name, err)
		}
		delim = "ghadelimiter_" + tok
		if !strings.Contains(value, delim) {
			break
		}
	}
	record := name + "<<" + delim + "\n" + value + "\n" + delim + "\n"
	if err := rt.appendFile("GITHUB_OUTPUT", record); err != nil {
		return fmt.Errorf("set output %s: %w", name, err)
	}
	return nil
}

// AddSummary appends markdown to the step's job summary (GITHUB_STEP_SUMMARY).
// What would go past SummaryLimit is cut at a line boundary and replaced by
// a note saying so; once the summary is full, further markdown is dropped.
func (rt *Runtime) AddSummary(markdown string) error {
	path := rt.getenv("GITHUB_STEP_SUMMARY")
	if path == "" {
		return errors.New("add job summary: GITHUB_STEP_SUMMARY is not set")
	}
	var used int64
	if fi, err := os.Stat(path); err == nil {
		used = fi.Size()
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("add job summary: %w", err)
	}
	text := fitSummary(markdown, SummaryLimit-int(used))
	if text == "" {
		return nil
	}
	if err := rt.appendFile("GITHUB_STEP_SUMMARY", text); err != nil {
		return fmt.Errorf("add job summary: %w", err)
	}
	return nil
}

// fitSummary returns markdown if it fits in budget bytes, else its longest
// prefix ending at a line (or at least a UTF-8 boundary) followed by the
// truncation note, else "".
func fitSummary(markdown string, budget int) string {
	if len(markdown) <= budget {
		return markdown
	}
	room := budget - len(summaryTruncated)
	if room < 0 {
		return ""
	}
	cut := markdown[:room]
	if i := strings.LastIndexByte(cut, '\n'); i >= 0 {
		cut = cut[:i]
	} else {
		for len(cut) > 0 && !utf8.RuneStart(markdown[len(cut)]) {
			cut = cut[:len(cut)-1]
		}
	}
	return cut + summaryTruncated
}

// appendFile appends to the runner file named by env.
func (rt *Runtime) appendFile(env, text string) error {
	path := rt.getenv(env)
	if path == "" {
		return fmt.Errorf("%s is not set", env)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
