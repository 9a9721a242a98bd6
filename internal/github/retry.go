package github

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Retry says how failed requests are retried: server errors (5xx) and
// network errors with exponential backoff, rate limits (429, and 403 with
// Retry-After or an exhausted quota) after the time GitHub asks for.
type Retry struct {
	// Attempts is the most tries of one request; 4 when zero.
	Attempts int
	// Backoff is the first wait after a server error, doubled at each
	// retry; 1s when zero.
	Backoff time.Duration
	// MaxWait is the longest wait honoured; a rate limit asking for more
	// fails the request. 60s when zero.
	MaxWait time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 4
	}
	if r.Backoff <= 0 {
		r.Backoff = time.Second
	}
	if r.MaxWait <= 0 {
		r.MaxWait = time.Minute
	}
	return r
}

// retryTransport retries below go-github, so every call gets the same
// policy and go-github sees only the final answer.
type retryTransport struct {
	base  http.RoundTripper
	retry Retry
	log   *slog.Logger
	now   func() time.Time
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	backoff := t.retry.Backoff
	for attempt := 1; ; attempt++ {
		try := req
		if attempt > 1 && req.Body != nil {
			// A RoundTripper may not change the caller's request: each
			// retry sends a copy with a fresh body.
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			try = req.Clone(req.Context())
			try.Body = body
		}
		resp, err := t.base.RoundTrip(try)
		wait, retry := t.classify(resp, err, backoff)
		if !retry || attempt >= t.retry.Attempts || (req.Body != nil && req.GetBody == nil) || wait > t.retry.MaxWait || req.Context().Err() != nil {
			return resp, err
		}
		status := 0
		if resp != nil {
			status = resp.StatusCode
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
		}
		t.log.Info("GitHub request failed; retrying", "method", req.Method, "path", req.URL.Path, "status", status, "err", err, "wait", wait, "attempt", attempt)
		if err := sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		backoff *= 2
	}
}

// classify says whether an answer is worth another try, and after how long.
func (t *retryTransport) classify(resp *http.Response, err error, backoff time.Duration) (time.Duration, bool) {
	if err != nil {
		return backoff, true
	}
	switch code := resp.StatusCode; {
	case code >= 500:
		return backoff, true
	case code == http.StatusTooManyRequests:
		if w, ok := retryAfter(resp); ok {
			return w, true
		}
		return backoff, true
	case code == http.StatusForbidden:
		// A 403 is a rate limit only when GitHub says when to come back;
		// otherwise the token lacks a permission and retrying is useless.
		if w, ok := retryAfter(resp); ok {
			return w, true
		}
		if resp.Header.Get("X-RateLimit-Remaining") == "0" {
			if reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
				return max(0, time.Unix(reset, 0).Sub(t.now())), true
			}
		}
	}
	return 0, false
}

func retryAfter(resp *http.Response) (time.Duration, bool) {
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	return 0, false
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
