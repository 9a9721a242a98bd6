package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestEveryCommandHasHelp: --help works on every command, exits 0 and
// prints a usage line to stdout.
func TestEveryCommandHasHelp(t *testing.T) {
	for name := range commands {
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Run(context.Background(), []string{name, "--help"}, IO{Out: &out, Err: &errb, Getenv: func(string) string { return "" }})
			assert.Equal(t, 0, code, errb.String())
			assert.True(t, strings.HasPrefix(out.String(), "Usage: nix-deploy "+name), out.String())
		})
	}
}

func TestTopLevel(t *testing.T) {
	tests := []struct {
		args []string
		code int
		out  string
		err  string
	}{
		{args: []string{"--version"}, out: "nix-deploy dev\n"},
		{args: []string{}, code: 2, err: "nix-deploy: no command given\n"},
		{args: []string{"bogus"}, code: 2, err: `nix-deploy: unknown command "bogus"` + "\n"},
		{args: []string{"--help"}, out: "Usage: nix-deploy <command> [flags]"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Run(context.Background(), tt.args, IO{Out: &out, Err: &errb, Getenv: func(string) string { return "" }})
			assert.Equal(t, tt.code, code)
			assert.Contains(t, out.String(), tt.out)
			if tt.err != "" {
				assert.True(t, strings.HasSuffix(errb.String(), tt.err), errb.String())
			}
		})
	}
}
