package container

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// RunnerEnv is what a workflow step gives a container action: its checkout,
// its inputs (`with:`), its event and the runner's GITHUB_* variables.
type RunnerEnv struct {
	// Workspace is the host directory mounted at /github/workspace (the
	// checkout). Required.
	Workspace string
	// Inputs are the step's `with:` values by input name ("plan-file").
	// Inputs not given get their action.yml default, as on the runner.
	Inputs map[string]string
	// Env adds or overrides variables (GITHUB_API_URL, GITHUB_SHA, step
	// `env:`). Values that are host paths under the runner's directories
	// are translated to container paths, as the runner does.
	Env map[string]string
	// EventName is GITHUB_EVENT_NAME; "push" when empty.
	EventName string
	// Event is the payload at GITHUB_EVENT_PATH; "{}" when empty.
	Event []byte
	// Token is what `${{ github.token }}` evaluates to in input defaults.
	Token string
	// Entrypoint and Args replace the image's entrypoint and arguments, as
	// action.yml's runs.entrypoint and runs.args would.
	Entrypoint string
	Args       []string
}

// Result is what the runner keeps of a container action's step.
type Result struct {
	ExitCode int
	// Outputs are the step outputs written to GITHUB_OUTPUT.
	Outputs map[string]string
	// ExportedEnv is what the step wrote to GITHUB_ENV.
	ExportedEnv map[string]string
	// Summary is the markdown written to GITHUB_STEP_SUMMARY.
	Summary string
	// Stdout and Stderr are the step's log (workflow commands included).
	Stdout, Stderr string
	// RunnerTemp is the host directory the runner mounted at
	// /github/runner_temp; Home is /github/home.
	RunnerTemp, Home string
}

// RunAction runs image as GitHub's runner runs a container action: the
// same `docker run` flags, environment and mounts (see the package comment
// for the network), then parses the file commands the step wrote. A non-zero
// exit code is reported in Result, not as a test failure.
func RunAction(ctx context.Context, t testing.TB, image string, env RunnerEnv) Result {
	t.Helper()
	if env.Workspace == "" {
		t.Fatal("RunAction: RunnerEnv.Workspace is required")
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	inputs, err := actionInputs(filepath.Join(root, "action.yml"), env.Inputs, env.Token)
	if err != nil {
		t.Fatal(err)
	}

	// The runner's layout: <work>/_temp holds the home, the event and the
	// file command files, each mounted on its own under /github/.
	temp := t.TempDir()
	dirs := map[string]string{
		"home":     filepath.Join(temp, "_github_home"),
		"workflow": filepath.Join(temp, "_github_workflow"),
		"commands": filepath.Join(temp, "_runner_file_commands"),
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	event := env.Event
	if len(event) == 0 {
		event = []byte("{}")
	}
	eventPath := filepath.Join(dirs["workflow"], "event.json")
	if err := os.WriteFile(eventPath, event, 0o644); err != nil {
		t.Fatal(err)
	}
	suffix := randomHex()
	files := map[string]string{}
	for name, prefix := range map[string]string{
		"GITHUB_OUTPUT": "set_output_", "GITHUB_ENV": "set_env_", "GITHUB_PATH": "add_path_",
		"GITHUB_STATE": "save_state_", "GITHUB_STEP_SUMMARY": "step_summary_",
	} {
		files[name] = filepath.Join(dirs["commands"], prefix+suffix)
		if err := os.WriteFile(files[name], nil, 0o666); err != nil {
			t.Fatal(err)
		}
	}

	mounts := []mount{
		{temp, "/github/runner_temp"},
		{dirs["home"], "/github/home"},
		{dirs["workflow"], "/github/workflow"},
		{dirs["commands"], "/github/file_commands"},
		{env.Workspace, "/github/workspace"},
	}
	vars := runnerVars(env, temp)
	vars["HOME"] = dirs["home"]
	vars["GITHUB_EVENT_PATH"] = eventPath
	for k, v := range files {
		vars[k] = v
	}
	for k, v := range inputs {
		vars[k] = v
	}
	for k, v := range env.Env {
		vars[k] = v
	}

	// Like the runner, values travel in the docker process's environment
	// and only names appear on the command line: secrets stay off argv.
	name := "nix-deploy-test-" + suffix
	args := []string{"run", "--name", name, "--label", "nix-deploy-test", "--workdir", "/github/workspace", "--rm"}
	cmdEnv := os.Environ()
	for _, k := range sortedKeys(vars) {
		args = append(args, "-e", k)
		cmdEnv = append(cmdEnv, k+"="+translate(vars[k], mounts))
	}
	args = append(args, "-e", "GITHUB_ACTIONS=true", "-e", "CI=true")
	if env.Entrypoint != "" {
		args = append(args, "--entrypoint", env.Entrypoint)
	}
	if _, err := os.Stat("/var/run/docker.sock"); err == nil {
		args = append(args, "-v", "/var/run/docker.sock:/var/run/docker.sock")
	}
	for _, m := range mounts {
		args = append(args, "-v", m.host+":"+m.container)
	}
	args = append(args, "--network", "host", image)
	args = append(args, env.Args...)

	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = cmdEnv
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	res := Result{RunnerTemp: temp, Home: dirs["home"]}
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			t.Fatalf("docker run: %v", err)
		}
		res.ExitCode = exitErr.ExitCode()
	}
	res.Stdout, res.Stderr = stdout.String(), stderr.String()

	res.Outputs = readFileCommand(t, files["GITHUB_OUTPUT"])
	res.ExportedEnv = readFileCommand(t, files["GITHUB_ENV"])
	summary, err := os.ReadFile(files["GITHUB_STEP_SUMMARY"])
	if err != nil {
		t.Fatal(err)
	}
	res.Summary = string(summary)
	return res
}

func readFileCommand(t testing.TB, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseFileCommand(data)
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	return m
}

// runnerVars are the GITHUB_* and RUNNER_* variables the runner passes to
// every container action, with plausible values for a hosted runner.
func runnerVars(env RunnerEnv, temp string) map[string]string {
	event := env.EventName
	if event == "" {
		event = "push"
	}
	return map[string]string{
		"GITHUB_JOB":               "deploy",
		"GITHUB_REF":               "refs/heads/main",
		"GITHUB_SHA":               "0123456789abcdef0123456789abcdef01234567",
		"GITHUB_REPOSITORY":        "example/fleet",
		"GITHUB_REPOSITORY_OWNER":  "example",
		"GITHUB_REPOSITORY_ID":     "1",
		"GITHUB_RUN_ID":            "1000",
		"GITHUB_RUN_NUMBER":        "1",
		"GITHUB_RUN_ATTEMPT":       "1",
		"GITHUB_RETENTION_DAYS":    "90",
		"GITHUB_ACTOR":             "octocat",
		"GITHUB_ACTOR_ID":          "1",
		"GITHUB_TRIGGERING_ACTOR":  "octocat",
		"GITHUB_WORKFLOW":          "deploy",
		"GITHUB_WORKFLOW_REF":      "example/fleet/.github/workflows/deploy.yml@refs/heads/main",
		"GITHUB_WORKFLOW_SHA":      "0123456789abcdef0123456789abcdef01234567",
		"GITHUB_HEAD_REF":          "",
		"GITHUB_BASE_REF":          "",
		"GITHUB_EVENT_NAME":        event,
		"GITHUB_SERVER_URL":        "https://github.com",
		"GITHUB_API_URL":           "https://api.github.com",
		"GITHUB_GRAPHQL_URL":       "https://api.github.com/graphql",
		"GITHUB_REF_NAME":          "main",
		"GITHUB_REF_PROTECTED":     "false",
		"GITHUB_REF_TYPE":          "branch",
		"GITHUB_WORKSPACE":         env.Workspace,
		"GITHUB_ACTION":            "__self",
		"GITHUB_ACTION_REPOSITORY": "",
		"GITHUB_ACTION_REF":        "",
		"RUNNER_OS":                "Linux",
		"RUNNER_ARCH":              "X64",
		"RUNNER_NAME":              "GitHub Actions 1",
		"RUNNER_ENVIRONMENT":       "github-hosted",
		"RUNNER_TOOL_CACHE":        "/opt/hostedtoolcache",
		"RUNNER_TEMP":              temp,
		"RUNNER_WORKSPACE":         filepath.Dir(env.Workspace),
	}
}

// actionInputs returns INPUT_* variables for every input action.yml
// declares: the given value, else the default. The runner upper-cases the
// name and replaces spaces with underscores; hyphens stay.
func actionInputs(actionYML string, given map[string]string, token string) (map[string]string, error) {
	data, err := os.ReadFile(actionYML)
	if err != nil {
		return nil, fmt.Errorf("read action metadata: %w", err)
	}
	var meta struct {
		Inputs map[string]struct {
			Default string `yaml:"default"`
		} `yaml:"inputs"`
	}
	if err := yaml.Unmarshal(data, &meta); err != nil {
		return nil, fmt.Errorf("parse %s: %w", actionYML, err)
	}
	for name := range given {
		if _, ok := meta.Inputs[name]; !ok {
			return nil, fmt.Errorf("input %q is not declared in action.yml", name)
		}
	}
	vars := map[string]string{}
	for name, in := range meta.Inputs {
		v, ok := given[name]
		if !ok {
			v = in.Default
			switch {
			case v == "${{ github.token }}":
				v = token
			case strings.Contains(v, "${{"):
				return nil, fmt.Errorf("input %q: default %q needs an expression the harness does not evaluate", name, v)
			}
		}
		vars["INPUT_"+strings.ToUpper(strings.ReplaceAll(name, " ", "_"))] = v
	}
	return vars, nil
}

type mount struct{ host, container string }

// translate maps a host path under a mounted directory to its container
// path, longest mount first, as the runner's TranslateToContainerPath does
// for every environment value.
func translate(v string, mounts []mount) string {
	best := -1
	for i, m := range mounts {
		if (v == m.host || strings.HasPrefix(v, m.host+"/")) && (best < 0 || len(m.host) > len(mounts[best].host)) {
			best = i
		}
	}
	if best < 0 {
		return v
	}
	return mounts[best].container + strings.TrimPrefix(v, mounts[best].host)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func randomHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
