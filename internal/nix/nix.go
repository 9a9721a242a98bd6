// Package nix is the adapter that runs the nix command line and parses its
// output. Output formats differ between Nix versions (2.8 in our tests,
// 2.18–2.3x and Lix for users); every parser here accepts all of them and
// never panics on anything else.
package nix

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
)

// experimental is passed to every nix invocation: flakes and the nix command
// are experimental in the Nix versions we support, and extra- is additive so
// it never overrides a user's settings.
var experimental = []string{"--extra-experimental-features", "nix-command flakes"}

// noEvalCache goes to every build. We run one nix per profile, in
// parallel, on the same flake; Nix's evaluation cache is one SQLite file
// per flake, and concurrent evaluations through it fail at random with
// "attribute '...' is unexpectedly missing" (seen with Nix 2.8 here).
// Builds are cached in the store anyway; only re-evaluation costs more.
var noEvalCache = []string{"--option", "eval-cache", "false"}

// Nix runs the nix command line.
type Nix struct {
	// Bin is the nix executable; "nix" when empty.
	Bin string
	// Args go to every nix invocation after the command's own arguments
	// (the plan's `-- --override-input ...` passthrough); nix accepts
	// options there, and not all of them before the subcommand.
	Args []string
	// Dir is the working directory for nix; the current one when empty.
	Dir string
}

func (n *Nix) bin() string {
	if n.Bin == "" {
		return "nix"
	}
	return n.Bin
}

// Error is a failed nix invocation with the tail of what it printed.
type Error struct {
	Args []string
	Err  error
	Tail []string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("nix %s: %v", strings.Join(e.Args, " "), e.Err)
	if len(e.Tail) > 0 {
		msg += "\n" + strings.Join(e.Tail, "\n")
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// tailLines is how much of a failing command's log an error carries.
const tailLines = 25

// run runs nix with args; stderr lines go to logLine (when not nil) and the
// last lines are kept for the error. It returns stdout.
func (n *Nix) run(ctx context.Context, args []string, logLine func(string)) ([]byte, error) {
	full := append(append(append([]string{}, experimental...), args...), n.Args...)
	cmd := exec.CommandContext(ctx, n.bin(), full...)
	cmd.Dir = n.Dir
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	tail := newRing(tailLines)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			tail.add(line)
			if logLine != nil {
				logLine(line)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	wg.Wait()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &Error{Args: args, Err: err, Tail: tail.lines()}
	}
	return stdout.Bytes(), nil
}

// ring keeps the last n lines.
type ring struct {
	mu  sync.Mutex
	buf []string
	n   int
}

func newRing(n int) *ring { return &ring{n: n} }

func (r *ring) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = append(r.buf, s)
	if len(r.buf) > r.n {
		r.buf = r.buf[len(r.buf)-r.n:]
	}
}

func (r *ring) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.buf...)
}

// ErrNotFound means the nix executable is missing.
var ErrNotFound = errors.New("nix not found on PATH")
