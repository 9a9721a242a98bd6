package ssh

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"strings"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError is a refused host key: unknown, or not the expected one.
type HostKeyError struct {
	Host     string   // host:port as dialled
	SeenType string   // key type the server presented, e.g. ssh-ed25519
	Seen     string   // its SHA256 fingerprint, as ssh-keygen -l prints it
	Expected []string // "type SHA256:..." of each accepted key; empty when the host is unknown
	Revoked  bool     // the key is marked @revoked in known_hosts
}

func (e *HostKeyError) Error() string {
	switch {
	case e.Revoked:
		return fmt.Sprintf("host key of %s is revoked: %s %s", e.Host, e.SeenType, e.Seen)
	case len(e.Expected) == 0:
		return fmt.Sprintf("host key of %s is unknown: server presented %s %s; pin it (host-key) or add it to known_hosts", e.Host, e.SeenType, e.Seen)
	}
	return fmt.Sprintf("host key of %s CHANGED: server presented %s %s, expected %s", e.Host, e.SeenType, e.Seen, strings.Join(e.Expected, " or "))
}

func describe(k xssh.PublicKey) string { return k.Type() + " " + xssh.FingerprintSHA256(k) }

// hostKeyCheck returns the callback that verifies the server's key (during
// key exchange, so before any authentication) and the host key algorithms
// to offer, so the server presents a key type we can verify.
func hostKeyCheck(cfg Config, addr string) (xssh.HostKeyCallback, []string, error) {
	if strings.TrimSpace(cfg.HostKey) != "" {
		keys, err := parsePinned(cfg.HostKey)
		if err != nil {
			return nil, nil, err
		}
		return pinnedCallback(keys), algorithms(keys), nil
	}
	if cfg.KnownHostsFile == "" {
		// Nothing to verify against: connect anyway, so the refusal names
		// the key the user may want to pin.
		return func(host string, _ net.Addr, key xssh.PublicKey) error {
			return &HostKeyError{Host: host, SeenType: key.Type(), Seen: xssh.FingerprintSHA256(key)}
		}, nil, nil
	}
	cb, err := knownhosts.New(cfg.KnownHostsFile)
	if err != nil {
		return nil, nil, fmt.Errorf("read known_hosts %s: %w", cfg.KnownHostsFile, err)
	}
	check := func(host string, remote net.Addr, key xssh.PublicKey) error {
		err := cb(host, remote, key)
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ke):
			e := &HostKeyError{Host: host, SeenType: key.Type(), Seen: xssh.FingerprintSHA256(key)}
			for _, w := range ke.Want {
				e.Expected = append(e.Expected, describe(w.Key))
			}
			return e
		case errors.As(err, &re):
			return &HostKeyError{Host: host, SeenType: key.Type(), Seen: xssh.FingerprintSHA256(key), Revoked: true}
		}
		return fmt.Errorf("check host key of %s: %w", host, err)
	}
	return check, knownAlgorithms(cb, addr), nil
}

func parsePinned(text string) ([]xssh.PublicKey, error) {
	var keys []xssh.PublicKey
	rest := []byte(text)
	for len(strings.TrimSpace(string(rest))) > 0 {
		k, _, _, r, err := xssh.ParseAuthorizedKey(rest)
		if err != nil {
			return nil, fmt.Errorf("parse pinned host key: %w", err)
		}
		keys = append(keys, k)
		rest = r
	}
	return keys, nil
}

func pinnedCallback(keys []xssh.PublicKey) xssh.HostKeyCallback {
	return func(host string, _ net.Addr, key xssh.PublicKey) error {
		seen := string(key.Marshal())
		e := &HostKeyError{Host: host, SeenType: key.Type(), Seen: xssh.FingerprintSHA256(key)}
		for _, k := range keys {
			if string(k.Marshal()) == seen {
				return nil
			}
			e.Expected = append(e.Expected, describe(k))
		}
		return e
	}
}

// knownAlgorithms learns which key types known_hosts holds for addr by
// checking a throwaway key: the mismatch error lists the known keys.
func knownAlgorithms(cb xssh.HostKeyCallback, addr string) []string {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil
	}
	probe, err := xssh.NewPublicKey(pub)
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if err := cb(addr, &net.TCPAddr{}, probe); !errors.As(err, &ke) {
		return nil
	}
	var keys []xssh.PublicKey
	for _, w := range ke.Want {
		keys = append(keys, w.Key)
	}
	return algorithms(keys)
}

// algorithms lists the host key algorithms that can verify keys.
func algorithms(keys []xssh.PublicKey) []string {
	var out []string
	seen := map[string]bool{}
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, k := range keys {
		if k.Type() == xssh.KeyAlgoRSA {
			add(xssh.KeyAlgoRSASHA512)
			add(xssh.KeyAlgoRSASHA256)
		}
		add(k.Type())
	}
	return out
}
