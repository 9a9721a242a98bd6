// Package architecture holds a test that keeps the dependency direction
// true: the core never reaches the outside world except through the small
// interfaces it defines; adapters never import each other.
package architecture

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/nix-deploy-action/nix-deploy-action"

var (
	core     = []string{"config", "closure", "plan", "deploy", "render", "report", "approval", "agent"}
	adapters = []string{"nix", "ssh", "git", "github", "action"}
	// The core must not do I/O with the outside by itself.
	forbiddenDirect = []string{"os/exec", "net", "net/http", "github.com/google/go-github/v60/github"}
)

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func list(t *testing.T, name string) pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "-deps=false", module+"/internal/"+name).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", name, err)
	}
	var p pkg
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCoreImportsNoAdapter(t *testing.T) {
	for _, name := range core {
		p := list(t, name)
		for _, dep := range p.Deps {
			for _, a := range adapters {
				if dep == module+"/internal/"+a {
					t.Errorf("core package %s depends on adapter %s", name, a)
				}
			}
			if strings.HasPrefix(dep, "github.com/google/go-github") {
				t.Errorf("core package %s depends on %s", name, dep)
			}
		}
		for _, imp := range p.Imports {
			for _, f := range forbiddenDirect {
				if imp == f {
					t.Errorf("core package %s imports %s: put that behind an interface in an adapter", name, f)
				}
			}
		}
	}
}

func TestAdaptersImportNoOtherAdapter(t *testing.T) {
	for _, name := range adapters {
		p := list(t, name)
		for _, dep := range p.Deps {
			for _, a := range adapters {
				if a != name && dep == module+"/internal/"+a {
					t.Errorf("adapter %s depends on adapter %s: adapters meet only in internal/cli", name, a)
				}
			}
		}
	}
}
