package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Load reads and validates the plan at path. Relative paths in the plan are
// resolved against the plan's directory, made absolute. The error, if any,
// is Errors.
func Load(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, Errors{{File: path, Msg: fmt.Sprintf("cannot read the plan: %v", err)}}
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, Errors{{File: path, Msg: fmt.Sprintf("cannot find the plan's directory: %v", err)}}
	}
	return parse(path, dir, data)
}

// Parse validates the plan in data, named file in messages. Relative paths
// in the plan are resolved against file's directory as written. The error,
// if any, is Errors.
func Parse(file string, data []byte) (*Plan, error) {
	return parse(file, filepath.Dir(file), data)
}

func parse(file, dir string, data []byte) (*Plan, error) {
	w := &walker{file: file}
	plan := w.plan(dir, data)
	if len(w.errs) > 0 {
		return nil, w.errs.sorted()
	}
	return plan, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document decodes exactly one YAML document and returns its root, or nil
// after reporting why there is none.
func (w *walker) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			w.errs = append(w.errs, &Error{File: w.file, Line: 1, Column: 1, Msg: "the plan is empty: start it with version: 1"})
			return nil
		}
		w.syntax(err)
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		w.syntax(err)
		return nil
	default:
		w.errorf(&next, "", "a plan is one YAML document: remove the second one (after ---)")
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		w.errorf(&doc, "", "the plan is empty: start it with version: 1")
		return nil
	}
	return doc.Content[0]
}

// syntax reports a YAML syntax error. yaml.v3 gives the line but not the
// column, so the column is 1.
func (w *walker) syntax(err error) {
	e := &Error{File: w.file, Line: 1, Column: 1, Msg: "YAML syntax: " + err.Error()}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = "YAML syntax: " + m[2]
	}
	w.errs = append(w.errs, e)
}

var planKeys = []string{"version", "flake", "nix-file", "nodes-from", "defaults", "environments", "nodes"}

// source is where installables come from: the resolved flake or nix file.
type source struct {
	flake, nixFile, dir string
}

func (w *walker) plan(dir string, data []byte) *Plan {
	root := w.document(data)
	if root == nil {
		return nil
	}
	if peek(root).Kind != yaml.MappingNode {
		w.errorf(root, "", "want a mapping of keys to values, starting with version: 1, got %s", describe(peek(root)))
		return nil
	}
	top := byKey(w.object(root, "", planKeys))
	plan := &Plan{File: w.file, Dir: dir, Environments: map[string]*Environment{}}

	if p, ok := top["version"]; !ok {
		w.errorf(root, "version", "missing: add version: 1 at the top")
	} else if v, ok := w.integer(p.v, "version", 0, 1<<30); ok {
		if v != 1 {
			w.errorf(p.v, "version", "version %d is not supported: want 1", v)
		}
		plan.Version = v
	}

	src := source{dir: dir}
	if p, ok := top["flake"]; ok {
		if v, s, ok := w.str(p.v, "flake"); ok {
			if msg := checkWord(v, "flake reference"); msg != "" {
				w.errorf(s, "flake", "%s", msg)
			}
			src.flake = resolveRef(dir, v)
		}
	}
	if p, ok := top["nix-file"]; ok {
		if v, s, ok := w.str(p.v, "nix-file"); ok {
			if msg := checkWord(v, "file name"); msg != "" {
				w.errorf(s, "nix-file", "%s", msg)
			}
			src.nixFile = resolvePath(dir, v)
		}
	}
	if p, ok := top["nodes-from"]; ok {
		if v, s, ok := w.str(p.v, "nodes-from"); ok {
			if !nixIdent.MatchString(v) {
				w.errorf(s, "nodes-from", "%q is not a flake output name such as deploy", v)
			}
			plan.NodesFrom = v
		}
	}
	_, hasFlake := top["flake"]
	_, hasFile := top["nix-file"]
	_, hasNodes := top["nodes"]
	switch {
	case hasFlake && hasFile:
		w.errorf(top["nix-file"].k, "nix-file", "set either flake or nix-file, not both")
	case !hasFlake && !hasFile:
		w.errorf(root, "flake", "missing: say where to build from with flake: (a flake reference) or nix-file: (a .nix file)")
	case plan.NodesFrom != "" && hasFile:
		w.errorf(top["nodes-from"].k, "nodes-from", "needs a flake: the deploy-rs node list is a flake output")
	}
	if !hasNodes && plan.NodesFrom == "" {
		w.errorf(root, "nodes", "missing: list the nodes to deploy to, or take them from a deploy-rs flake output with nodes-from: deploy")
	}
	plan.Flake, plan.NixFile = src.flake, src.nixFile

	if p, ok := top["defaults"]; ok {
		for _, kv := range w.object(p.v, "defaults", settingKeys) {
			w.setting(&plan.defaults, kv, "defaults")
		}
	}
	if p, ok := top["nodes"]; ok {
		w.nodes(plan, p, src)
	}
	if p, ok := top["environments"]; ok {
		w.environments(plan, p)
	}
	if plan.NodesFrom == "" {
		w.resolveEnvironments(plan)
	}
	return plan
}
