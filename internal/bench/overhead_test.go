package bench

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOverheadWorld keeps the overhead benchmark honest: its plan is valid,
// every profile is built, diffed and rendered, and the command reports.
func TestOverheadWorld(t *testing.T) {
	w, err := newOverheadWorld(3, 100)
	require.NoError(t, err)
	n, err := w.once(context.Background())
	require.NoError(t, err)
	assert.Greater(t, n, 1000)

	var out bytes.Buffer
	require.NoError(t, OverheadCommand(context.Background(), []string{"--nodes", "3", "--paths", "100", "--runs", "1"}, &out, &out))
	assert.Contains(t, out.String(), "tool overhead, 3 nodes x 2 profiles")
	assert.Contains(t, out.String(), "target: under 1 s:")
}
