package container

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/deploy"
	"github.com/nix-deploy-action/nix-deploy-action/internal/githubfake"
	"github.com/nix-deploy-action/nix-deploy-action/internal/testbed"
)

const (
	ghOwner = "octo"
	ghRepo  = "fleet"
	ghToken = "ghs_containerjobtoken0123456789"
	ghRunID = 4242
	prNum   = 5
)

// TestActionFlows runs the image with its own ENTRYPOINT and the inputs the
// runner derives from a workflow's `with:`, against a local fleet and the
// fake GitHub: the plan of a pull request, then the deploy of the merged
// change on push. Nix in the container has its own store: every build
// happens in it, and the deploy streams the closure from it to the nodes.
func TestActionFlows(t *testing.T) {
	ctx := context.Background()
	image := BuildImage(ctx, t)
	f := testbed.StartForTest(t, testbed.Options{Nodes: 2, PayloadKiB: 64})
	repo := fleetRepository(t, f)
	gh := githubfake.New(t, githubfake.WithToken(ghToken))
	gh.AddPullRequest(ghOwner, ghRepo, githubfake.PullRequest{
		Number: prNum, HeadRef: "release-2", HeadSHA: repo.head, BaseRef: "main", BaseSHA: repo.base,
	})
	gh.AddApproval(ghRunID, githubfake.Approval{User: "lead", State: "approved", Environments: []string{"local"}})
	key, err := os.ReadFile(f.KeyFile)
	require.NoError(t, err)

	t.Run("plan on pull_request", func(t *testing.T) {
		ws := repo.checkout(t)
		// No ssh-private-key: a fork's PR has no secrets, and diff-against
		// auto compares with the base commit, built in the container.
		res := RunAction(ctx, t, image, RunnerEnv{
			Workspace: ws,
			EventName: "pull_request",
			Event:     prEvent(t, repo),
			Env: stepEnv(gh, repo.merge, map[string]string{
				"GITHUB_REF":      "refs/pull/5/merge",
				"GITHUB_REF_NAME": "5/merge",
				"GITHUB_HEAD_REF": "release-2",
				"GITHUB_BASE_REF": "main",
			}),
			Inputs: map[string]string{"command": "plan", "environment": "local"},
			Token:  ghToken,
		})
		logStep(t, res)
		require.Equal(t, 0, res.ExitCode)
		assertMasked(t, res, ghToken)

		planFile := filepath.Join(".nix-deploy", "local", "plan.json")
		assert.Equal(t, planFile, res.Outputs["plan"], "a workspace-relative path: the runner has no /github/workspace")
		assert.Equal(t, `["node1","node2"]`, res.Outputs["changed-nodes"])
		data, err := os.ReadFile(filepath.Join(ws, planFile))
		require.NoError(t, err)
		assert.Contains(t, string(data), "nixos-system-node1-2")
		assert.Contains(t, res.Summary, "| node1 | system | 🔄 changed |")

		comments := gh.Comments(ghOwner, ghRepo, prNum)
		require.Len(t, comments, 1, "one sticky comment")
		assert.Contains(t, comments[0].Body, "<!-- nix-deploy:plan")
		assert.Contains(t, comments[0].Body, "| node2 | system | 🔄 changed |")
		assert.Contains(t, comments[0].Body, "compared with the build of "+repo.base)
		assert.Contains(t, comments[0].Body, "Built from "+repo.head)
		assert.Contains(t, comments[0].Body, "https://github.com/octo/fleet/actions/runs/4242")
		assert.Contains(t, comments[0].Body, "| upgraded | `nixos-system-node2` | `1` | `2` |")
		runs := gh.CheckRuns(ghOwner, ghRepo)
		require.Len(t, runs, 1)
		assert.Equal(t, "nix-deploy/plan", runs[0].Name)
		assert.Equal(t, repo.head, runs[0].HeadSHA, "on the PR head, not the merge commit")
		assert.Equal(t, "completed", runs[0].Status)
		assert.Equal(t, "success", runs[0].Conclusion)
	})

	t.Run("deploy on push", func(t *testing.T) {
		ws := repo.checkout(t)
		before := len(gh.CheckRuns(ghOwner, ghRepo))
		res := RunAction(ctx, t, image, RunnerEnv{
			Workspace: ws,
			EventName: "push",
			Event:     mustJSON(t, map[string]any{"ref": "refs/heads/main", "before": repo.base, "after": repo.merge}),
			Env:       stepEnv(gh, repo.merge, nil),
			Inputs:    map[string]string{"command": "deploy", "environment": "local", "ssh-private-key": string(key)},
			Token:     ghToken,
		})
		logStep(t, res)
		require.Equal(t, 0, res.ExitCode)
		assertMasked(t, res, ghToken, string(key))

		assert.Equal(t, `["node1","node2"]`, res.Outputs["changed-nodes"])
		assert.Equal(t, "[]", res.Outputs["rolled-back"])
		resultFile := filepath.Join(".nix-deploy", "local", "result.json")
		require.Equal(t, resultFile, res.Outputs["result"])
		data, err := os.ReadFile(filepath.Join(ws, resultFile))
		require.NoError(t, err)
		result, err := deploy.ReadResult(data)
		require.NoError(t, err)
		require.Len(t, result.Nodes, 2)
		for _, n := range result.Nodes {
			assert.Equal(t, deploy.Deployed, n.Outcome, n.Name)
		}
		assert.Contains(t, res.Summary, "Approved by @lead")
		assert.Contains(t, res.Stdout, "-nixos-system-node1-2.drv'...", "built by the container's Nix")

		runs := gh.CheckRuns(ghOwner, ghRepo)[before:]
		byName := map[string]githubfake.CheckRun{}
		for _, c := range runs {
			byName[c.Name] = c
		}
		require.Len(t, byName, 2, "one check run per node")
		for _, node := range []string{"node1", "node2"} {
			c := byName["nix-deploy/local/"+node]
			assert.Equal(t, repo.merge, c.HeadSHA, node)
			assert.Equal(t, "completed", c.Status, node)
			assert.Equal(t, "success", c.Conclusion, node)

			sys, err := f.Node(node).CurrentSystem(ctx)
			require.NoError(t, err)
			assert.Contains(t, sys, "nixos-system-"+node+"-2", "the node runs the new release")
		}
	})
}

// fleet is the git repository of a fleet's configuration: a release-1
// base on main, a pull request's head bumping every node to release 2, and
// the merge of that head into main.
type fleet struct {
	dir               string
	base, head, merge string
}

// fleetRepository commits the testbed's plan (as nix-deploy.yml, the
// plan-file default) and flake as a user's repository holds them.
func fleetRepository(t *testing.T, f *testbed.Fleet) *fleet {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "origin")
	require.NoError(t, os.CopyFS(filepath.Join(dir, "flake"), os.DirFS(f.FlakeDir)))
	plan, err := os.ReadFile(f.PlanFile)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "nix-deploy.yml"), plan, 0o644))

	r := &fleet{dir: dir}
	git(t, dir, "init", "-q", "-b", "main")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "fleet at release 1")
	r.base = git(t, dir, "rev-parse", "HEAD")
	git(t, dir, "checkout", "-q", "-b", "release-2")
	for _, n := range f.Nodes {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "flake", "release", n.Name), []byte("2\n"), 0o644))
	}
	git(t, dir, "commit", "-q", "-a", "-m", "release 2")
	r.head = git(t, dir, "rev-parse", "HEAD")
	git(t, dir, "checkout", "-q", "main")
	git(t, dir, "merge", "-q", "--no-ff", "-m", "Merge pull request #5", "release-2")
	r.merge = git(t, dir, "rev-parse", "HEAD")
	return r
}

// checkout is what actions/checkout with fetch-depth: 0 leaves: a clone at
// the merge commit with the whole history, owned by the runner's uid.
func (r *fleet) checkout(t *testing.T) string {
	t.Helper()
	ws := filepath.Join(t.TempDir(), "fleet")
	git(t, "", "clone", "-q", r.dir, ws)
	require.NoError(t, filepath.WalkDir(ws, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, runnerUID, runnerUID)
	}))
	return ws
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	args = append([]string{"-c", "user.name=ci", "-c", "user.email=ci@example.com"}, args...)
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %s: %s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

// stepEnv points the step at the fake GitHub, with the job's commit and
// any other variables in extra.
func stepEnv(gh *githubfake.Server, sha string, extra map[string]string) map[string]string {
	env := map[string]string{
		"GITHUB_API_URL":          gh.URL(),
		"GITHUB_REPOSITORY":       ghOwner + "/" + ghRepo,
		"GITHUB_REPOSITORY_OWNER": ghOwner,
		"GITHUB_RUN_ID":           strconv.Itoa(ghRunID),
		"GITHUB_SHA":              sha,
	}
	maps.Copy(env, extra)
	return env
}

func prEvent(t *testing.T, r *fleet) []byte {
	t.Helper()
	repo := map[string]any{"full_name": ghOwner + "/" + ghRepo, "fork": false}
	return mustJSON(t, map[string]any{
		"action": "synchronize",
		"number": prNum,
		"pull_request": map[string]any{
			"number": prNum,
			"head":   map[string]any{"sha": r.head, "ref": "release-2", "repo": repo},
			"base":   map[string]any{"sha": r.base, "ref": "main", "repo": repo},
		},
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	require.NoError(t, err)
	return data
}

// logStep puts the step's log in the test log, as the runner shows it.
func logStep(t *testing.T, res Result) {
	t.Helper()
	t.Logf("exit %d\nstdout:\n%s\nstderr:\n%s\noutputs: %v", res.ExitCode, res.Stdout, res.Stderr, res.Outputs)
}

// assertMasked checks that each secret is masked (its first line: the
// runner masks line by line) before the step could print it.
func assertMasked(t *testing.T, res Result, secrets ...string) {
	t.Helper()
	log := res.Stdout + res.Stderr
	for _, s := range secrets {
		first, _, _ := strings.Cut(s, "\n")
		assert.Contains(t, log, "::add-mask::"+first)
	}
}
