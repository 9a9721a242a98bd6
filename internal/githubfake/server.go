// Package githubfake is an in-process fake of the GitHub REST API for tests.
//
// It keeps state for the endpoints nix-deploy uses (issue comments, issues,
// pull requests, check runs, commit statuses, deployments, run approvals,
// pending deployments, collaborator permissions) and checks every request it
// receives and every response it sends against GitHub's published OpenAPI
// description. A request GitHub would reject is answered 422 and fails the
// test, as does a request to an endpoint the fake does not implement; so a
// passing test means GitHub would have accepted every call.
package githubfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/routers"
)

// DefaultActor is the login behind the token of a workflow job.
const DefaultActor = "github-actions[bot]"

// Server is a fake GitHub REST API. Its methods are safe for concurrent use.
type Server struct {
	t    testing.TB
	desc *description
	http *httptest.Server

	token      string
	actor      string
	retryAfter int
	// noChecks makes check-run writes fail as they do for a personal
	// access token.
	noChecks bool

	mu       sync.Mutex
	requests []Request
	failures []*failure
	clock    time.Time
	lastID   int64
	state
}

// Option configures a Server.
type Option func(*Server)

// WithToken makes the fake accept only this token; any other is answered 401
// "Bad credentials". Without it, any non-empty token is accepted.
func WithToken(token string) Option {
	return func(s *Server) { s.token = token }
}

// WithActor sets the login that owns what the token creates (comments,
// statuses, deployments). The default is DefaultActor.
func WithActor(login string) Option {
	return func(s *Server) { s.actor = login }
}

// WithoutCheckRuns answers check-run writes with 403 "Resource not
// accessible by personal access token", as GitHub does for tokens that are
// not a GitHub App's: a client must fall back to commit statuses.
func WithoutCheckRuns() Option {
	return func(s *Server) { s.noChecks = true }
}

// WithRetryAfter sets the Retry-After seconds sent with injected 403/429
// answers (default 1; 0 lets retrying tests run without waiting).
func WithRetryAfter(seconds int) Option {
	return func(s *Server) { s.retryAfter = seconds }
}

// Request is one request the fake received.
type Request struct {
	Method string
	// Path is the request path without a GitHub Enterprise "/api/v3" prefix.
	Path  string
	Query url.Values
	// Body is the JSON body as sent, nil when there was none.
	Body json.RawMessage
	// Operation is the operationId from GitHub's description, such as
	// "checks/create"; empty when the path is not in the description.
	Operation string
	// Status is the HTTP status the fake answered.
	Status int
}

// Decode unmarshals the request body into v.
func (r Request) Decode(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("decode body of %s %s: %w", r.Method, r.Path, err)
	}
	return nil
}

// New starts a fake GitHub. It is closed when the test ends; anything it
// found wrong is reported through t.Errorf.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	desc, err := loadDescription()
	if err != nil {
		t.Fatalf("githubfake: %v", err)
	}
	s := &Server{
		t:          t,
		desc:       desc,
		actor:      DefaultActor,
		retryAfter: 1,
		lastID:     1000,
		state:      newState(),
	}
	for _, o := range opts {
		o(s)
	}
	s.http = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.http.Close)
	return s
}

// URL is the API base URL, e.g. for GITHUB_API_URL or go-github's BaseURL.
// Paths under URL()+"/api/v3" are served too, as GitHub Enterprise clients use.
func (s *Server) URL() string { return s.http.URL }

// Requests returns every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// failure is an injected error answer.
type failure struct {
	method  string
	pattern string
	status  int
	left    int
}

// FailNext makes the next `times` requests matching method and pathPattern
// fail with status before they reach any state. method "" matches any method;
// pathPattern is either a path template of GitHub's description
// ("/repos/{owner}/{repo}/check-runs") or a path.Match glob over the request
// path ("/repos/o/r/check-runs/*"). 403 and 429 answers are secondary rate
// limits with a Retry-After header. Requests are still validated first.
func (s *Server) FailNext(method, pathPattern string, status, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, &failure{method: method, pattern: pathPattern, status: status, left: times})
}

// takeFailure consumes an injected failure matching the request.
func (s *Server) takeFailure(method, template, p string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.failures {
		if f.left <= 0 || (f.method != "" && !strings.EqualFold(f.method, method)) {
			continue
		}
		matched := f.pattern == template
		if !matched {
			matched, _ = path.Match(f.pattern, p)
		}
		if matched {
			f.left--
			return f.status, true
		}
	}
	return 0, false
}

// answer is a response prepared by a handler, validated before it is sent.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// call is one routed, validated request handed to an endpoint handler.
type call struct {
	s         *Server
	r         *http.Request
	operation string
	// prefix is "/api/v3" when the client speaks GitHub Enterprise paths.
	prefix string
	params map[string]string
	body   []byte
	ans    answer
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	var prefix string
	if rest, ok := strings.CutPrefix(r.URL.Path, "/api/v3"); ok {
		prefix = "/api/v3"
		r.URL.Path = rest
		r.URL.RawPath = ""
	}
	body, err := readBody(r)
	rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: body}
	ans := s.handle(r, prefix, body, err, &rec)
	rec.Status = ans.status
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
	for k, v := range ans.header {
		w.Header()[k] = v
	}
	w.WriteHeader(ans.status)
	_, _ = w.Write(ans.body)
}

func readBody(r *http.Request) (json.RawMessage, error) {
	if r.Body == nil {
		return nil, nil
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if buf.Len() == 0 {
		return nil, nil
	}
	return buf.Bytes(), nil
}

func (s *Server) handle(r *http.Request, prefix string, body []byte, readErr error, rec *Request) answer {
	where := r.Method + " " + r.URL.Path
	if readErr != nil {
		s.violation("%s: %v", where, readErr)
		return errorAnswer(http.StatusBadRequest, "Problems parsing JSON")
	}
	if status, msg := s.authenticate(r); status != 0 {
		return errorAnswer(status, msg)
	}
	route, params, err := s.desc.route(r)
	if err != nil {
		s.violation("%s: not an endpoint of GitHub's REST API: %v", where, err)
		return errorAnswer(http.StatusNotFound, "Not Found")
	}
	rec.Operation = route.Operation.OperationID
	if err := s.desc.validateRequest(r.Context(), r, route, params, body); err != nil {
		s.violation("%s (%s): GitHub's description rejects the request: %v", where, rec.Operation, err)
		return validationFailed(err.Error())
	}
	if s.noChecks && r.Method != http.MethodGet && strings.HasPrefix(route.Path, "/repos/{owner}/{repo}/check-runs") {
		return errorAnswer(http.StatusForbidden, "Resource not accessible by personal access token")
	}
	if status, ok := s.takeFailure(r.Method, route.Path, r.URL.Path); ok {
		return s.injected(status)
	}
	h, ok := handlers[rec.Operation]
	if !ok {
		s.violation("%s: unexpected request: the fake does not implement %s", where, rec.Operation)
		return errorAnswer(http.StatusNotFound, "Not Found")
	}
	c := &call{s: s, r: r, operation: rec.Operation, prefix: prefix, params: params, body: body}
	s.mu.Lock()
	h(c)
	s.mu.Unlock()
	s.checkAnswer(r, route, params, &c.ans)
	return c.ans
}

// authenticate requires a token the way GitHub's REST API reads it. A missing
// header is a bug in the caller (every call we make is authenticated), so it
// also fails the test; a wrong token is a scenario a test may want.
func (s *Server) authenticate(r *http.Request) (int, string) {
	h := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(h, " ")
	if (!strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "token")) || strings.TrimSpace(token) == "" {
		s.violation("%s %s: no \"Authorization: Bearer <token>\" header", r.Method, r.URL.Path)
		return http.StatusUnauthorized, "Requires authentication"
	}
	if s.token != "" && token != s.token {
		return http.StatusUnauthorized, "Bad credentials"
	}
	return 0, ""
}

// checkAnswer validates a handler's answer against the description: a wrong
// answer is a bug in the fake, and would make tests pass against a GitHub
// that does not exist.
func (s *Server) checkAnswer(r *http.Request, route *routers.Route, params map[string]string, ans *answer) {
	if ans.status == http.StatusUnprocessableEntity {
		// Raised by the fake's own checks, already reported as violations.
		return
	}
	if err := s.desc.validateResponse(r.Context(), r, route, params, ans.status, ans.header, ans.body); err != nil {
		s.violation("%s %s (%s): the fake's own %d answer breaks GitHub's description: %v",
			r.Method, r.URL.Path, route.Operation.OperationID, ans.status, err)
	}
}

func (s *Server) violation(format string, args ...any) {
	s.t.Errorf("githubfake: "+format, args...)
}

func (s *Server) injected(status int) answer {
	if status == http.StatusForbidden || status == http.StatusTooManyRequests {
		a := jsonAnswer(status, map[string]any{
			"message":           "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
			"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
		})
		a.header.Set("Retry-After", strconv.Itoa(s.retryAfter))
		return a
	}
	return errorAnswer(status, http.StatusText(status))
}

func jsonAnswer(status int, v any) answer {
	body, err := json.Marshal(v)
	if err != nil {
		// Only the fake's own values are marshalled; they always encode.
		panic(fmt.Sprintf("githubfake: encode answer: %v", err))
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	return answer{status: status, header: h, body: body}
}

func errorAnswer(status int, msg string) answer {
	return jsonAnswer(status, map[string]any{
		"message":           msg,
		"documentation_url": "https://docs.github.com/rest",
	})
}

func validationFailed(msg string) answer {
	return jsonAnswer(http.StatusUnprocessableEntity, map[string]any{
		"message":           "Validation Failed",
		"documentation_url": "https://docs.github.com/rest",
		"errors":            []any{map[string]any{"code": "invalid", "message": msg}},
	})
}

// now returns the wall clock in whole seconds, as GitHub's timestamps are,
// but at least a second after the last time it gave: objects created in one
// test second still have distinct, ordered times. Real time rather than a
// fixed epoch, because callers compare these times with their own clock
// (such as listing comments `since` an approval request).
func (s *Server) now() time.Time {
	next := s.clock.Add(time.Second)
	if wall := time.Now().UTC().Truncate(time.Second); wall.After(next) {
		next = wall
	}
	s.clock = next
	return next
}

func (s *Server) nextID() int64 {
	s.lastID++
	return s.lastID
}
