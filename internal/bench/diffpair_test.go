package bench

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGenerate checks the random pair's shape: deterministic per seed,
// about the asked size, and shared paths referencing only shared paths (or
// they would not be the same store path on both sides).
func TestGenerate(t *testing.T) {
	for _, spec := range []PairSpec{{Seed: 1, Paths: 2}, {Seed: 1, Paths: 1000}, {Seed: 99, Paths: 10000}} {
		g := generate(spec)
		assert.Equal(t, g, generate(spec), "deterministic")
		assert.GreaterOrEqual(t, len(g.Before)+1, spec.Paths)
		assert.Less(t, len(g.Before), spec.Paths+8)
		inAfter := map[int]bool{}
		for _, i := range g.After {
			inAfter[i] = true
		}
		inBefore := map[int]bool{}
		for _, i := range g.Before {
			inBefore[i] = true
		}
		for i, n := range g.Nodes {
			for _, r := range n.Refs {
				require.Less(t, r, i, "references point backwards")
				if inBefore[i] {
					assert.True(t, inBefore[r], "before path %d references %d outside before", i, r)
				}
				if inAfter[i] {
					assert.True(t, inAfter[r], "after path %d references %d outside after", i, r)
				}
			}
		}
	}
}

// TestBuildPair creates a small pair in the real store.
func TestBuildPair(t *testing.T) {
	p, err := BuildPair(context.Background(), PairSpec{Seed: 5, Paths: 50}, t.TempDir())
	require.NoError(t, err)
	for _, root := range []string{p.Before, p.After} {
		_, err := os.Stat(root)
		require.NoError(t, err, root)
	}
	assert.NotEqual(t, p.Before, p.After)
}
