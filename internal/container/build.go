package container

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVersion is the version BuildImage stamps into the binary, so a test
// can tell the image's nix-deploy from any other.
const TestVersion = "v0.0.0-container-test"

// BuildImage builds the repository's Dockerfile as the runner does
// (`docker build -t ... -f Dockerfile <action directory>`) with the local
// base images as GO_IMAGE and BASE_IMAGE, and returns the image ID. Docker's
// layer cache makes a rebuild of unchanged sources cheap.
func BuildImage(ctx context.Context, t testing.TB) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bases := LocalBaseImages(ctx, t)
	proxy := serveModuleCache(ctx, t, root)

	iid := filepath.Join(t.TempDir(), "iid")
	_, err = docker(ctx, nil, "build",
		"--network", "host",
		"--build-arg", "GO_IMAGE="+bases.Go,
		"--build-arg", "BASE_IMAGE="+bases.Nix,
		"--build-arg", "GOPROXY="+proxy,
		"--build-arg", "VERSION="+TestVersion,
		"--iidfile", iid,
		"-t", "nix-deploy-action-test:local",
		"-f", filepath.Join(root, "Dockerfile"),
		root)
	if err != nil {
		t.Fatalf("build the action image: %v", err)
	}
	id, err := os.ReadFile(iid)
	if err != nil {
		t.Fatalf("read image id: %v", err)
	}
	return strings.TrimSpace(string(id))
}

// serveModuleCache serves the host's Go module download cache as a GOPROXY
// on the host's loopback, after making sure it holds every module of go.mod.
// Builds then need neither the network nor the egress CA of the host.
func serveModuleCache(ctx context.Context, t testing.TB, root string) string {
	t.Helper()
	download := exec.CommandContext(ctx, "go", "mod", "download")
	download.Dir = root
	if out, err := download.CombinedOutput(); err != nil {
		t.Fatalf("go mod download: %v: %s", err, out)
	}
	modcache, err := exec.CommandContext(ctx, "go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOMODCACHE: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(modcache)), "cache", "download")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen for the module proxy: %v", err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir))}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}
