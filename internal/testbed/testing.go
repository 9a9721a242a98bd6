package testbed

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"
)

// StartForTest starts a fleet for a test and stops it when the test ends.
// o.Dir defaults to a fresh t.TempDir(), o.Log to the test log.
func StartForTest(t testing.TB, o Options) *Fleet {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Log == nil {
		o.Log = &testLog{t: t}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f, err := Up(ctx, o)
	if err != nil {
		t.Fatalf("start fleet: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := f.Down(ctx); err != nil {
			t.Errorf("stop fleet: %v", err)
		}
	})
	return f
}

// testLog writes whole lines to the test log.
type testLog struct {
	t   testing.TB
	mu  sync.Mutex
	buf []byte
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.t.Log(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
}
