package router

import (
	"errors"
	"testing"
)

func TestNormalizePath(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "/", want: "/"},
		{in: "/a/b", want: "/a/b"},
		{in: "/a/b/", want: "/a/b/"},
		{in: "//a///b", want: "/a/b"},
		{in: "/a/./b", want: "/a/b"},
		{in: "/./a", want: "/a"},
		{in: "/a/../b", want: "/b"},
		{in: "/a/b/..", want: "/a/"},
		{in: "/a/b/.", want: "/a/b/"},
		{in: "/a//..//b", want: "/b"},
		{in: "/a/b/../../c", want: "/c"},
		{in: "/a/%2e%2e/b", want: "/b"},
		{in: "/a/%2E%2e", want: "/"},
		{in: "/a/.%2e/b", want: "/b"},
		{in: "/a%2Fb", want: "/a/b"},    // %2F is a separator, as in nginx
		{in: "/a%2F%2Fb", want: "/a/b"}, // and decoded slashes merge
		{in: "/a%2F..%2Fb", want: "/b"},
		{in: "/a%20b", want: "/a b"},
		{in: "/%C3%A9t%C3%A9", want: "/été"},
		{in: "/%25", want: "/%"},
		{in: "/%252e%252e/x", want: "/%2e%2e/x"}, // a decoded '%' is not decoded again
		{in: "/a/.%25", want: "/a/.%"},
		{in: "/%3F", want: "/?"},
		{in: "/%23", want: "/#"},
		{in: "/a+b", want: "/a+b"},
		{in: "/...", want: "/..."},
		{in: "/..a/b", want: "/..a/b"},
		{in: "/a/.b", want: "/a/.b"},
		{in: "/a/b..", want: "/a/b.."},
		{in: "", want: "/"},
		{in: "/..", wantErr: `invalid request path "/..": climbs above the root`},
		{in: "/../x", wantErr: `invalid request path "/../x": climbs above the root`},
		{in: "//../x", wantErr: `invalid request path "//../x": climbs above the root`},
		{in: "/a/../../x", wantErr: `invalid request path "/a/../../x": climbs above the root`},
		{in: "/%2e%2e/x", wantErr: `invalid request path "/%2e%2e/x": climbs above the root`},
		{in: "/.%2e", wantErr: `invalid request path "/.%2e": climbs above the root`},
		{in: "/a%2F..%2F..%2Fetc", wantErr: `invalid request path "/a%2F..%2F..%2Fetc": climbs above the root`},
		{in: "a/b", wantErr: `invalid request path "a/b": does not start with "/"`},
		{in: "*", wantErr: `invalid request path "*": does not start with "/"`},
		{in: "/a%2", wantErr: `invalid request path "/a%2": bad escape`},
		{in: "/a%", wantErr: `invalid request path "/a%": bad escape`},
		{in: "/a%zz", wantErr: `invalid request path "/a%zz": bad escape`},
		{in: "/a%00b", wantErr: `invalid request path "/a%00b": escaped NUL`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizePath(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("NormalizePath(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				if !errors.Is(err, ErrInvalidPath) {
					t.Errorf("error %v does not wrap ErrInvalidPath", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("NormalizePath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestNormalizePathFastPathDoesNotAllocate(t *testing.T) {
	for _, p := range []string{"/", "/api/v1/users/42", "/a/.b/c..d/"} {
		if n := testing.AllocsPerRun(100, func() { _, _ = NormalizePath(p) }); n != 0 {
			t.Errorf("NormalizePath(%q) allocated %v times", p, n)
		}
	}
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "//a///b", "/a/../b", "/%2e%2e/", "/a%2Fb", "/.%2e/x", "/%25"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizePath(in)
		if err != nil {
			return
		}
		// The result is rooted, and normalizing it again changes nothing
		// that could change which location matches: no "//", no dot
		// segments left.
		if out == "" || out[0] != '/' {
			t.Fatalf("NormalizePath(%q) = %q: not rooted", in, out)
		}
		for i := 0; i+1 < len(out); i++ {
			if out[i] == '/' && out[i+1] == '/' {
				t.Fatalf("NormalizePath(%q) = %q: has //", in, out)
			}
		}
		for _, seg := range []string{"/./", "/../"} {
			if contains(out+"/", seg) {
				t.Fatalf("NormalizePath(%q) = %q: has %s", in, out, seg)
			}
		}
	})
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func BenchmarkNormalizePath(b *testing.B) {
	for _, p := range []string{"/api/v1/users/42", "/a//b/../c/%7Euser/x%20y"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = NormalizePath(p)
			}
		})
	}
}
