package testbed

import (
	"fmt"
	"strings"
	"time"
)

// Activation is one run of a system's switch-to-configuration on a node,
// as recorded in /nix/var/testbed/activations.log.
type Activation struct {
	Time      time.Time
	Action    string // switch, boot, test or dry-activate
	System    string // the store path of the system
	Behaviour string // what the system was built to do
}

// ParseActivations parses an activation log: one
// "TIME<TAB>ACTION<TAB>SYSTEM<TAB>BEHAVIOUR" line per activation, TIME in
// RFC 3339. Empty lines are skipped; anything else malformed is an error.
func ParseActivations(data []byte) ([]Activation, error) {
	var acts []Activation
	for i, line := range strings.Split(string(data), "\n") {
		if line == "" {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) != 4 {
			return nil, fmt.Errorf("activation log line %d: want 4 tab-separated fields, got %d", i+1, len(fields))
		}
		t, err := time.Parse(time.RFC3339Nano, fields[0])
		if err != nil {
			return nil, fmt.Errorf("activation log line %d: %w", i+1, err)
		}
		for j, name := range []string{"action", "system", "behaviour"} {
			if fields[j+1] == "" {
				return nil, fmt.Errorf("activation log line %d: empty %s", i+1, name)
			}
		}
		acts = append(acts, Activation{Time: t, Action: fields[1], System: fields[2], Behaviour: fields[3]})
	}
	return acts, nil
}
