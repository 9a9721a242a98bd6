package action

import (
	"crypto/rand"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/sethvargo/go-githubactions"
)

// Mask tells the runner to redact secret from the log from now on. Each line
// of a multi-line secret is masked too, because the runner matches masks
// line by line. Call it for every secret before anything else is printed:
// text printed earlier is not redacted.
func (rt *Runtime) Mask(secret string) {
	if strings.TrimSpace(secret) == "" {
		return
	}
	rt.gha.AddMask(secret)
	if !strings.ContainsAny(secret, "\r\n") {
		return
	}
	for _, line := range strings.FieldsFunc(secret, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if strings.TrimSpace(line) != "" {
			rt.gha.AddMask(line)
		}
	}
}

// MaskInputs masks the values of the named inputs (the SSH key, the sudo
// password, the token).
func (rt *Runtime) MaskInputs(names ...string) {
	for _, n := range names {
		rt.Mask(rt.Input(n))
	}
}

// Group starts a collapsible section of the log, up to EndGroup.
func (rt *Runtime) Group(title string) { rt.gha.Group(title) }

// EndGroup ends the section started by Group.
func (rt *Runtime) EndGroup() { rt.gha.EndGroup() }

// Level is the severity of an annotation.
type Level string

// Annotation levels, named as the workflow commands are.
const (
	LevelError   Level = "error"
	LevelWarning Level = "warning"
	LevelNotice  Level = "notice"
)

// Annotation is a message the runner attaches to a file and line of the
// commit (or to the run when File is empty).
type Annotation struct {
	Level     Level
	Title     string
	File      string
	Line      int
	EndLine   int
	Col       int
	EndColumn int
	Message   string
}

// Annotate prints an annotation as a workflow command; the message and the
// properties are escaped so their text cannot end the command early.
func (rt *Runtime) Annotate(a Annotation) {
	props := githubactions.CommandProperties{}
	set := func(k, v string) {
		if v != "" {
			props[k] = v
		}
	}
	num := func(n int) string {
		if n <= 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	set("title", a.Title)
	set("file", a.File)
	set("line", num(a.Line))
	set("endLine", num(a.EndLine))
	set("col", num(a.Col))
	set("endColumn", num(a.EndColumn))
	level := a.Level
	if level == "" {
		level = LevelError
	}
	rt.gha.IssueCommand(&githubactions.Command{Name: string(level), Message: a.Message, Properties: props})
}

// StopCommands makes the runner ignore workflow commands in everything
// printed until resume is called: use it around untrusted text streamed to
// the log, such as build output. The token is random, so the text cannot
// resume command processing itself.
func (rt *Runtime) StopCommands() (resume func() error, err error) {
	tok, err := rt.token()
	if err != nil {
		return nil, fmt.Errorf("stop workflow commands: %w", err)
	}
	if _, err := fmt.Fprintf(rt.out, "::stop-commands::%s\n", tok); err != nil {
		return nil, fmt.Errorf("stop workflow commands: %w", err)
	}
	return func() error {
		if _, err := fmt.Fprintf(rt.out, "::%s::\n", tok); err != nil {
			return fmt.Errorf("resume workflow commands: %w", err)
		}
		return nil
	}, nil
}

// Untrusted prints text that may hold anything (package names, PR titles,
// remote output) so that no line of it can act as a workflow command.
func (rt *Runtime) Untrusted(text string) error {
	tok, err := rt.token()
	if err != nil {
		return fmt.Errorf("print untrusted text: %w", err)
	}
	for strings.Contains(text, tok) {
		if tok, err = rt.token(); err != nil {
			return fmt.Errorf("print untrusted text: %w", err)
		}
	}
	if text != "" && !strings.HasSuffix(text, "\n") {
		// The resume token only counts at the start of a line.
		text += "\n"
	}
	if _, err := fmt.Fprintf(rt.out, "::stop-commands::%s\n%s::%s::\n", tok, text, tok); err != nil {
		return fmt.Errorf("print untrusted text: %w", err)
	}
	return nil
}

// Untrusted is Runtime.Untrusted for any writer.
func Untrusted(w io.Writer, text string) error {
	return (&Runtime{out: w, random: rand.Reader}).Untrusted(text)
}
