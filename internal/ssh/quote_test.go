package ssh_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/nix-deploy-action/nix-deploy-action/internal/ssh"
)

// shellArgv runs the quoted command line with /bin/sh -c and returns the
// argv printf saw.
func shellArgv(t *testing.T, argv []string) []string {
	t.Helper()
	line := ssh.Quote(append([]string{"printf", `%s\0`}, argv...)...)
	out, err := exec.Command("/bin/sh", "-c", line).Output()
	if err != nil {
		t.Fatalf("sh -c %q: %v", line, err)
	}
	if len(argv) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}

func TestQuote(t *testing.T) {
	tests := []struct {
		argv []string
		want string
	}{
		{[]string{"nix-store", "--import"}, "nix-store --import"},
		{[]string{"sh", "-s", "--", "start", "id", "path=/nix/store/x"}, "sh -s -- start id 'path=/nix/store/x'"},
		{[]string{""}, "''"},
		{[]string{"it's"}, `'it'\''s'`},
		{[]string{"if"}, "'if'"},
		{[]string{"a b", "$x", "~"}, `'a b' '$x' '~'`},
	}
	for _, tt := range tests {
		if got := ssh.Quote(tt.argv...); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.argv, got, tt.want)
		}
	}
}

func FuzzQuote(f *testing.F) {
	for _, seed := range []string{"", "a", "a b", "'", "''\"", "$(id)\x00`id`", "if\x00then", "a=b\x00~root", "\n\t\r", "\\\x00\\'", "ü\x00%s\x00--", "{a,b}\x00*\x00?"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		argv := strings.Split(s, "\x00")
		got := shellArgv(t, argv)
		if strings.Join(got, "\x00") != s || len(got) != len(argv) {
			t.Errorf("sh -c %s gave %q, want %q", ssh.Quote(argv...), got, argv)
		}
	})
}
