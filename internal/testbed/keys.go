package testbed

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
)

// writeClientKey creates the fleet's client key: path (OpenSSH private key
// format, as ssh -i and our deploy tool read it) and path.pub.
func writeClientKey(path string) (ssh.Signer, error) {
	signer, pub, err := writeKey(path, "nix-deploy-testbed")
	if err != nil {
		return nil, fmt.Errorf("client key: %w", err)
	}
	if err := writeFile(path+".pub", []byte(pub+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("client key: %w", err)
	}
	return signer, nil
}

// writeHostKey creates an sshd host key at path and returns its public
// half as an authorized_keys line.
func writeHostKey(path string) (string, error) {
	_, pub, err := writeKey(path, "")
	if err != nil {
		return "", fmt.Errorf("host key: %w", err)
	}
	return pub, nil
}

func writeKey(path, comment string) (ssh.Signer, string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", err
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, "", err
	}
	if err := writeFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, "", err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, "", err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, "", err
	}
	return signer, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))), nil
}

// signer reads the fleet's client key.
func (f *Fleet) signer() (ssh.Signer, error) {
	data, err := os.ReadFile(f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("client key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("client key %s: %w", f.KeyFile, err)
	}
	return signer, nil
}
