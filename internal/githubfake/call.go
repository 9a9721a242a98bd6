package githubfake

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// handlers maps operationIds of GitHub's description to the fake's
// implementation. An operation missing here is an unexpected request.
var handlers = map[string]func(*call){
	"issues/list-comments":                       listComments,
	"issues/get-comment":                         getComment,
	"issues/create-comment":                      createComment,
	"issues/update-comment":                      updateComment,
	"issues/delete-comment":                      deleteComment,
	"issues/create":                              createIssue,
	"issues/get":                                 getIssue,
	"issues/update":                              updateIssue,
	"pulls/get":                                  getPull,
	"pulls/list":                                 listPulls,
	"pulls/create":                               createPull,
	"pulls/update":                               updatePull,
	"checks/create":                              createCheckRun,
	"checks/update":                              updateCheckRun,
	"checks/get":                                 getCheckRun,
	"checks/list-for-ref":                        listCheckRunsForRef,
	"repos/create-commit-status":                 createStatus,
	"repos/list-commit-statuses-for-ref":         listStatuses,
	"repos/list-deployments":                     listDeployments,
	"repos/create-deployment":                    createDeployment,
	"repos/get-deployment":                       getDeployment,
	"repos/list-deployment-statuses":             listDeploymentStatuses,
	"repos/create-deployment-status":             createDeploymentStatus,
	"repos/get-collaborator-permission-level":    getPermission,
	"actions/get-reviews-for-run":                listApprovals,
	"actions/get-pending-deployments-for-run":    listPendingDeployments,
	"actions/review-pending-deployments-for-run": reviewPendingDeployments,
	"actions/create-workflow-dispatch":           createDispatch,
}

func (c *call) repo() string { return repoKey(c.params["owner"], c.params["repo"]) }

// id reads a numeric path parameter; the description already checked it.
func (c *call) id(name string) int64 {
	n, _ := strconv.ParseInt(c.params[name], 10, 64)
	return n
}

func (c *call) query(name string) string { return c.r.URL.Query().Get(name) }

// decode reads the JSON body the description has already accepted.
func (c *call) decode(v any) bool {
	if len(c.body) == 0 {
		return true
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		c.reject("body: %v", err)
		return false
	}
	return true
}

// has reports whether the JSON body sets field, null included.
func (c *call) has(field string) bool {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(c.body, &m)
	_, ok := m[field]
	return ok
}

// reject answers 422 for a request the description allows but GitHub
// refuses, and fails the test.
func (c *call) reject(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	c.s.violation("%s %s (%s): GitHub would refuse this: %s", c.r.Method, c.r.URL.Path, c.operation, msg)
	c.ans = validationFailed(msg)
}

func (c *call) notFound() { c.ans = errorAnswer(http.StatusNotFound, "Not Found") }

func (c *call) noContent() { c.ans = answer{status: http.StatusNoContent, header: http.Header{}} }

// reply answers with one object of a component schema.
func (c *call) reply(status int, schema string, overlay map[string]any) {
	c.ans = jsonAnswer(status, c.render(schema, overlay))
}

func (c *call) render(schema string, overlay map[string]any) any {
	sch, err := c.s.desc.schema(schema)
	if err != nil {
		panic(fmt.Sprintf("githubfake: %v", err))
	}
	return build(sch, overlay)
}

// replyPage answers one page of a list of schema objects, with GitHub's
// per_page/page parameters and Link header. wrap, when set, turns the page
// into the answer's body (for lists wrapped in an object).
func (c *call) replyPage(schema string, items []map[string]any, wrap func(total int, page []any) any) {
	perPage, page := 30, 1
	if v, err := strconv.Atoi(c.query("per_page")); err == nil && v > 0 {
		perPage = min(v, 100)
	}
	if v, err := strconv.Atoi(c.query("page")); err == nil && v > 0 {
		page = v
	}
	last := max(1, (len(items)+perPage-1)/perPage)
	lo := min(len(items), (page-1)*perPage)
	hi := min(len(items), lo+perPage)
	out := make([]any, 0, hi-lo)
	for _, it := range items[lo:hi] {
		out = append(out, c.render(schema, it))
	}
	var body any = out
	if wrap != nil {
		body = wrap(len(items), out)
	}
	c.ans = jsonAnswer(http.StatusOK, body)
	if links := c.links(page, last, perPage); links != "" {
		c.ans.header.Set("Link", links)
	}
}

func (c *call) links(page, last, perPage int) string {
	var parts []string
	add := func(p int, rel string) {
		q := c.r.URL.Query()
		q.Set("page", strconv.Itoa(p))
		q.Set("per_page", strconv.Itoa(perPage))
		u := c.s.URL() + c.prefix + c.r.URL.Path + "?" + q.Encode()
		parts = append(parts, fmt.Sprintf("<%s>; rel=%q", u, rel))
	}
	if page > 1 {
		add(page-1, "prev")
		add(1, "first")
	}
	if page < last {
		add(page+1, "next")
		add(last, "last")
	}
	return strings.Join(parts, ", ")
}

func (c *call) api(format string, args ...any) string {
	return c.s.URL() + fmt.Sprintf(format, args...)
}

func (c *call) web(format string, args ...any) string {
	return "https://github.com" + fmt.Sprintf(format, args...)
}

func (c *call) user(login string) map[string]any {
	typ := "User"
	if strings.HasSuffix(login, "[bot]") {
		typ = "Bot"
	}
	id := userID(login)
	return map[string]any{
		"login":    login,
		"id":       id,
		"node_id":  nodeID("U", id),
		"type":     typ,
		"url":      c.api("/users/%s", url.PathEscape(login)),
		"html_url": c.web("/%s", url.PathEscape(login)),
	}
}

func userID(login string) int64 {
	h := fnv.New32a()
	h.Write([]byte(login))
	return int64(h.Sum32()%1_000_000) + 1
}

func nodeID(kind string, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + strconv.FormatInt(id, 10)))
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// optional renders an empty string as JSON null.
func optional(s string) any {
	if s == "" {
		return nil
	}
	return s
}

var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// fakeSHA stands in for the commit a branch name points to.
func fakeSHA(ref string) string {
	if fullSHA.MatchString(ref) {
		return ref
	}
	sum := sha1.Sum([]byte(ref))
	return hex.EncodeToString(sum[:])
}
