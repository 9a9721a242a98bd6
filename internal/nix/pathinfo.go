package nix

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
)

// PathInfo is what we use of `nix path-info --json` for one store path.
type PathInfo struct {
	Path       string
	NarSize    int64
	References []string
}

// ErrInvalidPath is a path that path-info reports as not valid (not in the
// store).
var ErrInvalidPath = errors.New("path is not valid")

// pathInfoJSON is one entry in any of the formats; references are full
// paths up to format 1 and base names in format 2.
type pathInfoJSON struct {
	Path       string   `json:"path"`
	NarSize    *int64   `json:"narSize"`
	References []string `json:"references"`
	Valid      *bool    `json:"valid"`
}

// ParsePathInfo parses `nix path-info --json [-r]` output of any Nix version
// into store paths with their NAR sizes, sorted by path.
func ParsePathInfo(data []byte) ([]closure.Path, error) {
	infos, err := DecodePathInfo(data)
	if err != nil {
		return nil, err
	}
	paths := make([]closure.Path, len(infos))
	for i, in := range infos {
		paths[i] = closure.Path{Path: in.Path, NarSize: in.NarSize}
	}
	return paths, nil
}

// DecodePathInfo parses `nix path-info --json` output, sorted by path. The
// format depends on the Nix version:
//   - up to 2.18: a list of {"path", "narSize", "references", ...}, with
//     {"path", "valid": false} for a path not in the store;
//   - 2.19 to 2.32 (and format 1 later): an object path → info, with null
//     for a path not in the store;
//   - format 2 (2.33 and later): {"version": 2, "storeDir", "info":
//     {base name → info}} with base names as references.
//
// It never panics, and it rejects anything that is not a /nix/store path:
// the output may come from a remote node.
func DecodePathInfo(data []byte) ([]PathInfo, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("parse path-info: empty output")
	}
	var entries []pathInfoJSON
	var err error
	switch data[0] {
	case '[':
		err = json.Unmarshal(data, &entries)
	case '{':
		entries, err = decodePathInfoObject(data)
	default:
		return nil, fmt.Errorf("parse path-info: not a JSON list or object")
	}
	if err != nil {
		return nil, fmt.Errorf("parse path-info: %w", err)
	}
	return checkPathInfo(entries)
}

func decodePathInfoObject(data []byte) ([]pathInfoJSON, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, err
	}
	if rawVersion, ok := obj["version"]; ok {
		return decodePathInfoV2(rawVersion, obj)
	}
	entries := make([]pathInfoJSON, 0, len(obj))
	for p, raw := range obj {
		e, err := decodeEntry(p, raw)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	return entries, nil
}

func decodePathInfoV2(rawVersion json.RawMessage, obj map[string]json.RawMessage) ([]pathInfoJSON, error) {
	var version int
	if err := json.Unmarshal(rawVersion, &version); err != nil || version != 2 {
		return nil, fmt.Errorf("unsupported format version %s", rawVersion)
	}
	storeDir := StoreDir
	if raw, ok := obj["storeDir"]; ok {
		if err := json.Unmarshal(raw, &storeDir); err != nil {
			return nil, fmt.Errorf("storeDir: %w", err)
		}
	}
	if storeDir != StoreDir {
		return nil, fmt.Errorf("store directory %q is not %s", storeDir, StoreDir)
	}
	var info map[string]json.RawMessage
	if err := json.Unmarshal(obj["info"], &info); err != nil {
		return nil, fmt.Errorf("info: %w", err)
	}
	entries := make([]pathInfoJSON, 0, len(info))
	for base, raw := range info {
		e, err := decodeEntry(fullPath(base), raw)
		if err != nil {
			return nil, err
		}
		for i, r := range e.References {
			e.References[i] = fullPath(r)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// decodeEntry decodes one map value; null is a path that is not valid.
func decodeEntry(path string, raw json.RawMessage) (pathInfoJSON, error) {
	var e pathInfoJSON
	if string(bytes.TrimSpace(raw)) == "null" {
		invalid := false
		return pathInfoJSON{Path: path, Valid: &invalid}, nil
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return e, fmt.Errorf("%s: %w", path, err)
	}
	e.Path = path
	return e, nil
}

// fullPath turns a format-2 base name into a store path; full paths pass.
func fullPath(p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	return StoreDir + "/" + p
}

func checkPathInfo(entries []pathInfoJSON) ([]PathInfo, error) {
	infos := make([]PathInfo, 0, len(entries))
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		if !IsStorePath(e.Path) {
			return nil, fmt.Errorf("parse path-info: not a store path: %q", e.Path)
		}
		if e.Valid != nil && !*e.Valid {
			return nil, fmt.Errorf("%s: %w", e.Path, ErrInvalidPath)
		}
		if e.NarSize == nil || *e.NarSize < 0 {
			return nil, fmt.Errorf("parse path-info: %s: missing or negative narSize", e.Path)
		}
		if seen[e.Path] {
			continue
		}
		seen[e.Path] = true
		for _, r := range e.References {
			if !IsStorePath(r) {
				return nil, fmt.Errorf("parse path-info: %s: reference is not a store path: %q", e.Path, r)
			}
		}
		infos = append(infos, PathInfo{Path: e.Path, NarSize: *e.NarSize, References: e.References})
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Path < infos[j].Path })
	return infos, nil
}

// ClosureFromPathInfo assembles a closure from path-info of root's closure.
// sw is where <root>/sw points (empty when it has none, or unknown): its
// references are the selected packages, else root's are.
func ClosureFromPathInfo(root, sw string, infos []PathInfo) (*closure.Closure, error) {
	c := &closure.Closure{Root: root, Paths: make([]closure.Path, len(infos))}
	refs := map[string][]string{}
	for i, in := range infos {
		c.Paths[i] = closure.Path{Path: in.Path, NarSize: in.NarSize}
		refs[in.Path] = in.References
	}
	if _, ok := refs[root]; !ok {
		return nil, fmt.Errorf("closure of %s: root missing from path-info", root)
	}
	selectedFrom := root
	if _, ok := refs[sw]; ok {
		selectedFrom = sw
	}
	for _, r := range refs[selectedFrom] {
		if r != selectedFrom {
			c.Selected = append(c.Selected, r)
		}
	}
	sort.Strings(c.Selected)
	return c, nil
}
