package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/deploy"
	"github.com/nix-deploy-action/nix-deploy-action/internal/testbed"
)

// appProfile is where the testbed's custom profile lives on a node (a
// root-owned profile named app).
const appProfile = "/nix/var/nix/profiles/app"

// TestDeployTwoProfilesOneLock deploys a node with two profiles, its system
// and a custom app, on the real testbed. Between the two, with the system
// deployed and the app not yet started, a second deploy to the node is
// refused: one lock, taken under the deploy's id, covers the whole node.
func TestDeployTwoProfilesOneLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := testbed.StartForTest(t, testbed.Options{Nodes: 1})
	n := f.Nodes[0]
	require.NoError(t, f.SetRelease(n.Name, "2"))
	plan := twoProfilePlan(t, f, n.Name)

	var second *profilesRun
	var systemGensBetween int
	// fire runs on the first deploy's goroutine: no require there.
	progress := &onLine{want: n.Name + "/app: transfer", fire: func() {
		gens, err := n.Generations(ctx, testbed.SystemProfile)
		assert.NoError(t, err)
		systemGensBetween = len(gens)
		second = deployCLI(t, ctx, f, plan)
	}}
	first := deployCLI(t, ctx, f, plan, progress)

	require.NotNil(t, second, "the app profile never started:\n%s", progress.text())
	assert.Equal(t, 2, systemGensBetween, "the system was deployed before the app started")
	assert.Equal(t, 1, second.code)
	require.NoError(t, second.resultErr)
	r := second.result.Nodes[0]
	assert.Equal(t, deploy.Failed, r.Outcome)

	require.Equal(t, 0, first.code, first.stderr)
	require.NoError(t, first.resultErr)
	// The owner is the deploy's own id: the lock was not taken again for
	// the app (each activation has its own id under it).
	assert.Contains(t, r.Error, "locked by another deploy (id "+first.result.ID+" since ")
	node := first.result.Nodes[0]
	require.Len(t, node.Profiles, 2)
	for _, pr := range node.Profiles {
		assert.Equal(t, deploy.Deployed, pr.Outcome, pr.Name+": "+pr.Error)
	}
	sys, app := node.Profiles[0], node.Profiles[1]
	assert.Equal(t, []string{"system", "app"}, []string{sys.Name, app.Name})

	cur, err := n.CurrentSystem(ctx)
	require.NoError(t, err)
	assert.Equal(t, sys.Path, cur)
	gens, err := n.Generations(ctx, appProfile)
	require.NoError(t, err)
	require.Len(t, gens, 1)
	assert.Equal(t, app.Path, gens[0].Path)
	log, err := n.Exec(ctx, "cat", "/nix/var/testbed/app-activations.log")
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(log, "\t"+app.Path+"\n"), log)
}

// twoProfilePlan is the fleet's plan with short timeouts and an app
// profile, the flake's packages.<system>.app-<node>, after the system.
func twoProfilePlan(t *testing.T, f *testbed.Fleet, node string) string {
	t.Helper()
	data, err := os.ReadFile(f.PlanFile)
	require.NoError(t, err)
	system, err := os.ReadFile(filepath.Join(f.FlakeDir, "system"))
	require.NoError(t, err)
	sysLine := "      system: { nixos: " + node + " }\n"
	text := strings.Replace(string(data), sysLine, sysLine+
		"      app: { installable: \".#packages."+strings.TrimSpace(string(system))+".app-"+node+"\", activate: bin/activate }\n", 1)
	text = strings.Replace(text, "  confirm-timeout: 10s\n", "  confirm-timeout: 10s\n  activation-timeout: 20s\n", 1)
	require.Contains(t, text, "activate: bin/activate", "the testbed plan changed: update this test")
	// Next to the fleet's plan: the flake is relative to it.
	file := filepath.Join(f.Dir, "plan-two-profiles.yml")
	require.NoError(t, os.WriteFile(file, []byte(text), 0o644))
	return file
}

// profilesRun is what one nix-deploy deploy produced.
type profilesRun struct {
	code      int
	stderr    string
	result    *deploy.Result
	resultErr error
}

// deployCLI runs nix-deploy deploy in-process; progress, when given, also
// receives its progress lines. It may run off the test's goroutine.
func deployCLI(t *testing.T, ctx context.Context, f *testbed.Fleet, plan string, progress ...*onLine) *profilesRun {
	resFile := filepath.Join(t.TempDir(), "result.json")
	var stdout, stderr bytes.Buffer
	errW := &lockedWriter{w: &stderr}
	var w io.Writer = errW
	if len(progress) > 0 {
		progress[0].next = errW
		w = progress[0]
	}
	code := Run(ctx, []string{"deploy", "-f", plan, "--env", "local", "--ssh-key", f.KeyFile, "--no-ssh-agent",
		"--result", resFile, "--", "--option", "substituters", ""},
		IO{In: strings.NewReader(""), Out: &stdout, Err: w, Getenv: func(string) string { return "" }})
	r := &profilesRun{code: code, stderr: stderr.String()}
	data, err := os.ReadFile(resFile)
	if err == nil {
		r.result, err = deploy.ReadResult(data)
	}
	r.resultErr = err
	t.Logf("nix-deploy deploy: exit %d\n%s\n%s", code, stdout.String(), r.stderr)
	return r
}

// onLine runs fire, once, when a written line contains want, before the
// write returns: the deploy writing it waits meanwhile.
type onLine struct {
	want  string
	fire  func()
	next  *lockedWriter
	mu    sync.Mutex
	seen  bytes.Buffer
	fired bool
}

func (o *onLine) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen.Write(p)
	if !o.fired && strings.Contains(o.seen.String(), o.want) {
		o.fired = true
		o.fire()
	}
	return o.next.Write(p)
}

func (o *onLine) text() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seen.String()
}
