// Package exit is the one table of process exit codes used by every command.
//
// Core packages never import this one: an error opts into a code by having
// an ExitCode() int method, and Code walks the wrapped chain to find it.
package exit

import (
	"context"
	"errors"
	"fmt"
)

// The exit codes, documented for users in docs/exit-codes.md.
const (
	OK             = 0   // every node deployed or unchanged; the command did what was asked
	Failure        = 1   // something failed (build, transfer, unreachable node, ...)
	Usage          = 2   // invalid input or usage: bad flags, an invalid plan
	RolledBack     = 3   // at least one node was rolled back
	RollbackFailed = 4   // at least one rollback failed: a node needs a human
	Cancelled      = 130 // interrupted (SIGINT/SIGTERM)
)

// Coder is implemented by errors that know their exit code.
type Coder interface{ ExitCode() int }

// Code maps an error to the process exit code.
func Code(err error) int {
	if err == nil {
		return OK
	}
	var c Coder
	if errors.As(err, &c) {
		return c.ExitCode()
	}
	if errors.Is(err, context.Canceled) {
		return Cancelled
	}
	return Failure
}

// UsageError is bad input from the user: exit 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }
func (e *UsageError) ExitCode() int { return Usage }

// Usagef returns a UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// WithCode attaches an explicit exit code to err.
func WithCode(code int, err error) error { return &codeError{code: code, err: err} }

type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }
func (e *codeError) ExitCode() int { return e.code }
