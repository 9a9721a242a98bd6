package nix

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
)

// VersionInfo is what `nix --version` says.
type VersionInfo struct {
	Lix          bool
	Major, Minor int
}

// ParseVersionInfo parses `nix --version` output: "nix (Nix) 2.8.0",
// "nix (Lix, like Nix) 2.91.1", "nix (Determinate Nix 3.6.2) 2.29.0". The
// last field is the Nix version.
func ParseVersionInfo(out string) (VersionInfo, error) {
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	fields := strings.Fields(line)
	if len(fields) < 2 || fields[0] != "nix" {
		return VersionInfo{}, fmt.Errorf("parse nix version: unexpected %q", line)
	}
	parts := strings.SplitN(fields[len(fields)-1], ".", 3)
	if len(parts) < 2 {
		return VersionInfo{}, fmt.Errorf("parse nix version: unexpected %q", line)
	}
	major, err1 := strconv.Atoi(parts[0])
	digits := strings.IndexFunc(parts[1]+"x", func(r rune) bool { return r < '0' || r > '9' })
	minor, err2 := strconv.Atoi(parts[1][:digits])
	if err1 != nil || err2 != nil {
		return VersionInfo{}, fmt.Errorf("parse nix version: unexpected %q", line)
	}
	return VersionInfo{Lix: strings.Contains(line, "Lix"), Major: major, Minor: minor}, nil
}

// DiffSizeStyle is how this Nix prints sizes in diff-closures: Modern from
// Nix 2.33 on, Legacy before and for Lix.
func (v VersionInfo) DiffSizeStyle() closure.SizeStyle {
	if !v.Lix && (v.Major > 2 || v.Major == 2 && v.Minor >= 33) {
		return closure.Modern
	}
	return closure.Legacy
}

// DiffSizeStyle asks nix for its version and returns its diff-closures size
// style; Legacy when nix cannot be run. The answer is cached on disk per nix
// binary (path, size and modification time), because starting nix costs a
// good part of what a whole diff does.
func (n *Nix) DiffSizeStyle(ctx context.Context) closure.SizeStyle {
	bin, err := exec.LookPath(n.bin())
	if err != nil {
		return closure.Legacy
	}
	if real, err := filepath.EvalSymlinks(bin); err == nil {
		bin = real
	}
	st, err := os.Stat(bin)
	if err != nil {
		return closure.Legacy
	}
	key := fmt.Sprintf("%s\t%d\t%d\t", bin, st.Size(), st.ModTime().UnixNano())
	cache := versionCachePath()
	if cache != "" {
		if data, err := os.ReadFile(cache); err == nil {
			if line, ok := strings.CutPrefix(string(data), key); ok {
				if v, err := ParseVersionInfo(line); err == nil {
					return v.DiffSizeStyle()
				}
			}
		}
	}
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return closure.Legacy
	}
	v, err := ParseVersionInfo(string(out))
	if err != nil {
		return closure.Legacy
	}
	if cache != "" {
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		// A cache we cannot write only costs the next run a nix call.
		if os.MkdirAll(filepath.Dir(cache), 0o755) == nil {
			_ = os.WriteFile(cache, []byte(key+line+"\n"), 0o644)
		}
	}
	return v.DiffSizeStyle()
}

func versionCachePath() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "nix-deploy", "nix-version")
}
