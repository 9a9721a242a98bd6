package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

var hostLabel = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?$`)

// checkHost returns the host without IPv6 brackets, or a message saying
// what is wrong with it.
func checkHost(h string) (string, string) {
	if h == "" {
		return "", "empty host: want a DNS name, an IPv4 or an IPv6 address"
	}
	bare := strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if a, err := netip.ParseAddr(bare); err == nil {
		if z := a.Zone(); z != "" && checkName(z) != "" {
			return "", fmt.Sprintf("%q has an unsafe IPv6 zone", h)
		}
		return bare, ""
	}
	if i := strings.LastIndexByte(h, ':'); i > 0 && strings.Count(h, ":") == 1 {
		if _, err := strconv.Atoi(h[i+1:]); err == nil {
			return "", fmt.Sprintf("%q includes a port: write host: %s and port: %s", h, h[:i], h[i+1:])
		}
	}
	if i := strings.IndexByte(h, '@'); i >= 0 {
		return "", fmt.Sprintf("%q includes a user: write host: %s and ssh-user: %s", h, h[i+1:], h[:i])
	}
	name := strings.TrimSuffix(h, ".")
	if len(name) > 253 {
		return "", fmt.Sprintf("%q is longer than 253 characters", h)
	}
	for _, label := range strings.Split(name, ".") {
		if len(label) > 63 || !hostLabel.MatchString(label) {
			return "", fmt.Sprintf("%q is not a DNS name, an IPv4 or an IPv6 address", h)
		}
	}
	return h, ""
}

// checkHostKey parses a pinned host key in authorized_keys format and
// returns it as "type base64", without comment.
func checkHostKey(s string) (string, string) {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "\r\n") {
		return "", "want one key on one line, such as: ssh-ed25519 AAAA..."
	}
	key, _, options, _, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		return "", "not an SSH public key: want the line from the node's /etc/ssh/ssh_host_ed25519_key.pub, such as: ssh-ed25519 AAAA..."
	}
	if len(options) > 0 {
		return "", "want the key alone, without authorized_keys options"
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))), ""
}

var pathSegment = regexp.MustCompile(`^[A-Za-z0-9._+@=-]+$`)

// checkRelPath checks a path inside a store path, such as bin/activate.
func checkRelPath(p string) string {
	switch {
	case p == "":
		return "empty path"
	case strings.HasPrefix(p, "/"):
		return fmt.Sprintf("%q is absolute: want a path inside the profile's store path, such as bin/activate", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return fmt.Sprintf("%q leaves the store path: '..' is not allowed", p)
		}
		if seg == "" || seg == "." || !pathSegment.MatchString(seg) {
			return fmt.Sprintf("%q is not a clean relative path of letters, digits and ._+@=-", p)
		}
	}
	return ""
}

// checkAbsPath checks a profile path on a node.
func checkAbsPath(p string) string {
	if !strings.HasPrefix(p, "/") || p == "/" {
		return fmt.Sprintf("%q is not an absolute path", p)
	}
	if path.Clean(p) != p {
		return fmt.Sprintf("%q is not clean: write %s", p, path.Clean(p))
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == ".." || !pathSegment.MatchString(seg) || strings.HasPrefix(seg, "-") {
			return fmt.Sprintf("%q is not a path of letters, digits and ._+@=-", p)
		}
	}
	return ""
}

// checkWord rejects text that nix would misread as an option or that holds
// whitespace or control characters.
func checkWord(s, what string) string {
	switch {
	case s == "":
		return "empty " + what
	case strings.HasPrefix(s, "-"):
		return fmt.Sprintf("%s %q starts with '-'", what, s)
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return fmt.Sprintf("%s %q contains whitespace or control characters", what, s)
	}
	return ""
}

// isPathRef says whether a flake reference is a local path, which the plan
// resolves against its own directory.
func isPathRef(ref string) bool {
	return ref == "." || ref == ".." || strings.HasPrefix(ref, "./") || strings.HasPrefix(ref, "../")
}

// resolvePath joins a relative path to dir; the result keeps a leading
// "./" so nix reads it as a path and not as a flake registry name.
func resolvePath(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	j := filepath.Join(dir, p)
	if filepath.IsAbs(j) || j == "." || j == ".." || strings.HasPrefix(j, "./") || strings.HasPrefix(j, "../") {
		return j
	}
	return "./" + j
}

// resolveRef resolves a flake reference written in a plan in dir.
func resolveRef(dir, ref string) string {
	if rest, ok := strings.CutPrefix(ref, "path:"); ok && isPathRef(rest) {
		return "path:" + resolvePath(dir, rest)
	}
	if isPathRef(ref) {
		return resolvePath(dir, ref)
	}
	return ref
}

var nixIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_'-]*$`)

// attrName quotes an attribute name for an installable when it is not a
// plain Nix identifier (a host name such as web1.example.com).
func attrName(s string) string {
	if nixIdent.MatchString(s) {
		return s
	}
	return strconv.Quote(s)
}

// checkURL checks an http or https URL with a host.
func checkURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Sprintf("%q is not an http:// or https:// URL", s)
	}
	return ""
}
