package action_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/action"
)

// TestCommands pins the exact bytes the runner reads: masks first, escaping
// of annotation data and properties, and untrusted text fenced by
// stop-commands.
func TestCommands(t *testing.T) {
	rt, out := newRuntime(env{
		"INPUT_SSH-PRIVATE-KEY": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
		"INPUT_SUDO-PASSWORD":   "p%ss,w:rd",
	})
	rt.MaskInputs("ssh-private-key", "sudo-password", "unset-input")
	rt.Group("web1")
	rt.Annotate(action.Annotation{
		Level: action.LevelError, File: "deploy.yaml", Line: 12, Col: 5,
		Title:   "unknown tag: @db, node",
		Message: "100% wrong\r\nsee docs",
	})
	rt.Annotate(action.Annotation{Level: action.LevelWarning, Message: "reporting failed: 502"})
	rt.Annotate(action.Annotation{Level: action.LevelNotice, File: "a,b:c.nix", Line: 1, EndLine: 3, Message: "::set-output name=x::pwned"})
	require.NoError(t, rt.Untrusted("hello-1.0 -> ::set-output name=x::pwned\n::add-mask::nothing"))
	require.NoError(t, rt.Untrusted(""))
	resume, err := rt.StopCommands()
	require.NoError(t, err)
	out.WriteString("::error::streamed build log line\n")
	require.NoError(t, resume())
	rt.EndGroup()
	golden(t, "commands.golden", out.Bytes())
}

// TestUntrustedCannotResume checks the property the fence relies on: no line
// of the text equals the resume marker, whatever the text.
func TestUntrustedCannotResume(t *testing.T) {
	texts := []string{
		"plain",
		"::0101010101010101010101010101010101::\n::error::x",
		"::stop-commands::abc\n::abc::\n::error::x",
	}
	for _, text := range texts {
		var out bytes.Buffer
		require.NoError(t, action.Untrusted(&out, text))
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		token, ok := strings.CutPrefix(lines[0], "::stop-commands::")
		require.True(t, ok)
		marker := "::" + token + "::"
		assert.Equal(t, marker, lines[len(lines)-1])
		for _, l := range lines[1 : len(lines)-1] {
			assert.NotEqual(t, marker, l)
		}
	}
}

func TestOutputs(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "output")
	rt, out := newRuntime(env{"GITHUB_OUTPUT": file})
	require.NoError(t, rt.SetOutput("result", "success"))
	require.NoError(t, rt.SetOutput("changed-nodes", `["web1","db1"]`))
	// The first delimiter the counter yields sits inside the value: the
	// runtime must draw another one.
	forged := "line\nghadelimiter_03030303030303030303030303030303\nrolled-back<<EOF\ntrue\nEOF"
	require.NoError(t, rt.SetOutput("plan", forged))
	require.NoError(t, rt.SetOutput("package", "::set-output name=x::pwned"))
	require.Error(t, rt.SetOutput("bad\nname", "x"))
	require.Error(t, rt.SetOutput("x<<EOF", "x"))
	assert.Empty(t, out.String(), "outputs never go to the log")
	got, err := os.ReadFile(file)
	require.NoError(t, err)
	golden(t, "outputs.golden", got)

	rt, _ = newRuntime(env{})
	assert.ErrorContains(t, rt.SetOutput("result", "x"), "GITHUB_OUTPUT is not set")
}

func TestSummary(t *testing.T) {
	note := "The rest of this summary was cut"
	tests := []struct {
		name     string
		existing int
		add      string
		wantLen  int // -1: len(existing)+len(add)
		wantNote bool
	}{
		{"fits", 100, "| node | result |\n", -1, false},
		{"exactly full", action.SummaryLimit - 3, "abc", action.SummaryLimit, false},
		{"cut at a line", action.SummaryLimit - 200, strings.Repeat("line of text\n", 100), 0, true},
		{"cut inside a long line keeps utf-8 whole", action.SummaryLimit - 300, strings.Repeat("→", 200), 0, true},
		{"full: dropped", action.SummaryLimit - 10, strings.Repeat("x", 100), action.SummaryLimit - 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "summary")
			require.NoError(t, os.WriteFile(file, bytes.Repeat([]byte("#"), tt.existing), 0o644))
			rt, _ := newRuntime(env{"GITHUB_STEP_SUMMARY": file})
			require.NoError(t, rt.AddSummary(tt.add))
			got, err := os.ReadFile(file)
			require.NoError(t, err)
			assert.LessOrEqual(t, len(got), action.SummaryLimit)
			assert.Equal(t, tt.wantNote, strings.Contains(string(got), note))
			assert.True(t, utf8Valid(got))
			if tt.wantLen == -1 {
				assert.Len(t, got, tt.existing+len(tt.add))
			} else if tt.wantLen > 0 {
				assert.Len(t, got, tt.wantLen)
			}
			if tt.wantNote {
				assert.True(t, strings.HasSuffix(string(got), "per step.\n"))
			}
		})
	}
}

func utf8Valid(b []byte) bool { return strings.ToValidUTF8(string(b), "\uFFFD") == string(b) }
