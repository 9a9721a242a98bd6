package lint

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// root is the repository root; tests run in the package directory.
const root = "../.."

// TestActionlint runs the pinned actionlint (a tool dependency in go.mod)
// over the project's workflows and the examples. self-test.yml uses the
// action as ./ and ./host, so this also checks both action.yml files.
// shellcheck, when on PATH, checks every `run:` script too.
func TestActionlint(t *testing.T) {
	var files []string
	for _, pattern := range []string{".github/workflows/*.yml", "examples/*.yml"} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		require.NoError(t, err)
		require.NotEmpty(t, m, "no files match %s", pattern)
		for _, f := range m {
			rel, err := filepath.Rel(root, f)
			require.NoError(t, err)
			files = append(files, rel)
		}
	}
	cmd := exec.CommandContext(context.Background(), "go", append([]string{"tool", "actionlint", "-no-color"}, files...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "actionlint findings:\n%s", out)
}

type actionMeta struct {
	Inputs map[string]struct {
		Description string `yaml:"description"`
		Default     string `yaml:"default"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Description string `yaml:"description"`
		Value       string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string `yaml:"using"`
		Steps []struct {
			ID  string            `yaml:"id"`
			Env map[string]string `yaml:"env"`
		} `yaml:"steps"`
	} `yaml:"runs"`
}

func readMeta(t *testing.T, path string) actionMeta {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, path))
	require.NoError(t, err)
	var m actionMeta
	require.NoError(t, yaml.Unmarshal(data, &m), path)
	return m
}

// TestHostVariantMatchesContainerAction keeps the promise that both
// variants take the same inputs and give the same outputs, and that the
// composite one hands every input to nix-deploy as the runner would.
func TestHostVariantMatchesContainerAction(t *testing.T) {
	docker := readMeta(t, "action.yml")
	host := readMeta(t, "host/action.yml")
	assert.Equal(t, "docker", docker.Runs.Using)
	assert.Equal(t, "composite", host.Runs.Using)

	require.Equal(t, sortedKeys(docker.Inputs), sortedKeys(host.Inputs), "input names")
	for name, in := range docker.Inputs {
		assert.Equal(t, in, host.Inputs[name], "input %s", name)
	}
	require.Equal(t, sortedKeys(docker.Outputs), sortedKeys(host.Outputs), "output names")

	var env map[string]string
	for _, s := range host.Runs.Steps {
		if s.ID == "run" {
			env = s.Env
		}
	}
	require.NotNil(t, env, "host/action.yml has no step with id run")
	for name := range docker.Inputs {
		key := "INPUT_" + strings.ToUpper(strings.ReplaceAll(name, " ", "_"))
		assert.Equal(t, "${{ inputs."+name+" }}", env[key], "host passes input %s as %s", name, key)
	}
	for name, out := range host.Outputs {
		assert.Equal(t, "${{ steps.run.outputs."+name+" }}", out.Value, "host output %s", name)
		assert.Equal(t, docker.Outputs[name].Description, out.Description, "output %s", name)
	}
}

// TestActionReference keeps docs/action.md listing every input with its
// default and every output.
func TestActionReference(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(root, "docs/action.md"))
	require.NoError(t, err)
	meta := readMeta(t, "action.yml")
	for name, in := range meta.Inputs {
		row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(name) + "` \\| `" + regexp.QuoteMeta(in.Default) + "` \\|")
		if in.Default == "" {
			row = regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(name) + "` \\| \\(empty\\) \\|")
		}
		assert.Regexp(t, row, string(doc), "docs/action.md: input %s with default %q", name, in.Default)
	}
	for name := range meta.Outputs {
		assert.Regexp(t, regexp.MustCompile("(?m)^\\| `"+regexp.QuoteMeta(name)+"` \\|"), string(doc), "docs/action.md: output %s", name)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
