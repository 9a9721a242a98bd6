package deploy

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
)

// checks runs a node's health checks in order: commands over conn (as the
// SSH user, through sh -c: the plan's author wrote them as command lines),
// HTTP from the runner. Each is retried every Interval until it passes or
// RetryFor has passed.
func (rn *run) checks(ctx context.Context, conn Conn, n *config.Node) error {
	for i := range n.Checks {
		c := &n.Checks[i]
		if err := rn.check(ctx, conn, c); err != nil {
			return err
		}
	}
	return nil
}

func (rn *run) check(ctx context.Context, conn Conn, c *config.Check) error {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = config.DefaultCheckTimeout
	}
	interval := c.Interval
	if interval <= 0 {
		interval = config.DefaultCheckInterval
	}
	first := time.Now()
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, timeout)
		err := rn.attempt(actx, conn, c)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("health check %s: %w", checkName(c), ctx.Err())
		}
		if time.Since(first)+interval > c.RetryFor {
			return fmt.Errorf("health check %s failed (%d attempts): %w", checkName(c), attempt, err)
		}
		if err := sleepCtx(ctx, interval); err != nil {
			return fmt.Errorf("health check %s: %w", checkName(c), err)
		}
	}
}

func (rn *run) attempt(ctx context.Context, conn Conn, c *config.Check) error {
	if c.HTTP != "" {
		status := c.Status
		if status == 0 {
			status = config.DefaultCheckStatus
		}
		return rn.d.Prober.HTTP(ctx, c.HTTP, status, c.Timeout)
	}
	var out bytes.Buffer
	// One buffer for both streams, written by the session's two copiers.
	w := &syncBuffer{b: &out}
	if err := conn.Run(ctx, []string{"sh", "-c", c.Command}, nil, w, w); err != nil {
		if tail := lastLines(out.String(), 3); tail != "" {
			return fmt.Errorf("%w: %s", err, tail)
		}
		return err
	}
	return nil
}

func checkName(c *config.Check) string {
	if c.HTTP != "" {
		return fmt.Sprintf("GET %s", c.HTTP)
	}
	return fmt.Sprintf("%q", c.Command)
}

// syncBuffer lets a command's stdout and stderr, copied by two goroutines,
// share one buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
