package agent

import (
	"strings"
	"testing"
)

// The bootstrap carries the agent in a quoted here-document: a line equal
// to its delimiter would end it early.
func TestHeredocDelimiter(t *testing.T) {
	for _, line := range strings.Split(agentSH, "\n") {
		if line == heredocEnd {
			t.Fatalf("agent.sh contains the line %s", heredocEnd)
		}
	}
}
