package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
)

// FuzzParse checks that Parse is total: any input gives a plan or Errors
// with positions, never a panic or a hang.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(plans + "/*/*.yml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\nnodes: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := config.Parse("plan.yml", data)
		if err == nil {
			if p == nil || p.Version != 1 {
				t.Fatalf("no error but plan %+v", p)
			}
			return
		}
		var errs config.Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("error %T %v is not Errors", err, err)
		}
		for _, e := range errs {
			if e.Line < 1 || e.Column < 1 {
				t.Fatalf("problem without a position: %v", e)
			}
		}
	})
}

// FuzzFromDeployRS checks the deploy-rs reader is total too.
func FuzzFromDeployRS(f *testing.F) {
	data, err := os.ReadFile(plans + "/deployrs/deploy.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"nodes":{"a":{"hostname":"a:1","sshOpts":["-oPort=2"],"profiles":{"p":{"path":1}}}}}`))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := config.Parse("plan.yml", []byte("version: 1\nflake: .\nnodes-from: deploy\nenvironments:\n  e: { nodes: [a] }\n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := config.FromDeployRS("deploy.json", data, p); err != nil {
			var errs config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T %v is not Errors", err, err)
			}
		}
	})
}
