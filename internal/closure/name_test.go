package closure

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestKeyOf is the reference's T-P table (the Nix columns, checked against
// Nix 2.8).
func TestKeyOf(t *testing.T) {
	tests := []struct {
		base, name, version, output string
	}{
		{"hello-2.12.1", "hello", "2.12.1", ""},
		{"firefox-unwrapped-121.0", "firefox-unwrapped", "121.0", ""},
		{"openssl-3.0.13-bin", "openssl", "3.0.13", "bin"},
		{"bash-interactive-5.2-p15-man", "bash-interactive", "5.2-p15", "man"},
		{"glibc-2.39-52-bin", "glibc", "2.39-52", "bin"},
		{"zfs-kernel-2.2.4-6.6.30", "zfs-kernel", "2.2.4-6.6.30", ""},
		{"linux-6.6.30-modules", "linux", "6.6.30", "modules"},
		{"linux-6.6.30-modules-shrunk", "linux", "6.6.30-modules", "shrunk"},
		{"trezor-udev-rules-unstable-2019-07-17", "trezor-udev-rules-unstable", "2019-07-17", ""},
		{"source", "source", "", ""},
		{"system-path", "system", "", "path"},
		{"nixos-manpages", "nixos", "", "manpages"},
		{"etc-machine-id", "etc-machine", "", "id"},
		{"unit-nix-daemon-.service", "unit-nix-daemon", ".service", ""},
		{"vimplugin-foo-abc1234", "vimplugin-foo-abc1234", "", ""},
		{"vimplugin-foo-1a2b3c4", "vimplugin-foo", "1a2b3c4", ""},
		{"kakoune-unstable-v2018.10.27", "kakoune-unstable-v2018.10.27", "", ""},
		{"qt-5.15.12-lib64", "qt", "5.15.12", "lib64"},
		{"hello-2.12-rc", "hello", "2.12", "rc"},
		{"app-1.0.drv", "app", "1.0.drv", ""},
		{"libbar-2.0-dev.drv", "libbar", "2.0-dev.drv", ""},
		{"perl5.38.2-URI-5.21", "perl5.38.2-URI", "5.21", ""},
		{"python3.11-requests-2.31.0", "python3.11-requests", "2.31.0", ""},
		{"gtk+3-3.24.41", "gtk+3", "3.24.41", ""},
		{"name-that-ends-with-dash--1.0", "name-that-ends-with-dash", "-1.0", ""},
		{"915resolution-0.5.2", "915resolution", "0.5.2", ""},
		{"CVE-2026-3184.patch", "CVE", "2026-3184.patch", ""},
		{"foo-", "foo-", "", ""},
		{"linux-firmware-20240610-zstd", "linux-firmware", "20240610", "zstd"},
		{"qt-5.15.12-lib32", "qt", "5.15.12", "lib32"},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			want := Key{Name: tt.name, Version: tt.version, Output: tt.output}
			assert.Equal(t, want, KeyOf(tt.base), "bare name")
			assert.Equal(t, want, KeyOf("/nix/store/0123456789abcdfghijklmnpqrsvwxyz-"+tt.base), "store path")
		})
	}
}

func TestBaseName(t *testing.T) {
	for in, want := range map[string]string{
		"/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello-2.12": "hello-2.12",
		"0123456789abcdfghijklmnpqrsvwxyz-hello-2.12":            "hello-2.12",
		// 32 characters then a dash, but not a hash: a name.
		"name-that-ends-with-dash-with-a-e-long-tail":     "name-that-ends-with-dash-with-a-e-long-tail",
		"/other/store/0123456789abcdfghijklmnpqrsvwxyz-x": "x",
		"/nix/store/0123456789abcdfghijklmnpqrsvwxyz-":    "0123456789abcdfghijklmnpqrsvwxyz-",
		"hello":       "hello",
		"/nix/store/": "",
	} {
		assert.Equal(t, want, BaseName(in), in)
	}
}

// TestCompareVersions is the reference's T-V table (Nix 2.8 results) plus
// the rules' corner cases.
func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"2.3pre1", "2.3", -1},
		{"1.0", "1.0pre1", 1},
		{"2.3a", "2.3.1", -1},
		{"1.0-rc1", "1.0", 1},
		{"1.0-alpha", "1.0", 1},
		{"5.2-p15", "5.2p26", -1},
		{"1.0", "1-0", 0},
		{"", "1.0", -1},
		{"0.11.1-946aa34", "0.11.1-3564204", -1},
		{"9999999999", "10000000000", 1},
		{"1.0_1", "1.0.1", -1},
		{"2019-07-17", "unstable-2019-07-17", 1},
		{"1.0", "1.0", 0},
		{"", "", 0},
		{"2.3", "2.3pre", 1},
		{"pre", "pre", 0},
		{"1.10", "1.9", 1},
		{"007", "7", 0},
		{"2147483647", "2147483646", 1},
		{"2147483648", "3", -1},
		{"a", "b", -1},
		{"1..2", "1.2", 0},
	}
	for _, tt := range tests {
		t.Run(tt.a+"_vs_"+tt.b, func(t *testing.T) {
			assert.Equal(t, tt.want, CompareVersions(tt.a, tt.b))
			assert.Equal(t, -tt.want, CompareVersions(tt.b, tt.a), "antisymmetry")
		})
	}
}

func FuzzSplitOutput(f *testing.F) {
	for _, s := range []string{"openssl-3.0.13-bin", "qt-5.15.12-lib64", "system-path", "-", "a-", "-b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		base, out := SplitOutput(s)
		if out == "" {
			if base != s {
				t.Fatalf("no output but base %q != %q", base, s)
			}
			return
		}
		if base+"-"+out != s {
			t.Fatalf("%q split into %q + %q", s, base, out)
		}
	})
}

func FuzzDrvName(f *testing.F) {
	for _, s := range []string{"hello-2.12", "name-that-ends-with-dash--1.0", "foo-", "-1", "source", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, version := DrvName(s)
		if version == "" && name != s && name+"-" != s {
			t.Fatalf("%q: name %q without version", s, name)
		}
		if version != "" && name+"-"+version != s {
			t.Fatalf("%q split into %q + %q", s, name, version)
		}
		KeyOf(s)
	})
}

func FuzzCompareVersions(f *testing.F) {
	for _, p := range [][2]string{{"1.0", "1.0pre1"}, {"9999999999", "10000000000"}, {"", "pre"}, {"1.0_1", "1.0.1"}} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := CompareVersions(a, b), CompareVersions(b, a)
		if ab != -ba {
			t.Fatalf("compare(%q, %q) = %d but compare(%q, %q) = %d", a, b, ab, b, a, ba)
		}
		if CompareVersions(a, a) != 0 {
			t.Fatalf("compare(%q, itself) != 0", a)
		}
	})
}
