package container

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runnerUID owns the checkout on a hosted runner; the container runs as
// root, so git sees a repository owned by someone else.
const runnerUID = 1001

// TestActionImage builds the real Dockerfile and runs the image as the
// runner runs the action.
func TestActionImage(t *testing.T) {
	ctx := context.Background()
	image := BuildImage(ctx, t)
	nixDeploy := "/usr/local/bin/nix-deploy"

	tests := []struct {
		name       string
		entrypoint string
		args       []string
		env        map[string]string
		wantStdout string
		wantOut    map[string]string
	}{
		{
			name:       "version is stamped at build time",
			entrypoint: nixDeploy, args: []string{"--version"},
			wantStdout: "nix-deploy " + TestVersion,
		},
		{
			name:       "check validates the workspace's plan",
			entrypoint: nixDeploy, args: []string{"check", "-f", "nix-deploy.yml"},
		},
		{
			name:       "flakes are on and git accepts a checkout owned by another uid",
			entrypoint: "nix", args: []string{"eval", "--raw", ".#message"},
			wantStdout: "flake evaluated",
		},
		{
			name:       "file commands reach the runner through translated paths",
			entrypoint: "/bin/sh",
			args:       []string{"-c", `printf 'result=ok\nhome<<EOF\n%s\nEOF\n' "$HOME" >> "$GITHUB_OUTPUT"; echo '# done' >> "$GITHUB_STEP_SUMMARY"`},
			wantOut:    map[string]string{"result": "ok", "home": "/github/home"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := RunAction(ctx, t, image, RunnerEnv{
				Workspace:  checkout(t),
				Entrypoint: tt.entrypoint,
				Args:       tt.args,
				Env:        tt.env,
				Token:      "ghs_test",
			})
			require.Equal(t, 0, res.ExitCode, "stdout:\n%s\nstderr:\n%s", res.Stdout, res.Stderr)
			assert.Contains(t, res.Stdout, tt.wantStdout)
			for k, v := range tt.wantOut {
				assert.Equal(t, v, res.Outputs[k], "output %s", k)
			}
		})
	}
}

// checkout makes a git repository of testdata/workspace owned by the
// runner's uid, as actions/checkout leaves it.
func checkout(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fleet")
	require.NoError(t, os.CopyFS(dir, os.DirFS("testdata/workspace")))
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "-A"},
		{"-c", "user.name=ci", "-c", "user.email=ci@example.com", "commit", "-q", "-m", "fleet"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %s: %s", strings.Join(args, " "), out)
	}
	require.NoError(t, filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, runnerUID, runnerUID)
	}))
	return dir
}

func TestActionInputs(t *testing.T) {
	root, err := repoRoot()
	require.NoError(t, err)
	vars, err := actionInputs(filepath.Join(root, "action.yml"), map[string]string{"plan-file": "ops/plan.yml"}, "ghs_x")
	require.NoError(t, err)
	assert.Equal(t, "ops/plan.yml", vars["INPUT_PLAN-FILE"], "hyphens are kept")
	assert.Equal(t, "ghs_x", vars["INPUT_GITHUB-TOKEN"], "the github.token default is evaluated")
	assert.Equal(t, "plan", vars["INPUT_COMMAND"], "defaults fill inputs not given")

	_, err = actionInputs(filepath.Join(root, "action.yml"), map[string]string{"no-such-input": "x"}, "")
	assert.ErrorContains(t, err, "not declared")
}

func TestTranslate(t *testing.T) {
	mounts := []mount{
		{"/w/_temp", "/github/runner_temp"},
		{"/w/_temp/_github_home", "/github/home"},
		{"/w/repo/repo", "/github/workspace"},
	}
	tests := []struct{ in, want string }{
		{"/w/_temp", "/github/runner_temp"},
		{"/w/_temp/x", "/github/runner_temp/x"},
		{"/w/_temp/_github_home", "/github/home"},
		{"/w/_temp/_github_home/.cache", "/github/home/.cache"},
		{"/w/repo/repo/plan.json", "/github/workspace/plan.json"},
		{"/w/_temporary", "/w/_temporary"},
		{"plain value", "plain value"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, translate(tt.in, mounts), tt.in)
	}
}

func TestDebianMirror(t *testing.T) {
	t.Setenv("NIX_DEPLOY_TEST_DEBIAN_MIRROR", "")
	tests := []struct{ name, sources, want string }{
		{
			name: "deb822",
			sources: "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n" +
				"Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n",
			want: "http://mirror.example/debian",
		},
		{
			name:    "deb822 security first",
			sources: "URIs: http://s.example/debian-security\nSuites: bookworm-security\n\nURIs: http://m.example/debian/\nSuites: bookworm\n",
			want:    "http://m.example/debian/",
		},
		{
			name:    "one-line with options",
			sources: "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\n",
			want:    "http://one.example/debian",
		},
		{name: "other suite only", sources: "deb http://x.example/debian bullseye main\n", want: "http://deb.debian.org/debian"},
		{name: "nothing", sources: "", want: "http://deb.debian.org/debian"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, debianMirror(tt.sources, "bookworm"))
		})
	}
}
