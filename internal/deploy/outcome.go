package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Outcome is how a node or profile ended.
type Outcome string

// The outcomes, from DESIGN.md §4. Only Deployed, DryActivated and Unchanged
// are success.
const (
	Deployed       Outcome = "deployed"
	DryActivated   Outcome = "dry-activated" // --mode dry-activate: nothing was changed
	Unchanged      Outcome = "unchanged"     // already at the target path: skipped
	RolledBack     Outcome = "rolled-back"   // Reason says why; the previous generation runs
	RollbackFailed Outcome = "rollback-failed"
	Unreachable    Outcome = "unreachable" // could not connect before anything was changed
	Skipped        Outcome = "skipped"     // not started: an earlier node or profile failed
	Cancelled      Outcome = "cancelled"   // not started or not activated: the deploy was cancelled
	Failed         Outcome = "failed"      // e.g. build, preflight or transfer failed; nothing activated
)

// OK reports whether o is a success.
func (o Outcome) OK() bool { return o == Deployed || o == DryActivated || o == Unchanged }

// Reason says why a profile was rolled back (or failed).
type Reason string

// The rollback reasons.
const (
	ReasonActivationFailed  Reason = "activation-failed"
	ReasonActivationTimeout Reason = "activation-timeout"
	ReasonUnreachable       Reason = "unreachable-after-activation"
	ReasonHealthCheck       Reason = "health-check-failed"
	ReasonDegraded          Reason = "degraded" // switch-to-configuration exit 4: units failed
	ReasonCancelled         Reason = "cancelled"
	// ReasonConfirmTimeout: the node was reachable, but the health checks
	// took longer than the confirm timeout.
	ReasonConfirmTimeout Reason = "confirm-timeout"
	ReasonBootFailed     Reason = "boot-failed"
)

// severity orders outcomes: a node's outcome is its worst profile's.
func (o Outcome) severity() int {
	switch o {
	case Unchanged:
		return 0
	case DryActivated:
		return 1
	case Deployed:
		return 2
	case Skipped:
		return 3
	case Cancelled:
		return 4
	case Unreachable:
		return 5
	case Failed:
		return 6
	case RolledBack:
		return 7
	case RollbackFailed:
		return 8
	}
	return 6
}

// Result is the whole deploy: what `--result FILE` writes.
type Result struct {
	Version     int           `json:"version"`
	ID          string        `json:"id"`
	Environment string        `json:"environment"`
	Mode        string        `json:"mode"`
	Started     time.Time     `json:"started"`
	Duration    Duration      `json:"duration"`
	Nodes       []*NodeResult `json:"nodes"`
	// Cancelled is set when the deploy was interrupted.
	Cancelled bool `json:"cancelled,omitempty"`
	ExitCode  int  `json:"exit_code"`
}

// NodeResult is one node's outcome.
type NodeResult struct {
	Name     string           `json:"name"`
	Host     string           `json:"host"`
	Outcome  Outcome          `json:"outcome"`
	Reason   Reason           `json:"reason,omitempty"`
	Error    string           `json:"error,omitempty"`
	Profiles []*ProfileResult `json:"profiles"`
	Steps    []StepTiming     `json:"steps,omitempty"`
	Duration Duration         `json:"duration"`
	// SSH counts the connections and sessions the node's deploy opened.
	SSH *SSHStats `json:"ssh,omitempty"`
}

// ProfileResult is one profile's outcome on a node.
type ProfileResult struct {
	Name     string  `json:"name"`
	Path     string  `json:"path,omitempty"`     // what was to be deployed
	Previous string  `json:"previous,omitempty"` // what the profile pointed at before
	Outcome  Outcome `json:"outcome"`
	Reason   Reason  `json:"reason,omitempty"`
	// Generation is the profile generation the deploy created.
	Generation int            `json:"generation,omitempty"`
	Warning    string         `json:"warning,omitempty"`
	FailedUnit []string       `json:"failed_units,omitempty"`
	Error      string         `json:"error,omitempty"`
	Transfer   *TransferStats `json:"transfer,omitempty"`
	// Log is the tail of the activation log on the node, when it failed.
	Log []string `json:"log,omitempty"`
}

// StepTiming is how long one step of a node's deploy took.
type StepTiming struct {
	Step     Step     `json:"step"`
	Profile  string   `json:"profile,omitempty"`
	Duration Duration `json:"duration"`
}

// Duration marshals as seconds with millisecond precision.
type Duration time.Duration

// MarshalJSON writes seconds as a number.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.3f", time.Duration(d).Seconds())), nil
}

// UnmarshalJSON reads seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s float64
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(s * float64(time.Second))
	return nil
}

// Exit codes, the same table as internal/exit (core does not import it).
const (
	exitOK             = 0
	exitFailure        = 1
	exitRolledBack     = 3
	exitRollbackFailed = 4
	exitCancelled      = 130
)

// exitCode: 0 only when every node is deployed or unchanged; a failed
// rollback (a node needs a human) outranks everything, then cancellation,
// then a rollback, then any other failure.
func (r *Result) exitCode() int {
	worst := Unchanged
	for _, n := range r.Nodes {
		if n.Outcome.severity() > worst.severity() {
			worst = n.Outcome
		}
	}
	switch {
	case worst == RollbackFailed:
		return exitRollbackFailed
	case r.Cancelled:
		return exitCancelled
	case worst == RolledBack:
		return exitRolledBack
	case !worst.OK():
		return exitFailure
	}
	return exitOK
}

// Err returns nil when the deploy succeeded everywhere, else an error whose
// ExitCode is the deploy's exit code.
func (r *Result) Err() error {
	if r.ExitCode == exitOK {
		return nil
	}
	counts := map[Outcome]int{}
	for _, n := range r.Nodes {
		counts[n.Outcome]++
	}
	msg := "deploy"
	if r.Cancelled {
		msg += " cancelled"
	} else {
		msg += " failed"
	}
	sep := ": "
	for _, o := range []Outcome{RollbackFailed, RolledBack, Failed, Unreachable, Cancelled, Skipped} {
		if counts[o] > 0 {
			msg += fmt.Sprintf("%s%d %s", sep, counts[o], o)
			sep = ", "
		}
	}
	return &ResultError{msg: msg, code: r.ExitCode}
}

// ResultError is a deploy that did not succeed everywhere.
type ResultError struct {
	msg  string
	code int
}

func (e *ResultError) Error() string { return e.msg }

// ExitCode is the process exit code for this result.
func (e *ResultError) ExitCode() int { return e.code }

// WriteJSON writes r as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// ReadResult parses a result written by WriteJSON.
func ReadResult(data []byte) (*Result, error) {
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	if r.Version != ResultVersion {
		return nil, errors.New("read result: unsupported version")
	}
	return &r, nil
}

// ResultVersion is the schema version of the result JSON.
const ResultVersion = 1
