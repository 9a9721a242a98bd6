package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/nix-deploy-action/nix-deploy-action/internal/action"
	"github.com/nix-deploy-action/nix-deploy-action/internal/deploy"
	"github.com/nix-deploy-action/nix-deploy-action/internal/github"
)

// githubRetry is the retry policy of the action's GitHub client.
var githubRetry = github.Retry{}

// newGitHubAPI is the GitHub client of the run: the job's repository, at
// GITHUB_API_URL (GitHub Enterprise Server included).
func newGitHubAPI(token string, gctx *action.Context, log *slog.Logger) (*github.Client, error) {
	switch {
	case token == "":
		return nil, errors.New("no github-token input")
	case gctx.Repository == "":
		return nil, errors.New("GITHUB_REPOSITORY is not set")
	}
	apiURL := gctx.APIURL
	if apiURL == "" {
		apiURL = "https://api.github.com"
	}
	return github.New(github.Options{APIURL: apiURL, Token: token, Repository: gctx.Repository, Retry: githubRetry, Log: log})
}

// lockedWriter serialises writes: the deploy's events, the reporting
// goroutine and the logs share the step's output.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// actionLogHandler shows warnings as workflow warnings (escaped, so their
// text cannot end the command) and other records as single text lines.
type actionLogHandler struct {
	rt    *action.Runtime
	text  slog.Handler
	attrs []slog.Attr
}

func (h *actionLogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo
}

func (h *actionLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.text.Handle(ctx, r)
	}
	var b strings.Builder
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	level := action.LevelWarning
	if r.Level >= slog.LevelError {
		level = action.LevelError
	}
	h.rt.Annotate(action.Annotation{Level: level, Title: "nix-deploy", Message: b.String()})
	return nil
}

func (h *actionLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &actionLogHandler{rt: h.rt, text: h.text.WithAttrs(as), attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *actionLogHandler) WithGroup(name string) slog.Handler {
	return &actionLogHandler{rt: h.rt, text: h.text.WithGroup(name), attrs: h.attrs}
}

func dropTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && len(groups) == 0 {
		return slog.Attr{}
	}
	return a
}

// nodeLogs shows one collapsible group per node in the step's log. Nodes
// deploy concurrently, so each node's lines are kept until it finishes and
// printed together, as untrusted text: build logs and remote output may
// hold anything.
type nodeLogs struct {
	rt  *action.Runtime
	log *slog.Logger

	mu    sync.Mutex
	lines map[string][]string
	order []string
}

func newNodeLogs(rt *action.Runtime, log *slog.Logger) *nodeLogs {
	return &nodeLogs{rt: rt, log: log, lines: map[string][]string{}}
}

func (l *nodeLogs) add(node, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.lines[node]; !ok {
		l.order = append(l.order, node)
	}
	l.lines[node] = append(l.lines[node], line)
}

// line is the deploy engine's BuildLog callback.
func (l *nodeLogs) line(node, profile, line string) {
	l.add(node, "["+profile+"] "+line)
}

// event is the deploy engine's Events callback.
func (l *nodeLogs) event(e deploy.Event) {
	switch e.Kind {
	case deploy.NodeStarted:
		l.add(e.Node, "started")
		l.log.Info("node started", "node", e.Node)
	case deploy.StepStarted:
		l.add(e.Node, progressLine(e))
	case deploy.NodeFinished:
		l.add(e.Node, progressLine(e))
		l.print(e.Node, progressLine(e))
	}
}

// print shows node's group and forgets its lines.
func (l *nodeLogs) print(node, title string) {
	l.mu.Lock()
	lines := l.lines[node]
	delete(l.lines, node)
	l.mu.Unlock()
	l.rt.Group(title)
	if err := l.rt.Untrusted(strings.Join(lines, "\n")); err != nil {
		l.log.Warn("could not print the log of a node", "node", node, "err", err)
	}
	l.rt.EndGroup()
}

// flush prints the lines of nodes that never finished, such as the build
// logs of a deploy that was refused before any node started.
func (l *nodeLogs) flush() {
	l.mu.Lock()
	var left []string
	for _, n := range l.order {
		if _, ok := l.lines[n]; ok {
			left = append(left, n)
		}
	}
	l.mu.Unlock()
	for _, n := range left {
		l.print(n, n+": not deployed")
	}
}
