package agent_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nix-deploy-action/nix-deploy-action/internal/agent"
)

func TestShellcheck(t *testing.T) {
	boot := filepath.Join(t.TempDir(), "bootstrap.sh")
	if err := os.WriteFile(boot, agent.Script(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"agent.sh", boot} {
		out, err := exec.Command("shellcheck", "-s", "sh", f).CombinedOutput()
		if err != nil {
			t.Errorf("shellcheck %s: %v\n%s", f, err, out)
		}
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		line    string
		want    agent.Status
		wantErr bool
	}{
		{line: "status=activating", want: agent.Status{State: agent.Activating}},
		{line: "status=deployed generation=42 warning=degraded", want: agent.Status{State: agent.Deployed, Generation: 42, Warning: "degraded"}},
		{line: "status=rolled-back reason=not-confirmed", want: agent.Status{State: agent.RolledBack, Reason: agent.NotConfirmed}},
		{line: "status=rollback-failed reason=some-new-reason extra=1", want: agent.Status{State: agent.RollbackFailed, Reason: "some-new-reason"}},
		{line: "", wantErr: true},
		{line: "reason=x status=deployed", wantErr: true},
		{line: "status=exploded", wantErr: true},
		{line: "status=deployed generation=-1", wantErr: true},
		{line: "status=deployed generation=x", wantErr: true},
		{line: "status=deployed status=failed", wantErr: true},
		{line: "status=deployed junk", wantErr: true},
		{line: "nix-deploy-agent: unknown deploy", wantErr: true},
	}
	for _, tt := range tests {
		got, err := agent.ParseStatus(tt.line)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseStatus(%q) = %+v, %v; want %+v, error %v", tt.line, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseLock(t *testing.T) {
	tests := []struct {
		line    string
		want    agent.Lock
		wantErr bool
	}{
		{line: "locked=ok owner=d1", want: agent.Lock{OK: true, Owner: "d1"}},
		{line: "locked=busy owner=d0 since=2026-01-02T03:04:05Z holder=session", want: agent.Lock{Owner: "d0", Since: "2026-01-02T03:04:05Z", Holder: "session"}},
		{line: "locked=busy owner=d0 since=2026-01-02T03:04:05Z holder=worker activation=d0-2", want: agent.Lock{Owner: "d0", Since: "2026-01-02T03:04:05Z", Holder: "worker", Activation: "d0-2"}},
		{line: "locked=maybe", wantErr: true},
		{line: "owner=d1", wantErr: true},
	}
	for _, tt := range tests {
		got, err := agent.ParseLock(tt.line)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseLock(%q) = %+v, %v; want %+v, error %v", tt.line, got, err, tt.want, tt.wantErr)
		}
	}
}

func FuzzParseStatus(f *testing.F) {
	for _, seed := range []string{"status=deployed generation=3", "status=rolled-back reason=aborted", "status=", "=", "status=deployed generation=99999999999999999999", "status=deployed\tgeneration=1", "locked=ok owner=x", "locked=busy owner=x holder=worker activation=x-1", "profile=/a current= generation=", "\xff=\xfe"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if s, err := agent.ParseStatus(line); err == nil && s.State == "" {
			t.Errorf("ParseStatus(%q) accepted an empty state", line)
		}
		agent.ParseLock(line)
		agent.ParsePreflight(line)
	})
}

func TestStartCommand(t *testing.T) {
	path := "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-web1-24.05"
	tests := []struct {
		name    string
		start   agent.Start
		want    string
		wantErr bool
	}{
		{name: "defaults", start: agent.Start{Lock: "d", ID: "d1", Path: path, Profile: "/nix/var/nix/profiles/system"},
			want: "sh -s -- start d d1 path=" + path + " profile=/nix/var/nix/profiles/system mode=switch kind=nixos user=root activation-timeout=300 confirm-timeout=30 magic-rollback=0 degraded=fail keep-generations=0"},
		{name: "custom", start: agent.Start{Lock: "d", ID: "d1", Path: path, Profile: "/p", Kind: agent.KindCustom, User: "app", Activate: "bin/activate", MagicRollback: true, ConfirmTimeout: 5 * time.Second, KeepGenerations: 3},
			want: "sh -s -- start d d1 path=" + path + " profile=/p mode=switch kind=custom user=app activation-timeout=300 confirm-timeout=5 magic-rollback=1 degraded=fail keep-generations=3 activate=bin/activate"},
		{name: "bad id", start: agent.Start{Lock: "l", ID: "-x", Path: path, Profile: "/p"}, wantErr: true},
		{name: "no lock id", start: agent.Start{ID: "d", Path: path, Profile: "/p"}, wantErr: true},
		{name: "bad lock id", start: agent.Start{Lock: "l;reboot", ID: "d", Path: path, Profile: "/p"}, wantErr: true},
		{name: "bad path", start: agent.Start{Lock: "l", ID: "d", Path: "/nix/store/x", Profile: "/p"}, wantErr: true},
		{name: "path with space", start: agent.Start{Lock: "l", ID: "d", Path: path + " x", Profile: "/p"}, wantErr: true},
		{name: "profile dotdot", start: agent.Start{Lock: "l", ID: "d", Path: path, Profile: "/p/../etc"}, wantErr: true},
		{name: "fractional timeout", start: agent.Start{Lock: "l", ID: "d", Path: path, Profile: "/p", ConfirmTimeout: 1500 * time.Millisecond}, wantErr: true},
		{name: "nixos with user", start: agent.Start{Lock: "l", ID: "d", Path: path, Profile: "/p", User: "app"}, wantErr: true},
		{name: "custom boot", start: agent.Start{Lock: "l", ID: "d", Path: path, Profile: "/p", Kind: agent.KindCustom, Activate: "a", Mode: agent.ModeBoot}, wantErr: true},
		{name: "custom absolute activate", start: agent.Start{Lock: "l", ID: "d", Path: path, Profile: "/p", Kind: agent.KindCustom, Activate: "/bin/sh"}, wantErr: true},
		{name: "bad user", start: agent.Start{Lock: "l", ID: "d", Path: path, Profile: "/p", Kind: agent.KindCustom, Activate: "a", User: "a b"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv, err := tt.start.Command()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if got := strings.Join(argv, " "); !tt.wantErr && got != tt.want {
				t.Errorf("argv\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
