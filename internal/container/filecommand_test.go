package container

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFileCommand(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr string
	}{
		{name: "empty", in: "", want: map[string]string{}},
		{name: "simple", in: "result=deployed\nchanged-nodes=[\"web1\"]\n", want: map[string]string{"result": "deployed", "changed-nodes": `["web1"]`}},
		{name: "value with equals and heredoc marks", in: "a=b=c<<d\n", want: map[string]string{"a": "b=c<<d"}},
		{name: "heredoc", in: "matrix<<ghadelimiter_1\n{\"include\":[]}\nsecond line\nghadelimiter_1\nx=1\n", want: map[string]string{"matrix": "{\"include\":[]}\nsecond line", "x": "1"}},
		{name: "empty heredoc", in: "a<<EOF\nEOF\n", want: map[string]string{"a": ""}},
		{name: "crlf", in: "a=1\r\nb<<E\r\nx\r\nE\r\n", want: map[string]string{"a": "1", "b": "x"}},
		{name: "later wins", in: "a=1\na=2\n", want: map[string]string{"a": "2"}},
		{name: "unclosed heredoc", in: "a<<EOF\nvalue\n", wantErr: "not closed"},
		{name: "no separator", in: "garbage\n", wantErr: "neither"},
		{name: "empty name", in: "=v\n", wantErr: "empty name"},
		{name: "empty delimiter", in: "a<<\nx\n", wantErr: "heredoc needs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFileCommand([]byte(tt.in))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func FuzzParseFileCommand(f *testing.F) {
	for _, s := range []string{"", "a=b\n", "a<<E\nx\nE\n", "a<<E\n", "<<\n=\n", "a=b<<c\r\nd<<e\r\n\r\ne\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseFileCommand(data)
		if err == nil && m == nil {
			t.Fatal("nil map without error")
		}
		for k := range m {
			if k == "" {
				t.Fatalf("empty name accepted from %q", data)
			}
		}
	})
}
