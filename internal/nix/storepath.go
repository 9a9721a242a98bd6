package nix

import "github.com/nix-deploy-action/nix-deploy-action/internal/closure"

// StoreDir is the Nix store every supported deployment uses.
const StoreDir = closure.StoreDir

// IsStorePath reports whether p is a top-level store path (closure.IsStorePath).
func IsStorePath(p string) bool { return closure.IsStorePath(p) }
