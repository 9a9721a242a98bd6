package container

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestVersion is the version BuildImage stamps into the binary, so a test
// can tell the image's nix-deploy from any other.
const TestVersion = "v0.0.0-container-test"

// BuildImage builds the repository's Dockerfile as the runner does
// (`docker build -t ... -f Dockerfile <action directory>`) with local base
// images as GO_IMAGE and BASE_IMAGE, and returns the image ID.
//
// GO_IMAGE holds every module of go.mod and a warm Go build cache (see
// warmGoImage), so the build runs with GOPROXY=off: no network, and build
// arguments that stay the same from run to run, which Docker's layer cache
// needs (a build argument a RUN sees is part of its cache key). An
// unchanged tree is then a cache hit; a changed one recompiles only the
// packages that changed.
func BuildImage(ctx context.Context, t testing.TB) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bases := LocalBaseImages(ctx, t)
	goImage := warmGoImage(ctx, t, bases.Go, root)

	old, _ := docker(ctx, nil, "image", "inspect", "-f", "{{.Id}}", actionTestImage)
	start := time.Now()
	iid := filepath.Join(t.TempDir(), "iid")
	_, err = docker(ctx, nil, "build", "--force-rm",
		"--build-arg", "GO_IMAGE="+goImage,
		"--build-arg", "BASE_IMAGE="+bases.Nix,
		"--build-arg", "GOPROXY=off",
		"--build-arg", "VERSION="+TestVersion,
		"--iidfile", iid,
		"-t", actionTestImage,
		"-f", filepath.Join(root, "Dockerfile"),
		root)
	if err != nil {
		t.Fatalf("build the action image: %v", err)
	}
	id, err := os.ReadFile(iid)
	if err != nil {
		t.Fatalf("read image id: %v", err)
	}
	t.Logf("built the action image in %s", time.Since(start).Round(100*time.Millisecond))
	newID := strings.TrimSpace(string(id))
	forgetOldImages(ctx, t, strings.TrimSpace(old), newID)
	return newID
}

// actionTestImage is the tag the tests build the action image under.
const actionTestImage = "nix-deploy-action-test:local"

// forgetOldImages keeps repeated test runs from filling the disk: every
// source change leaves the previous action image (~250 MB) and its Go
// stage (~1.1 GB) behind, untagged. The previous image goes at once; the
// untagged stages are build cache, so only those a day old go. Best effort:
// an image still in use stays.
func forgetOldImages(ctx context.Context, t testing.TB, old, current string) {
	if old != "" && old != current {
		if _, err := docker(ctx, nil, "rmi", old); err != nil {
			t.Logf("keep the previous action image %s: %v", old, err)
		}
	}
	if _, err := docker(ctx, nil, "image", "prune", "-f", "--filter", "until=24h"); err != nil {
		t.Logf("prune old untagged images: %v", err)
	}
}

// warmGoImage returns goImage plus the module cache of go.mod and a Go build
// cache of the standard library and the module's dependencies, compiled
// with the Dockerfile's flags, so that its Go stage compiles only our own
// changed packages. (Debian's Docker has no buildx, so no BuildKit cache
// mounts: the classic builder reruns the Go stage from scratch whenever a
// source changes.) What the image ships is unaffected: its final stage
// takes only the binary. The image is rebuilt when go.mod or go.sum change.
func warmGoImage(ctx context.Context, t testing.TB, goImage, root string) string {
	t.Helper()
	var mod []string
	for _, name := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		mod = append(mod, string(data))
	}
	cache, err := cacheDir()
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := lockFile(filepath.Join(cache, "go-warm.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	// The sources go to a directory the Dockerfile does not use and are
	// deleted: stale files in its /src would end up in the binary.
	dockerfile := fmt.Sprintf(`FROM %s
ARG GOPROXY
COPY . /tmp/warm/
RUN cd /tmp/warm && go mod download \
 && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -o /dev/null ./cmd/nix-deploy \
 && rm -rf /tmp/warm
`, goImage)
	tag := goRepository + "-warm:" + shortHash(dockerfile, mod[0], mod[1])
	if imageExists(ctx, tag) {
		return tag
	}
	t.Logf("building %s: the modules and a Go build cache for the Dockerfile's Go stage", tag)
	proxy := serveModuleCache(ctx, t, root)
	// --network host only to reach the module proxy on the host's loopback.
	_, err = docker(ctx, strings.NewReader(dockerfile), "build", "--force-rm", "--network", "host",
		"--build-arg", "GOPROXY="+proxy, "-t", tag, "-f", "-", root)
	if err != nil {
		t.Fatalf("build %s: %v", tag, err)
	}
	return tag
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
