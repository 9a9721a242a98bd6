package container

import (
	"fmt"
	"strings"
)

// ParseFileCommand parses a GITHUB_OUTPUT or GITHUB_ENV file as the runner
// does: `name=value` lines and `name<<DELIMITER` heredocs closed by a line
// equal to DELIMITER. A later value for a name replaces an earlier one. It
// never panics: the file is written by the code under test.
func ParseFileCommand(data []byte) (map[string]string, error) {
	out := map[string]string{}
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if line == "" {
			continue
		}
		eq := strings.Index(line, "=")
		hd := strings.Index(line, "<<")
		if eq >= 0 && (hd < 0 || eq < hd) {
			name := line[:eq]
			if name == "" {
				return nil, fmt.Errorf("line %d: empty name", i+1)
			}
			out[name] = line[eq+1:]
			continue
		}
		if hd < 0 {
			return nil, fmt.Errorf("line %d: neither name=value nor name<<DELIMITER: %q", i+1, line)
		}
		name, delim := line[:hd], line[hd+2:]
		if name == "" || delim == "" {
			return nil, fmt.Errorf("line %d: heredoc needs a name and a delimiter: %q", i+1, line)
		}
		start := i + 1
		end := -1
		for j := start; j < len(lines); j++ {
			if lines[j] == delim {
				end = j
				break
			}
		}
		if end < 0 {
			return nil, fmt.Errorf("line %d: heredoc %q for %q is not closed", i+1, delim, name)
		}
		out[name] = strings.Join(lines[start:end], "\n")
		i = end
	}
	return out, nil
}
