package approval_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/approval"
	"github.com/nix-deploy-action/nix-deploy-action/internal/github"
	"github.com/nix-deploy-action/nix-deploy-action/internal/githubfake"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		body string
		want approval.Command
	}{
		{"/approve", approval.Approve},
		{"  /APPROVE  ", approval.Approve},
		{"\n\n/approve looks good", approval.Approve},
		{"/approve\tok", approval.Approve},
		{"/deny", approval.Deny},
		{"/deny not on a Friday\n/approve", approval.Deny},
		{"/approved", approval.None},
		{"/approve-all", approval.None},
		{"> /approve", approval.None},
		{"please /approve", approval.None},
		{"lgtm\n/approve", approval.None},
		{"`/approve`", approval.None},
		{"", approval.None},
		{"\r\n/approve\r\n", approval.Approve},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, approval.ParseCommand(tt.body), "%q", tt.body)
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"/approve", "/deny no", "> /approve", "\n\n/APPROVE", "", "\x00/deny", "/approve\u00a0x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got := approval.ParseCommand(body)
		if got == approval.None {
			return
		}
		// A command is always the first word of the first non-blank line.
		var first string
		for _, l := range strings.Split(body, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				first = strings.ToLower(l)
				break
			}
		}
		want := "/approve"
		if got == approval.Deny {
			want = "/deny"
		}
		if !strings.HasPrefix(first, want) {
			t.Fatalf("ParseCommand(%q) = %v, but the first line is %q", body, got, first)
		}
	})
}

func newWaiter(t *testing.T, gh *githubfake.Server) *approval.Waiter {
	t.Helper()
	c, err := github.New(github.Options{APIURL: gh.URL(), Token: "t", Repository: "o/r", Retry: github.Retry{Backoff: time.Millisecond}})
	require.NoError(t, err)
	return &approval.Waiter{API: c}
}

// TestWait runs the flow against the fake GitHub: comments written before
// the request, from users who may not decide, or by the excluded actor
// change nothing.
func TestWait(t *testing.T) {
	tests := []struct {
		name     string
		policy   approval.Policy
		comments [][2]string
		by       string
		err      string
	}{
		{"write permission approves", approval.Policy{Exclude: "author"},
			[][2]string{{"reader", "/approve"}, {"author", "/approve"}, {"writer", "/approve"}}, "writer", ""},
		{"maintain permission denies", approval.Policy{},
			[][2]string{{"stranger", "/deny"}, {"maintainer", "/deny no"}}, "", "the deploy was denied by maintainer: nothing was deployed"},
		{"approvers list only", approval.Policy{Approvers: []string{"Reader"}},
			[][2]string{{"writer", "/approve"}, {"reader", "/approve"}}, "reader", ""},
		{"nobody decides", approval.Policy{},
			[][2]string{{"writer", "I will look tomorrow"}, {"reader", "/approve"}}, "", approval.ErrTimeout.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gh := githubfake.New(t)
			gh.SetPermission("writer", "write")
			gh.SetPermission("maintainer", "maintain")
			gh.SetPermission("author", "admin")
			gh.SetPermission("reader", "read")
			pr := gh.AddPullRequest("o", "r", githubfake.PullRequest{Number: 3})
			gh.AddComment("o", "r", pr, "writer", "/approve (before the request: does not count)")
			w := newWaiter(t, gh)
			w.Sleep = func(ctx context.Context, d time.Duration) error {
				// Comments arrive while the flow waits.
				for _, c := range tt.comments {
					gh.AddComment("o", "r", pr, c[0], c[1])
				}
				tt.comments = nil
				time.Sleep(d)
				return nil
			}
			d, err := w.Wait(context.Background(), approval.Request{
				Issue: pr, Summary: "deploy web1", Policy: tt.policy, Timeout: 300 * time.Millisecond, Poll: 50 * time.Millisecond,
			})
			if tt.err != "" {
				require.EqualError(t, err, tt.err)
			} else {
				require.NoError(t, err)
				assert.Equal(t, tt.by, d.By)
			}
			all := gh.Comments("o", "r", pr)
			assert.Contains(t, all[1].Body, "deploy web1", "the request says what would be deployed")
			assert.Equal(t, githubfake.DefaultActor, all[len(all)-1].User, "the outcome is commented")
		})
	}
}

func TestWaitOpensIssue(t *testing.T) {
	gh := githubfake.New(t)
	gh.SetPermission("writer", "write")
	w := newWaiter(t, gh)
	w.Sleep = func(ctx context.Context, d time.Duration) error {
		for _, is := range gh.Issues("o", "r") {
			gh.AddComment("o", "r", is.Number, "writer", "/approve")
		}
		return nil
	}
	d, err := w.Wait(context.Background(), approval.Request{Title: "approve the deploy", Summary: "deploy web1", Timeout: time.Minute, Poll: time.Millisecond})
	require.NoError(t, err)
	assert.Equal(t, "writer", d.By)
	issues := gh.Issues("o", "r")
	require.Len(t, issues, 1)
	assert.Equal(t, "approve the deploy", issues[0].Title)
	assert.Equal(t, "closed", issues[0].State, "the issue is closed once decided")
	assert.Equal(t, issues[0].Number, d.Issue)
}

func TestWaitCancelled(t *testing.T) {
	gh := githubfake.New(t)
	pr := gh.AddPullRequest("o", "r", githubfake.PullRequest{})
	ctx, cancel := context.WithCancel(context.Background())
	w := newWaiter(t, gh)
	w.Sleep = func(ctx context.Context, d time.Duration) error {
		cancel()
		return ctx.Err()
	}
	_, err := w.Wait(ctx, approval.Request{Issue: pr, Timeout: time.Hour, Poll: time.Second})
	assert.True(t, errors.Is(err, context.Canceled), err)
}
