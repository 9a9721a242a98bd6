package githubfake

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// specFile is GitHub's REST description (npm @octokit/openapi 23.0.2), relative
// to the module root.
const specFile = "testdata/github-openapi/api.github.com.json.gz"

// description is GitHub's REST API description with a router over it. Loading
// costs ~2 s and ~170 MB, so a test binary loads it once and shares it.
type description struct {
	doc    *openapi3.T
	router routers.Router
}

var (
	loadOnce   sync.Once
	loadedDesc *description
	loadErr    error
)

func loadDescription() (*description, error) {
	loadOnce.Do(func() {
		loadedDesc, loadErr = readDescription()
	})
	return loadedDesc, loadErr
}

func readDescription() (*description, error) {
	path, err := findSpec()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open github description: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("read github description %s: %w", path, err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("read github description %s: %w", path, err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load github description: %w", err)
	}
	// The description only names https://api.github.com; without servers the
	// router matches on the path alone, so a local test server is routed.
	// doc.Validate() is skipped on purpose: GitHub's own description fails it
	// (an invalid example, two conflicting attestation paths).
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route github description: %w", err)
	}
	return &description{doc: doc, router: router}, nil
}

// findSpec walks up from the working directory (a test runs in its package
// directory) to the module root holding the description.
func findSpec() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find github description: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			path := filepath.Join(dir, specFile)
			if _, err := os.Stat(path); err != nil {
				return "", fmt.Errorf("find github description: %w", err)
			}
			return path, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find github description: no go.mod above the working directory")
		}
		dir = parent
	}
}

var validationOptions = func() *openapi3filter.Options {
	o := &openapi3filter.Options{
		MultiError:          true,
		SkipSettingDefaults: true,
		AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc,
	}
	// kin-openapi's default message dumps the schema and the value (a 64 KB
	// summary, GitHub's long descriptions); where and why is what a failing
	// test needs.
	o.WithCustomSchemaErrorFunc(func(err *openapi3.SchemaError) string {
		return fmt.Sprintf("at /%s: %s", strings.Join(err.JSONPointer(), "/"), err.Reason)
	})
	return o
}()

// route finds the operation of a request, or an error when GitHub has no such
// endpoint.
func (d *description) route(r *http.Request) (*routers.Route, map[string]string, error) {
	return d.router.FindRoute(r)
}

// validateRequest checks path, query and body against the operation. body is
// the request body already read by the caller.
func (d *description) validateRequest(ctx context.Context, r *http.Request, route *routers.Route, params map[string]string, body []byte) error {
	clone := r.Clone(ctx)
	clone.Body = io.NopCloser(bytes.NewReader(body))
	return openapi3filter.ValidateRequest(ctx, &openapi3filter.RequestValidationInput{
		Request:    clone,
		PathParams: params,
		Route:      route,
		Options:    validationOptions,
	})
}

// validateResponse checks a response the fake is about to send. Statuses the
// operation does not document (injected failures) are not checked.
func (d *description) validateResponse(ctx context.Context, r *http.Request, route *routers.Route, params map[string]string, status int, header http.Header, body []byte) error {
	return openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    r,
			PathParams: params,
			Route:      route,
			Options:    validationOptions,
		},
		Status:  status,
		Header:  header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: validationOptions,
	})
}

// schema returns a component schema by name, e.g. "check-run".
func (d *description) schema(name string) (*openapi3.Schema, error) {
	ref, ok := d.doc.Components.Schemas[name]
	if !ok || ref.Value == nil {
		return nil, fmt.Errorf("no schema %q in github description", name)
	}
	return ref.Value, nil
}
