package container

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The Nix base image stands in for nixos/nix: Debian with Debian's Nix, git,
// CA certificates and an ssh client (libdbi-perl is named because debootstrap
// does not resolve the virtual perl-dbdabi-94 that nix-bin needs). Changing
// the recipe changes the image's tag, so a stale cached image is never reused.
const (
	debianSuite       = "bookworm"
	nixBasePackages   = "nix-bin,git,ca-certificates,openssh-client,libdbi-perl"
	nixBaseRepository = "nix-deploy-test/nix-base"
	goRepository      = "nix-deploy-test/go"
	imagePath         = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	// A root, single-user Nix in a container without extra capabilities: no
	// build users and no build sandbox, as the nixos/nix image configures it.
	nixBaseConf = "build-users-group =\nsandbox = false\n"
	// rootfsTrim are the parts of the rootfs nobody in the image reads.
	rootfsTrim = "usr/share/doc usr/share/man usr/share/locale usr/share/info var/cache/apt/archives var/lib/apt/lists"
)

// BaseImages are the local images passed to the Dockerfile as GO_IMAGE and
// BASE_IMAGE.
type BaseImages struct {
	Go  string
	Nix string
}

// LocalBaseImages returns the local base images, building and caching them in
// the Docker engine when missing. A cold build (debootstrap from the Debian
// mirror apt uses) takes about a minute; later runs only inspect.
func LocalBaseImages(ctx context.Context, t testing.TB) BaseImages {
	t.Helper()
	cache, err := cacheDir()
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := lockFile(filepath.Join(cache, "base-images.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()

	mirror := debianMirror(readAptSources(), debianSuite)
	nixTag := nixBaseRepository + ":" + shortHash("v2", debianSuite, nixBasePackages, nixBaseConf, rootfsTrim, mirror)
	if !imageExists(ctx, nixTag) {
		t.Logf("building %s with debootstrap from %s", nixTag, mirror)
		if err := buildNixBase(ctx, cache, mirror, nixTag); err != nil {
			t.Fatal(err)
		}
	}

	goroot := runtime.GOROOT()
	goVersion := strings.TrimPrefix(runtime.Version(), "go")
	goTag := goRepository + ":" + goVersion + "-" + shortHash("v1", nixTag, goroot)
	if !imageExists(ctx, goTag) {
		t.Logf("building %s from %s", goTag, goroot)
		if err := buildGoImage(ctx, nixTag, goroot, goTag); err != nil {
			t.Fatal(err)
		}
	}
	return BaseImages{Go: goTag, Nix: nixTag}
}

func buildNixBase(ctx context.Context, cache, mirror, tag string) error {
	debs := filepath.Join(cache, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return fmt.Errorf("create deb cache: %w", err)
	}
	rootfs, err := os.MkdirTemp(cache, "rootfs-")
	if err != nil {
		return fmt.Errorf("create rootfs directory: %w", err)
	}
	defer removeRootfs(rootfs)

	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase",
		"--include="+nixBasePackages, "--cache-dir="+debs, debianSuite, rootfs, mirror)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("debootstrap %s: %w: %s", debianSuite, err, tail(string(out), 4000))
	}
	for _, p := range strings.Fields(rootfsTrim) {
		if err := os.RemoveAll(filepath.Join(rootfs, p)); err != nil {
			return fmt.Errorf("trim rootfs: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(rootfs, "etc/nix"), 0o755); err != nil {
		return fmt.Errorf("create /etc/nix: %w", err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc/nix/nix.conf"), []byte(nixBaseConf), 0o644); err != nil {
		return fmt.Errorf("write nix.conf: %w", err)
	}
	// nixos/nix ships an initialised store (its database, gcroots and
	// profiles). Without one, the first Nix processes started at once in a
	// container race to create it: "creating symlink from
	// '/nix/var/nix/gcroots/profiles' ...: File exists".
	if out, err := exec.CommandContext(ctx, "chroot", rootfs, "/usr/bin/nix-store", "--init").CombinedOutput(); err != nil {
		return fmt.Errorf("initialise the image's nix store: %w: %s", err, tail(string(out), 2000))
	}

	tarCmd := exec.CommandContext(ctx, "tar", "--numeric-owner", "-C", rootfs, "-c", ".")
	pipe, err := tarCmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("tar rootfs: %w", err)
	}
	var tarErr bytes.Buffer
	tarCmd.Stderr = &tarErr
	if err := tarCmd.Start(); err != nil {
		return fmt.Errorf("tar rootfs: %w", err)
	}
	_, importErr := docker(ctx, pipe, "import", "--change", "ENV "+imagePath, "-", tag)
	if err := tarCmd.Wait(); err != nil {
		return fmt.Errorf("tar rootfs: %w: %s", err, tail(tarErr.String(), 2000))
	}
	return importErr
}

// removeRootfs deletes a debootstrap target unless something is still
// mounted below it (debootstrap mounts /proc and /sys while it works):
// deleting through a live mount would delete the host's files.
func removeRootfs(rootfs string) {
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil || bytes.Contains(mounts, []byte(" "+rootfs+"/")) {
		return
	}
	os.RemoveAll(rootfs)
}

// buildGoImage layers the host's Go toolchain on the Nix base: a Go image
// that is exactly the Go the tests run with.
func buildGoImage(ctx context.Context, base, goroot, tag string) error {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(writeGoContext(pw, base, goroot))
	}()
	_, err := docker(ctx, pr, "build", "--force-rm", "--quiet", "-t", tag, "-")
	pr.CloseWithError(io.ErrClosedPipe)
	return err
}

// writeGoContext writes a docker build context (tar) holding a Dockerfile and
// the Go tree at go/.
func writeGoContext(w io.Writer, base, goroot string) error {
	tw := tar.NewWriter(w)
	dockerfile := fmt.Sprintf("FROM %s\nCOPY go /usr/local/go\nENV PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n", base)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := io.WriteString(tw, dockerfile); err != nil {
		return err
	}
	err := filepath.WalkDir(goroot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(goroot, path)
		if err != nil {
			return err
		}
		// The toolchain's own test suite is a quarter of GOROOT and unused.
		if d.IsDir() && rel == "test" {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(filepath.Join("go", rel))
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("pack %s: %w", goroot, err)
	}
	return tw.Close()
}

// readAptSources returns the text of apt's source lists, for debianMirror.
func readAptSources() string {
	var b strings.Builder
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	for _, f := range append([]string{"/etc/apt/sources.list"}, files...) {
		if data, err := os.ReadFile(f); err == nil {
			b.Write(data)
			b.WriteString("\n\n")
		}
	}
	return b.String()
}

// debianMirror finds the Debian archive apt uses for suite, in one-line
// ("deb URI SUITE ...") or deb822 ("URIs:"/"Suites:") source lists. The
// NIX_DEPLOY_TEST_DEBIAN_MIRROR environment variable overrides it.
func debianMirror(sources, suite string) string {
	if m := os.Getenv("NIX_DEPLOY_TEST_DEBIAN_MIRROR"); m != "" {
		return m
	}
	isArchive := func(uri string) bool {
		return strings.HasPrefix(uri, "http") && strings.HasSuffix(strings.TrimRight(uri, "/"), "/debian")
	}
	var uris, suites []string
	flush := func() string {
		defer func() { uris, suites = nil, nil }()
		for _, s := range suites {
			if s != suite {
				continue
			}
			for _, u := range uris {
				if isArchive(u) {
					return u
				}
			}
		}
		return ""
	}
	sc := bufio.NewScanner(strings.NewReader(sources))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			if m := flush(); m != "" {
				return m
			}
			continue
		}
		f := strings.Fields(line)
		switch {
		case f[0] == "deb":
			// deb [options] URI SUITE COMPONENTS...
			rest := f[1:]
			if len(rest) > 0 && strings.HasPrefix(rest[0], "[") {
				for len(rest) > 0 && !strings.HasSuffix(rest[0], "]") {
					rest = rest[1:]
				}
				if len(rest) > 0 {
					rest = rest[1:]
				}
			}
			if len(rest) >= 2 && rest[1] == suite && isArchive(rest[0]) {
				return rest[0]
			}
		case strings.EqualFold(f[0], "URIs:"):
			uris = append(uris, f[1:]...)
		case strings.EqualFold(f[0], "Suites:"):
			suites = append(suites, f[1:]...)
		}
	}
	if m := flush(); m != "" {
		return m
	}
	return "http://deb.debian.org/debian"
}

func shortHash(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:6])
}
