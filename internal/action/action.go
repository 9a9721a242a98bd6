// Package action is the adapter for the GitHub Actions runtime: inputs from
// INPUT_* variables, the run's context and event payload, outputs and job
// summary through the runner's files, and workflow commands on stdout
// (masks, groups, annotations, stop-commands).
//
// Everything goes through the getenv function and writer given to New, so
// the whole surface is testable byte for byte.
package action

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sethvargo/go-githubactions"
)

// Runtime talks to the GitHub Actions runner of the current step.
type Runtime struct {
	getenv func(string) string
	out    io.Writer
	random io.Reader
	gha    *githubactions.Action
}

// Option configures a Runtime.
type Option func(*Runtime)

// WithRandom replaces the source of heredoc delimiters and stop-commands
// tokens (crypto/rand by default); tests use it to get stable bytes.
func WithRandom(r io.Reader) Option {
	return func(rt *Runtime) { rt.random = r }
}

// New returns a Runtime reading the environment through getenv (os.Getenv in
// production) and writing workflow commands to out (os.Stdout: the runner
// reads commands from the step's output).
func New(getenv func(string) string, out io.Writer, opts ...Option) *Runtime {
	rt := &Runtime{getenv: getenv, out: out, random: rand.Reader}
	for _, o := range opts {
		o(rt)
	}
	rt.gha = githubactions.New(
		githubactions.WithGetenv(githubactions.GetenvFunc(getenv)),
		githubactions.WithWriter(out),
	)
	return rt
}

// InActions reports whether the process runs as a GitHub Actions step.
func (rt *Runtime) InActions() bool { return rt.getenv("GITHUB_ACTIONS") == "true" }

// ErrInput is wrapped by every error about an input's value.
var ErrInput = errors.New("invalid input")

func inputError(name, format string, args ...any) error {
	return fmt.Errorf("input %q: %s: %w", name, fmt.Sprintf(format, args...), ErrInput)
}

// Input returns an input's value, trimmed; "" when it is not set. The runner
// passes input "plan-file" as INPUT_PLAN-FILE (upper-cased, spaces to
// underscores, hyphens kept).
func (rt *Runtime) Input(name string) string { return rt.gha.GetInput(name) }

// Required returns an input that must be set. The runner does not enforce
// `required: true` in action.yml, so the action has to.
func (rt *Runtime) Required(name string) (string, error) {
	v := rt.Input(name)
	if v == "" {
		return "", inputError(name, "required but not set")
	}
	return v, nil
}

// Bool reads a boolean input the way @actions/core does (true, True, TRUE,
// false, False, FALSE); def when unset.
func (rt *Runtime) Bool(name string, def bool) (bool, error) {
	switch v := rt.Input(name); v {
	case "":
		return def, nil
	case "true", "True", "TRUE":
		return true, nil
	case "false", "False", "FALSE":
		return false, nil
	default:
		return false, inputError(name, "%q is not a boolean (true or false)", v)
	}
}

// Duration reads a non-negative Go duration such as "90s" or "5m"; def when
// unset.
func (rt *Runtime) Duration(name string, def time.Duration) (time.Duration, error) {
	v := rt.Input(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, inputError(name, "%q is not a duration such as 30s or 5m", v)
	}
	return d, nil
}

// Int reads an integer input; def when unset.
func (rt *Runtime) Int(name string, def int) (int, error) {
	v := rt.Input(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, inputError(name, "%q is not an integer", v)
	}
	return n, nil
}

// Choice reads an input that must be one of allowed; def when unset.
func (rt *Runtime) Choice(name, def string, allowed ...string) (string, error) {
	v := rt.Input(name)
	if v == "" {
		return def, nil
	}
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", inputError(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
}

// List reads an input holding names separated by commas or newlines, as
// YAML block scalars make natural; empty items are dropped.
func (rt *Runtime) List(name string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(rt.Input(name), func(r rune) bool { return r == ',' || r == '\n' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// token returns a fresh random hex string for delimiters and stop tokens.
func (rt *Runtime) token() (string, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(rt.random, b); err != nil {
		return "", fmt.Errorf("read random token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
