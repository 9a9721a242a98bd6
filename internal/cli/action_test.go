package cli

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/action"
	"github.com/nix-deploy-action/nix-deploy-action/internal/exit"
	publish "github.com/nix-deploy-action/nix-deploy-action/internal/report"
)

func TestActionInputs(t *testing.T) {
	tests := []struct {
		name   string
		inputs map[string]string
		err    string
		want   func(*testing.T, *actionOptions)
	}{
		{name: "defaults", inputs: map[string]string{"environment": "prod"}, want: func(t *testing.T, o *actionOptions) {
			assert.Equal(t, "plan", o.Command)
			assert.Equal(t, "nix-deploy.yml", o.PlanFile)
			assert.Equal(t, "auto", o.DiffAgainst)
			assert.Equal(t, publish.CommentAuto, o.Comment)
			assert.True(t, o.Checks)
			assert.Equal(t, "environment", o.Approval)
			assert.Equal(t, 30*time.Minute, o.ApprovalTimeout)
		}},
		{name: "lists", inputs: map[string]string{
			"environment": "prod", "nodes": "web1, @db\nweb2", "approvers": "alice bob,carol",
			"nix-args": "--override-input nixpkgs ./np", "checks": "False",
		}, want: func(t *testing.T, o *actionOptions) {
			assert.Equal(t, "web1,@db,web2", o.Nodes)
			assert.Equal(t, []string{"alice", "bob", "carol"}, o.Approvers)
			assert.Equal(t, []string{"--override-input", "nixpkgs", "./np"}, o.NixArgs)
			assert.False(t, o.Checks)
		}},
		{name: "check needs no environment", inputs: map[string]string{"command": "check"}, want: func(t *testing.T, o *actionOptions) {
			assert.Equal(t, "check", o.Command)
		}},
		{name: "required environment", inputs: map[string]string{"command": "deploy"},
			err: `input "environment": required for command deploy`},
		{name: "rollback needs nodes", inputs: map[string]string{"command": "rollback", "environment": "prod"},
			err: `input "nodes": required for command rollback`},
		{name: "bad values", inputs: map[string]string{
			"command": "destroy", "mode": "reboot", "comment": "sometimes", "checks": "yes",
			"approval": "vibes", "approval-timeout": "forever", "diff-against": "yesterday",
		}, err: `input "command": "destroy" is not one of plan, deploy, rollback, check`},
		{name: "comment approval needs a token", inputs: map[string]string{"command": "deploy", "environment": "p", "approval": "comment"},
			err: `input "github-token": required with approval: comment`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range tt.inputs {
				env["INPUT_"+strings.ToUpper(k)] = v
			}
			rt := action.New(func(k string) string { return env[k] }, &bytes.Buffer{})
			o, err := parseActionInputs(rt)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				assert.Equal(t, exit.Usage, exit.Code(err))
				return
			}
			require.NoError(t, err)
			tt.want(t, o)
		})
	}
}

// TestActionInvalidPlan: an invalid plan fails the step with exit 2 and
// annotations at the plan file's lines, relative to the workspace; the
// secrets are masked before anything else is printed.
func TestActionInvalidPlan(t *testing.T) {
	ws := t.TempDir()
	require.NoError(t, os.WriteFile(ws+"/nix-deploy.yml", []byte("version: 1\nflake: .\nenvironments:\n  prod:\n    nodes: [web9]\nnodes: {}\n"), 0o644))
	env := map[string]string{
		"GITHUB_WORKSPACE": ws, "GITHUB_STEP_SUMMARY": ws + "/summary", "GITHUB_OUTPUT": ws + "/output",
		"INPUT_COMMAND": "plan", "INPUT_ENVIRONMENT": "prod", "INPUT_SUDO-PASSWORD": "hunter2",
	}
	var out bytes.Buffer
	code := Run(t.Context(), []string{"action"}, IO{Out: &out, Err: &out, Getenv: func(k string) string { return env[k] }})
	assert.Equal(t, exit.Usage, code)
	text := out.String()
	assert.True(t, strings.HasPrefix(text, "::add-mask::hunter2\n"), text)
	assert.Contains(t, text, "::error col=13,file=nix-deploy.yml,line=5,title=invalid deploy plan::environments.prod.nodes[0]: unknown node web9\n")
	assert.Contains(t, text, "::warning title=nix-deploy::nothing will be published to GitHub")
}

// TestGiveBackState: files the action (root, in a container) writes into
// the workspace end up owned by the workspace's owner, so a later checkout
// as that user can clean them.
func TestGiveBackState(t *testing.T) {
	ws := t.TempDir()
	const uid, gid = 1001, 1001
	require.NoError(t, os.Chown(ws, uid, gid))
	a := &actionRun{ws: ws, o: &actionOptions{Env: "production"}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	file, err := a.stateFile("plan.json")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, []byte("{}"), 0o644))

	a.giveBackState()
	for _, p := range []string{filepath.Join(ws, ".nix-deploy"), filepath.Dir(file), file} {
		st, err := os.Stat(p)
		require.NoError(t, err)
		sys := st.Sys().(*syscall.Stat_t)
		assert.Equal(t, uint32(uid), sys.Uid, p)
		assert.Equal(t, uint32(gid), sys.Gid, p)
	}
}
