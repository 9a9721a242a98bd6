package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
	"github.com/nix-deploy-action/nix-deploy-action/internal/nix"
)

// localNode runs a node's commands as local processes against a chroot
// store at root: the transfer's far side with the real nix-store, without
// SSH (the deploy tests in internal/cli cover it over SSH).
type localNode struct{ root string }

func (n localNode) Run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	for i, a := range argv {
		if filepath.Base(a) == "nix-store" {
			argv = append(argv[:i+1:i+1], append([]string{"--store", n.root}, argv[i+1:]...)...)
			break
		}
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &RemoteExit{Status: ee.ExitCode()}
	}
	return err
}

func (localNode) Close() error { return nil }

type asRoot struct{}

func (asRoot) Wrap(argv []string) []string { return argv }
func (asRoot) Stdin(r io.Reader) io.Reader { return r }

// exportOnly hides the store's ServeCopy: the nix-store --import path.
type exportOnly struct{ Store }

// buildClosure builds c -> b -> a and returns their paths, dependencies
// first.
func buildClosure(t *testing.T) []string {
	t.Helper()
	expr := `let mk = name: deps: builtins.derivation {
  inherit name; system = "x86_64-linux"; builder = "/bin/sh";
  args = [ "-c" ("echo " + name + " NONCE " + builtins.concatStringsSep " " deps + " > $out") ];
}; a = mk "a-1.0" []; b = mk "b-2.0" [ "${a}" ]; in mk "c-3.0" [ "${b}" ]`
	expr = strings.ReplaceAll(expr, "NONCE", strconv.FormatInt(time.Now().UnixNano(), 10))
	out, err := exec.Command("nix", "--extra-experimental-features", "nix-command flakes",
		"build", "--json", "--no-link", "--impure", "--expr", expr).Output()
	require.NoError(t, err)
	var res []struct {
		Outputs map[string]string `json:"outputs"`
	}
	require.NoError(t, json.Unmarshal(out, &res))
	require.Len(t, res, 1)
	paths, err := (&nix.LocalStore{}).Requisites(context.Background(), res[0].Outputs["out"])
	require.NoError(t, err)
	require.Len(t, paths, 3)
	return paths
}

func invalidIn(t *testing.T, root string, paths []string) string {
	t.Helper()
	out, err := exec.Command("nix-store", append([]string{"--store", root, "--check-validity", "--print-invalid"}, paths...)...).CombinedOutput()
	require.NoError(t, err, string(out))
	return strings.TrimSpace(string(out))
}

// TestPush sends a closure to an empty store both ways: all of it, then
// nothing (it is there), and only what is missing when the node has part.
func TestPush(t *testing.T) {
	ctx := context.Background()
	closure := buildClosure(t)
	for _, tt := range []struct {
		name  string
		store Store
	}{
		{"serve", &nix.LocalStore{}},
		{"import", exportOnly{&nix.LocalStore{}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "store")
			require.NoError(t, os.MkdirAll(root, 0o755))
			r := &remote{d: &Deployer{Store: tt.store}, conn: localNode{root}, sudo: asRoot{}}

			// The node has the dependency already: only the rest is sent.
			st := &TransferStats{}
			require.NoError(t, r.push(ctx, "nix-store", closure[:1], st))
			st = &TransferStats{}
			require.NoError(t, r.push(ctx, "nix-store", closure, st))
			assert.Equal(t, 2, st.Missing)
			assert.Positive(t, st.Bytes)
			assert.Positive(t, st.Stream)
			assert.Empty(t, invalidIn(t, root, closure))

			st = &TransferStats{}
			require.NoError(t, r.push(ctx, "nix-store", closure, st))
			assert.Zero(t, st.Missing)
			assert.Zero(t, st.Bytes)
		})
	}
}

// TestPushNodeFails: a node whose nix-store cannot run is an error naming
// the node's failure, never a hang.
func TestPushNodeFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	closure := buildClosure(t)
	for _, store := range []Store{&nix.LocalStore{}, exportOnly{&nix.LocalStore{}}} {
		r := &remote{d: &Deployer{Store: store}, conn: localNode{t.TempDir()}, sudo: asRoot{}}
		err := r.push(ctx, "/nonexistent/nix-store", closure, &TransferStats{})
		require.ErrorContains(t, err, "/nonexistent/nix-store")
		require.NoError(t, ctx.Err())
	}
}

// TestPushFallsBackFromOldServe: a node whose nix-store --serve speaks a
// protocol too old to receive paths gets them through --import instead.
func TestPushFallsBackFromOldServe(t *testing.T) {
	ctx := context.Background()
	closure := buildClosure(t)
	real, err := exec.LookPath("nix-store")
	require.NoError(t, err)
	// An old nix-store: its --serve answers the handshake with protocol
	// 2.4; everything else is the real nix-store.
	old := filepath.Join(t.TempDir(), "nix-store")
	script := "#!/bin/sh\n" +
		"for a in \"$@\"; do [ \"$a\" = --serve ] && { head -c 8 >/dev/null; printf '\\313\\356\\122\\124\\000\\000\\000\\000\\004\\002\\000\\000\\000\\000\\000\\000'; exit 0; }; done\n" +
		"exec " + real + " \"$@\"\n"
	require.NoError(t, os.WriteFile(old, []byte(script), 0o755))

	root := filepath.Join(t.TempDir(), "store")
	require.NoError(t, os.MkdirAll(root, 0o755))
	r := &remote{d: &Deployer{Store: &nix.LocalStore{}}, conn: localNode{root}, sudo: asRoot{}, node: &config.Node{Name: "old"}}
	st := &TransferStats{}
	require.NoError(t, r.push(ctx, old, closure, st))
	assert.Equal(t, 3, st.Missing)
	assert.Empty(t, invalidIn(t, root, closure), "every path arrived through --import")
}
