package action_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/action"
)

var update = flag.Bool("update", false, "rewrite golden files")

// env is a fake process environment.
type env map[string]string

func (e env) get(k string) string { return e[k] }

// counter is a predictable random source: every read fills the buffer with
// one byte value, the next read with the next value.
type counter struct{ n byte }

func (c *counter) Read(p []byte) (int, error) {
	c.n++
	for i := range p {
		p[i] = c.n
	}
	return len(p), nil
}

func newRuntime(e env) (*action.Runtime, *bytes.Buffer) {
	var out bytes.Buffer
	return action.New(e.get, &out, action.WithRandom(&counter{})), &out
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
}

func TestInputs(t *testing.T) {
	rt, _ := newRuntime(env{
		"INPUT_PLAN-FILE":        "  deploy.yaml \n",
		"INPUT_DRY_RUN":          "TRUE",
		"INPUT_CHECKS":           "yes",
		"INPUT_APPROVAL-TIMEOUT": "90m",
		"INPUT_CONFIRM-TIMEOUT":  "soon",
		"INPUT_MAX-PARALLEL":     "3",
		"INPUT_CANARY":           "1.5",
		"INPUT_COMMENT":          "sometimes",
		"INPUT_NODES":            "web1, web2\n\ndb1,",
	})
	assert.Equal(t, "deploy.yaml", rt.Input("plan-file"), "hyphen kept, value trimmed")
	assert.Equal(t, "deploy.yaml", rt.Input("Plan-File"), "names are upper-cased")

	b, err := rt.Bool("dry run", false)
	require.NoError(t, err, "spaces become underscores")
	assert.True(t, b)

	tests := []struct {
		name    string
		read    func() (any, error)
		want    any
		wantErr string
	}{
		{"bool unset takes default", func() (any, error) { return rt.Bool("missing", true) }, true, ""},
		{"bool not a boolean", func() (any, error) { return rt.Bool("checks", false) }, false, `input "checks": "yes" is not a boolean`},
		{"duration", func() (any, error) { return rt.Duration("approval-timeout", time.Minute) }, 90 * time.Minute, ""},
		{"duration default", func() (any, error) { return rt.Duration("missing", time.Minute) }, time.Minute, ""},
		{"duration bad", func() (any, error) { return rt.Duration("confirm-timeout", 0) }, time.Duration(0), `input "confirm-timeout": "soon" is not a duration`},
		{"int", func() (any, error) { return rt.Int("max-parallel", 1) }, 3, ""},
		{"int bad", func() (any, error) { return rt.Int("canary", 1) }, 0, `input "canary": "1.5" is not an integer`},
		{"required set", func() (any, error) { return rt.Required("plan-file") }, "deploy.yaml", ""},
		{"required missing", func() (any, error) { return rt.Required("environment") }, "", `input "environment": required but not set`},
		{"choice default", func() (any, error) { return rt.Choice("approval", "environment", "environment", "comment") }, "environment", ""},
		{"choice bad", func() (any, error) { return rt.Choice("comment", "auto", "auto", "always", "never") }, "", `input "comment": "sometimes" is not one of auto, always, never`},
		{"list", func() (any, error) { return rt.List("nodes"), nil }, []string{"web1", "web2", "db1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.read()
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.True(t, errors.Is(err, action.ErrInput))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestContext(t *testing.T) {
	base := env{
		"GITHUB_ACTIONS":     "true",
		"GITHUB_REPOSITORY":  "acme/fleet",
		"GITHUB_SHA":         "9999999999999999999999999999999999999999",
		"GITHUB_REF":         "refs/pull/42/merge",
		"GITHUB_ACTOR":       "alice",
		"GITHUB_RUN_ID":      "123456",
		"GITHUB_RUN_ATTEMPT": "2",
		"GITHUB_SERVER_URL":  "https://ghe.example.com/",
		"GITHUB_API_URL":     "https://ghe.example.com/api/v3",
	}
	tests := []struct {
		event   string
		check   func(t *testing.T, c *action.Context)
		wantErr string
	}{
		{"pull_request", func(t *testing.T, c *action.Context) {
			pr := c.Event.PullRequest
			require.NotNil(t, pr)
			assert.Equal(t, action.PullRequest{Number: 42, HeadSHA: "1111111111111111111111111111111111111111", HeadRef: "bump-nginx", HeadRepo: "acme/fleet", BaseSHA: "2222222222222222222222222222222222222222", BaseRef: "main"}, *pr)
			assert.Equal(t, pr.HeadSHA, c.HeadSHA(), "checks go on the PR head, not the merge commit")
			assert.Equal(t, 42, c.Event.IssueNumber)
		}, ""},
		{"pull_request_fork", func(t *testing.T, c *action.Context) {
			assert.True(t, c.Event.PullRequest.Fork)
			assert.Equal(t, "mallory/fleet", c.Event.PullRequest.HeadRepo)
		}, ""},
		{"push", func(t *testing.T, c *action.Context) {
			assert.Nil(t, c.Event.PullRequest)
			assert.Equal(t, "4444444444444444444444444444444444444444", c.Event.After)
			assert.Equal(t, c.SHA, c.HeadSHA())
		}, ""},
		{"schedule", func(t *testing.T, c *action.Context) {
			assert.Equal(t, "17 3 * * *", c.Event.Schedule)
		}, ""},
		{"issue_comment", func(t *testing.T, c *action.Context) {
			assert.Equal(t, 42, c.Event.IssueNumber)
			assert.Equal(t, &action.Comment{ID: 9001, Body: "/approve", User: "alice"}, c.Event.Comment)
		}, ""},
		{"workflow_dispatch", func(t *testing.T, c *action.Context) {
			assert.Equal(t, map[string]string{"command": "rollback", "nodes": "web1,db1", "dry-run": "true"}, c.Event.Inputs)
		}, ""},
		{"missing", func(t *testing.T, c *action.Context) {
			assert.Equal(t, action.Event{}, c.Event, "no payload file: an empty event")
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			e := env{"GITHUB_EVENT_NAME": tt.event, "GITHUB_EVENT_PATH": filepath.Join("testdata", "events", tt.event+".json")}
			for k, v := range base {
				e[k] = v
			}
			rt, _ := newRuntime(e)
			c, err := rt.Context()
			require.NoError(t, err)
			assert.Equal(t, "acme", c.Owner)
			assert.Equal(t, "fleet", c.Repo)
			assert.Equal(t, int64(123456), c.RunID)
			assert.Equal(t, "https://ghe.example.com/api/v3", c.APIURL)
			assert.Equal(t, "https://ghe.example.com/acme/fleet/actions/runs/123456/attempts/2", c.RunURL())
			tt.check(t, c)
		})
	}

	t.Run("bad run id", func(t *testing.T) {
		rt, _ := newRuntime(env{"GITHUB_RUN_ID": "abc"})
		_, err := rt.Context()
		require.Error(t, err)
	})
	t.Run("defaults to github.com", func(t *testing.T) {
		rt, _ := newRuntime(env{})
		c, err := rt.Context()
		require.NoError(t, err)
		assert.Equal(t, "https://api.github.com", c.APIURL)
		assert.Equal(t, "https://github.com", c.ServerURL)
	})
}

func TestParseEventRejectsWrongShapes(t *testing.T) {
	tests := []string{`[]`, `{"pull_request": 5}`, `{"comment": {"id": "x"}}`, `not json`}
	for _, data := range tests {
		t.Run(data, func(t *testing.T) {
			_, err := action.ParseEvent([]byte(data))
			assert.Error(t, err)
		})
	}
}

func FuzzParseEvent(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	require.NoError(f, err)
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte(`{"pull_request": {"head": {"repo": null}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := action.ParseEvent(data)
		if err == nil && ev.PullRequest != nil && ev.PullRequest.HeadRepo == "" {
			assert.True(t, ev.PullRequest.Fork, "a PR whose head repository is unknown is treated as a fork")
		}
	})
}
