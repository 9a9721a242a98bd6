package testbed

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseActivations(t *testing.T) {
	at := time.Date(2026, 11, 21, 12, 0, 1, 123456789, time.UTC)
	sys := "/nix/store/v3n8vknnk4d49kqksz4bj6n0rjcg4034-nixos-system-node1-1"
	tests := []struct {
		name    string
		log     string
		want    []Activation
		wantErr string
	}{
		{name: "empty", log: ""},
		{
			name: "two lines",
			log:  "2026-11-21T12:00:01.123456789Z\ttest\t" + sys + "\tok\n2026-11-21T12:00:01.123456789Z\tboot\t" + sys + "\tbreak-ssh\n",
			want: []Activation{
				{Time: at, Action: "test", System: sys, Behaviour: "ok"},
				{Time: at, Action: "boot", System: sys, Behaviour: "break-ssh"},
			},
		},
		{
			name: "no final newline, blank lines",
			log:  "\n2026-11-21T12:00:01.123456789Z\tswitch\t" + sys + "\tfail",
			want: []Activation{{Time: at, Action: "switch", System: sys, Behaviour: "fail"}},
		},
		{name: "missing field", log: "2026-11-21T12:00:01Z\ttest\t" + sys + "\n", wantErr: "line 1: want 4 tab-separated fields, got 3"},
		{name: "bad time", log: "yesterday\ttest\t" + sys + "\tok\n", wantErr: "line 1: parsing time"},
		{name: "empty field", log: "2026-11-21T12:00:01Z\t\t" + sys + "\tok\n", wantErr: "line 1: empty action"},
		{name: "half-written last line", log: "2026-11-21T12:00:01Z\ttest\t" + sys + "\tok\n2026-11-21T12:00", wantErr: "line 2:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseActivations([]byte(tt.log))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func FuzzParseActivations(f *testing.F) {
	f.Add([]byte("2026-11-21T12:00:01.123456789Z\ttest\t/nix/store/x-nixos-system-node1-1\tok\n"))
	f.Add([]byte("\n\n\t\t\t\n"))
	f.Add([]byte("2026-11-21T12:00:01Z\tboot\t/nix/store/x\thang"))
	f.Fuzz(func(t *testing.T, data []byte) {
		acts, err := ParseActivations(data)
		if err != nil {
			return
		}
		for _, a := range acts {
			if a.Action == "" || a.System == "" || a.Behaviour == "" {
				t.Fatalf("accepted an activation with an empty field: %+v", a)
			}
		}
	})
}

func TestGenerationNumber(t *testing.T) {
	tests := []struct {
		name string
		want int
		ok   bool
	}{
		{"system-1-link", 1, true},
		{"system-42-link", 42, true},
		{"system", 0, false},
		{"system-x-link", 0, false},
		{"system--1-link", 0, false},
		{"system-01-link", 0, false},
		{"system-1-link.tmp", 0, false},
		{"systemd-1-link", 0, false},
		{"system-per-user-1-link", 0, false},
	}
	for _, tt := range tests {
		got, ok := generationNumber("system", tt.name)
		assert.Equal(t, tt.ok, ok, tt.name)
		assert.Equal(t, tt.want, got, tt.name)
	}
}
