package deploy

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestWaves(t *testing.T) {
	tests := []struct {
		name string
		env  *config.Environment
		n    int
		want [][]int
	}{
		{"no env: one at a time", nil, 3, [][]int{{0}, {1}, {2}}},
		{"rolling 2", &config.Environment{Strategy: config.Rolling, MaxParallel: 2}, 5, [][]int{{0, 1}, {2, 3}, {4}}},
		{"rolling 0 means 1", &config.Environment{Strategy: config.Rolling}, 2, [][]int{{0}, {1}}},
		{"parallel unlimited", &config.Environment{Strategy: config.Parallel}, 4, [][]int{{0, 1, 2, 3}}},
		{"parallel bounded", &config.Environment{Strategy: config.Parallel, MaxParallel: 3}, 4, [][]int{{0, 1, 2}, {3}}},
		{"canary 1 then 3", &config.Environment{Strategy: config.Canary, Canary: 1, MaxParallel: 3}, 6, [][]int{{0}, {1, 2, 3}, {4, 5}}},
		{"canary more than nodes", &config.Environment{Strategy: config.Canary, Canary: 5}, 2, [][]int{{0, 1}}},
		{"empty", &config.Environment{Strategy: config.Canary}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, waves(tt.env, tt.n))
		})
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		outcomes  []Outcome
		cancelled bool
		want      int
	}{
		{[]Outcome{Deployed, Unchanged, DryActivated}, false, 0},
		{nil, false, 0},
		{[]Outcome{Deployed, Failed}, false, 1},
		{[]Outcome{Deployed, Skipped}, false, 1},
		{[]Outcome{Unreachable}, false, 1},
		{[]Outcome{RolledBack, Skipped, Failed}, false, 3},
		{[]Outcome{RolledBack, RollbackFailed}, false, 4},
		{[]Outcome{Cancelled, Deployed}, true, 130},
		{[]Outcome{RolledBack, Cancelled}, true, 130},
		{[]Outcome{RollbackFailed, Cancelled}, true, 4},
	}
	for _, tt := range tests {
		r := &Result{Cancelled: tt.cancelled}
		for _, o := range tt.outcomes {
			r.Nodes = append(r.Nodes, &NodeResult{Outcome: o})
		}
		r.ExitCode = r.exitCode()
		assert.Equal(t, tt.want, r.ExitCode, "%v cancelled=%v", tt.outcomes, tt.cancelled)
		if tt.want == 0 {
			assert.NoError(t, r.Err())
		} else {
			var re *ResultError
			require.ErrorAs(t, r.Err(), &re)
			assert.Equal(t, tt.want, re.ExitCode())
		}
	}
}

func TestNodeSummarise(t *testing.T) {
	n := &NodeResult{Profiles: []*ProfileResult{
		{Name: "system", Outcome: Deployed},
		{Name: "app", Outcome: RolledBack, Reason: ReasonHealthCheck, Error: "health check failed"},
		{Name: "home", Outcome: Skipped},
	}}
	n.summarise()
	assert.Equal(t, RolledBack, n.Outcome)
	assert.Equal(t, ReasonHealthCheck, n.Reason)
	assert.Equal(t, "app: health check failed", n.Error)
}

func TestFailedUnits(t *testing.T) {
	log := []string{
		"[nix-deploy] run: switch-to-configuration test",
		"warning: the following units failed: nginx.service, postgresql.service",
		"warning: the following units failed: nginx.service",
		"[nix-deploy] exit: 4",
	}
	assert.Equal(t, []string{"nginx.service", "postgresql.service"}, failedUnits(log))
	assert.Nil(t, failedUnits(nil))
}

const (
	genA = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-web1-1"
	genB = "/nix/store/1123456789abcdfghijklmnpqrsvwxyz-nixos-system-web1-2"
)

func TestParseGenerations(t *testing.T) {
	out := "generation=2 path=" + genB + " time=1700000100\n" +
		"generation=1 path=" + genA + " time=1700000000\n" +
		"current=system-2-link\nsystem=" + genB + "\n"
	ps, sys, err := ParseGenerations(out)
	require.NoError(t, err)
	assert.Equal(t, genB, sys)
	assert.Equal(t, 2, ps.Current)
	assert.Equal(t, genB, ps.CurrentPath())
	require.Len(t, ps.Generations, 2)
	assert.Equal(t, Generation{Number: 1, Path: genA, Time: time.Unix(1700000000, 0).UTC()}, ps.Generations[0])

	for _, bad := range []string{
		"generation=x path=" + genA,
		"generation=1 path=/tmp/x",
		"generation=1 path=" + genA + " junk",
		"something else",
	} {
		_, _, err := ParseGenerations(bad)
		assert.Error(t, err, bad)
	}
	ps, _, err = ParseGenerations("current=\nsystem=\n")
	require.NoError(t, err)
	assert.Empty(t, ps.Generations)
}

func FuzzParseGenerations(f *testing.F) {
	f.Add("generation=1 path=" + genA + " time=1\ncurrent=system-1-link\n")
	f.Add("generation=-1 path=x\n")
	f.Add("current=\nsystem=\n")
	f.Fuzz(func(t *testing.T, s string) {
		ps, _, err := ParseGenerations(s)
		if err != nil {
			return
		}
		for _, g := range ps.Generations {
			if !closure.IsStorePath(g.Path) || g.Number <= 0 {
				t.Fatalf("accepted %+v", g)
			}
		}
	})
}

func TestRollbackTarget(t *testing.T) {
	ps := &ProfileStatus{Current: 3, Generations: []Generation{{Number: 1, Path: genA}, {Number: 2, Path: genB}, {Number: 3, Path: genA, Current: true}}}
	p, err := rollbackTarget("web1", ps, 0)
	require.NoError(t, err)
	assert.Equal(t, genB, p)
	p, err = rollbackTarget("web1", ps, 1)
	require.NoError(t, err)
	assert.Equal(t, genA, p)
	_, err = rollbackTarget("web1", ps, 7)
	assert.ErrorContains(t, err, "no generation 7 (have 1, 2, 3)")
	_, err = rollbackTarget("web1", &ProfileStatus{Current: 1, Generations: []Generation{{Number: 1, Path: genA, Current: true}}}, 0)
	assert.ErrorContains(t, err, "nothing to roll back to")
}

func TestParsePathList(t *testing.T) {
	got, err := parsePathList(genA + "\n\n" + genB + "\n")
	require.NoError(t, err)
	assert.Equal(t, []string{genA, genB}, got)
	_, err = parsePathList("warning: x\n")
	assert.Error(t, err)
}

func FuzzParsePathList(f *testing.F) {
	f.Add(genA + "\n" + genB)
	f.Add("/nix/store/\n")
	f.Fuzz(func(t *testing.T, s string) {
		paths, err := parsePathList(s)
		if err != nil {
			return
		}
		for _, p := range paths {
			if !closure.IsStorePath(p) {
				t.Fatalf("accepted %q", p)
			}
		}
	})
}

// sampleResult has one node per kind of outcome, for the golden files.
func sampleResult() *Result {
	r := &Result{
		Version: ResultVersion, ID: "nd-0123456789ab", Environment: "production", Mode: "switch",
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Duration: Duration(42 * time.Second),
		Nodes: []*NodeResult{
			{Name: "web1", Host: "web1.example.com", Outcome: Deployed, Duration: Duration(12300 * time.Millisecond),
				Profiles: []*ProfileResult{{Name: "system", Path: genB, Previous: genA, Outcome: Deployed, Generation: 7,
					Transfer: &TransferStats{Closure: 120, Missing: 9, Bytes: 123456, Attempts: 1}}},
				Steps: []StepTiming{{Step: StepConnect, Duration: Duration(100 * time.Millisecond)}, {Step: StepTransfer, Profile: "system", Duration: Duration(2 * time.Second)}}},
			{Name: "web2", Host: "web2.example.com", Outcome: RolledBack, Reason: ReasonDegraded, Error: "system: units failed after activation: [nginx.service]", Duration: Duration(9 * time.Second),
				Profiles: []*ProfileResult{{Name: "system", Path: genB, Previous: genA, Outcome: RolledBack, Reason: ReasonDegraded,
					Error: "units failed after activation: [nginx.service]", FailedUnit: []string{"nginx.service"},
					Log: []string{"warning: the following units failed: nginx.service", "status: rolled-back reason=degraded"}}}},
			{Name: "db1", Host: "db1.example.com", Outcome: Unchanged, Profiles: []*ProfileResult{{Name: "system", Path: genA, Previous: genA, Outcome: Unchanged}}},
			{Name: "db2", Host: "db2.example.com", Outcome: Skipped, Profiles: []*ProfileResult{{Name: "system", Path: genA, Outcome: Skipped}}},
		},
	}
	r.ExitCode = r.exitCode()
	return r
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(file, got, 0o644))
	}
	want, err := os.ReadFile(file)
	require.NoError(t, err, "run with -update to create it")
	assert.Equal(t, string(want), string(got))
}

func TestResultGolden(t *testing.T) {
	r := sampleResult()
	var table, js bytes.Buffer
	require.NoError(t, r.WriteTable(&table))
	golden(t, "result.txt", table.Bytes())
	require.NoError(t, r.WriteJSON(&js))
	golden(t, "result.json", js.Bytes())
	back, err := ReadResult(js.Bytes())
	require.NoError(t, err)
	assert.Equal(t, r.ExitCode, back.ExitCode)
	assert.Equal(t, 3, back.ExitCode)
	assert.Equal(t, r.Nodes[1].Profiles[0].FailedUnit, back.Nodes[1].Profiles[0].FailedUnit)
}

func TestStatusGolden(t *testing.T) {
	st := []*NodeStatus{
		{Name: "web1", Host: "web1.example.com", CurrentSystem: genB, Profiles: []*ProfileStatus{{
			Name: "system", Path: "/nix/var/nix/profiles/system", Current: 2,
			Generations: []Generation{{Number: 1, Path: genA, Time: time.Unix(1700000000, 0)}, {Number: 2, Path: genB, Time: time.Unix(1700000100, 0), Current: true}},
		}}},
		{Name: "web2", Host: "web2.example.com", Error: "connect: connection refused"},
	}
	var b bytes.Buffer
	require.NoError(t, WriteStatus(&b, st))
	golden(t, "status.txt", b.Bytes())
}

// TestCoreImportsNoAdapters keeps the architecture true: the engine talks
// to the world only through its interfaces. ("net" is reached only through
// config's use of x/crypto/ssh for parsing keys, so it is checked on the
// package's own imports.)
func TestCoreImportsNoAdapters(t *testing.T) {
	const mod = "github.com/nix-deploy-action/nix-deploy-action/internal/"
	banned := []string{"os/exec", mod + "ssh", mod + "nix", mod + "testbed", mod + "github", mod + "cli", mod + "action"}
	deps, err := exec.Command("go", "list", "-deps", ".").Output()
	require.NoError(t, err)
	imports, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	require.NoError(t, err)
	for _, dep := range strings.Fields(string(deps)) {
		for _, b := range banned {
			if dep == b {
				t.Errorf("internal/deploy depends on %s", dep)
			}
		}
	}
	for _, imp := range strings.Fields(string(imports)) {
		if imp == "net" || strings.HasPrefix(imp, "net/") {
			t.Errorf("internal/deploy imports %s", imp)
		}
	}
}
