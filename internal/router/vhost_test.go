package router

import (
	"regexp"
	"strings"
	"testing"

	"github.com/limpet-lb/limpet/internal/config"
)

func srv(line int, names ...string) *config.Server {
	return withRegexps(&config.Server{Pos: config.Pos{File: "limpet.conf", Line: line}, Names: names})
}

// vhostFixture is a listen address shared by servers of every name kind;
// the catch-all "_" server is the default, the usual nginx idiom.
func vhostFixture(t testing.TB) (*VirtualHosts, map[string]*config.Server) {
	t.Helper()
	s := map[string]*config.Server{
		"exact":    srv(1, "example.com", "www.example.com"),
		"head":     srv(2, "*.example.com"),
		"dot":      srv(3, ".example.org"),
		"mail":     srv(4, "mail.*"),
		"regex":    srv(5, `~^www\d+\.example\.net$`),
		"headLong": srv(6, "*.sub.example.com"),
		"tailLong": srv(7, "www.example.*"),
		"caseless": srv(8, `~^(?P<svc>api)\.`, `~^API2\.`),
		"noname":   srv(9),
		"catchall": srv(10, "_"),
		"tail":     srv(11, "www.*"),
		"regex2":   srv(12, `~^www`),
	}
	order := []string{"exact", "head", "dot", "mail", "regex", "headLong", "tailLong", "caseless", "noname", "catchall", "tail", "regex2"}
	var list []*config.Server
	for _, k := range order {
		list = append(list, s[k])
	}
	v, err := NewVirtualHosts(list, 9)
	if err != nil {
		t.Fatalf("NewVirtualHosts: %v", err)
	}
	return v, s
}

func TestSelect(t *testing.T) {
	v, s := vhostFixture(t)
	tests := []struct {
		host string
		want string
	}{
		{"example.com", "exact"},
		{"EXAMPLE.Com:8080", "exact"}, // case and port
		{"example.com.", "exact"},     // one trailing dot
		{"www.example.com", "exact"},  // exact beats *.example.com
		{"foo.example.com", "head"},
		{"a.b.example.com", "head"},       // "*." matches any depth
		{"x.sub.example.com", "headLong"}, // longest leading wildcard
		{"sub.example.com", "head"},       // "*.sub.example.com" needs a label before
		{"example.org", "dot"},            // ".example.org" matches the bare name
		{"deep.x.example.org", "dot"},
		{"mail.foo.com", "mail"},
		{"mail.example.com", "head"},   // leading wildcard beats trailing
		{"mail", "catchall"},           // "mail.*" needs something after the dot
		{"www.example.io", "tailLong"}, // longest trailing wildcard
		{"www.other.io", "tail"},       // trailing beats regex2
		{"www12.example.net", "regex"}, // regexes: first in config order
		{"wwwx.example.net", "regex2"},
		{"api.anything.zz", "caseless"},
		{"API2.zz", "caseless"}, // upper case in the pattern makes it caseless
		{"", "noname"},          // no Host: the server named ""
		{"_", "catchall"},       // "_" is just a name
		{"unknown.test", "catchall"},
		{"[::1]:8080", "catchall"},
		{"192.0.2.1:80", "catchall"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got := v.Select(tt.host)
			if got != s[tt.want] {
				t.Errorf("Select(%q) = server at line %d, want %q (line %d)", tt.host, got.Pos.Line, tt.want, s[tt.want].Pos.Line)
			}
		})
	}
}

func TestSelectDefaultAndConflicts(t *testing.T) {
	a := srv(1, "a.test", ".dup.test")
	b := srv(2, "a.test", "dup.test", "*.dup.test", "~^x")
	c := srv(3, "~^x", "b.test")
	tests := []struct {
		name    string
		servers []*config.Server
		def     int
		host    string
		want    *config.Server
	}{
		{"-1 means the first", []*config.Server{a, b, c}, -1, "none.test", a},
		{"explicit default", []*config.Server{a, b, c}, 2, "none.test", c},
		{"first exact claim wins", []*config.Server{a, b, c}, 2, "a.test", a},
		{"dot form claims the bare name first", []*config.Server{a, b, c}, 2, "dup.test", a},
		{"dot form claims the subdomains first", []*config.Server{a, b, c}, 2, "q.dup.test", a},
		{"first regex in config order", []*config.Server{a, b, c}, 0, "xyz", b},
		{"regex order follows server order", []*config.Server{c, b}, 1, "xyz", c},
		{"no Host without a server named \"\"", []*config.Server{a, c}, 1, "", c},
		{"empty names list means \"\"", []*config.Server{a, srv(4)}, 0, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVirtualHosts(tt.servers, tt.def)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == nil {
				want = tt.servers[len(tt.servers)-1]
			}
			if got := v.Select(tt.host); got != want {
				t.Errorf("Select(%q) = line %d, want line %d", tt.host, got.Pos.Line, want.Pos.Line)
			}
			if v.Default() != tt.servers[max(tt.def, 0)] {
				t.Errorf("Default() = line %d", v.Default().Pos.Line)
			}
		})
	}
}

// Names and hosts are lowered in ASCII only, as nginx does: a non-ASCII
// letter or a byte that is not UTF-8 is compared as written, so it can
// neither match a different ASCII host nor collide with another name.
func TestSelectLowersASCIIOnly(t *testing.T) {
	def := srv(1, "default.test")
	kelvin := srv(2, "\u212a.test") // KELVIN SIGN, which Unicode lowers to "k"
	latin1 := srv(3, "caf\xc9.test", "\xc9")
	upper := srv(4, "\u00c9T\u00c9.TEST") // "ÉTÉ.TEST"
	v, err := NewVirtualHosts([]*config.Server{def, kelvin, latin1, upper}, 0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		want *config.Server
	}{
		{"k.test", def},
		{"K.test", def},
		{"\u212a.test", kelvin},
		{"caf\xc9.test", latin1},
		{"CAF\xc9.test", latin1},
		{"caf\xe9.test", def}, // another invalid byte is another name
		{"CAF\xe9.test", def},
		{"\xee", def},
		{"\u00c9t\u00c9.test", upper},
		{"\u00e9t\u00e9.test", def}, // "été": only the ASCII letters were lowered
	}
	for _, tt := range tests {
		if got := v.Select(tt.host); got != tt.want {
			t.Errorf("Select(%q) = line %d, want line %d", tt.host, got.Pos.Line, tt.want.Pos.Line)
		}
	}
}

func TestNewVirtualHostsErrors(t *testing.T) {
	tests := []struct {
		name    string
		servers []*config.Server
		def     int
		want    string
	}{
		{"no servers", nil, -1, "no servers for the listen address"},
		{"index out of range", []*config.Server{srv(1, "a")}, 1, "default server index 1 out of range for 1 servers"},
		{"wildcard in the middle", []*config.Server{srv(7, "www.*.example.com")}, -1, `invalid server name or wildcard "www.*.example.com" in limpet.conf:7`},
		{"two wildcards", []*config.Server{srv(7, "*.example.*")}, -1, `invalid server name or wildcard "*.example.*" in limpet.conf:7`},
		{"bare star", []*config.Server{srv(7, "*")}, -1, `invalid server name or wildcard "*" in limpet.conf:7`},
		{"bare dot", []*config.Server{srv(7, ".")}, -1, `server name "." is invalid in limpet.conf:7`},
		// config compiles regex names and reports bad ones; a Server
		// built without is refused, not compiled again.
		{"regex not compiled", []*config.Server{{Pos: config.Pos{File: "limpet.conf", Line: 7}, Names: []string{"~^x"}}}, -1, `regex server name "~^x" is not compiled in limpet.conf:7`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVirtualHosts(tt.servers, tt.def)
			if err == nil || err.Error() != tt.want {
				t.Errorf("NewVirtualHosts error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSelectDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	v, _ := vhostFixture(t)
	for _, host := range []string{"example.com", "www.example.com:443", "a.b.example.com", "mail.foo.com", "unknown.test", ""} {
		if n := testing.AllocsPerRun(100, func() { v.Select(host) }); n != 0 {
			t.Errorf("Select(%q) allocated %v times", host, n)
		}
	}
}

func BenchmarkSelect(b *testing.B) {
	v, _ := vhostFixture(b)
	for _, host := range []string{"example.com", "www.example.com:8080", "x.sub.example.com", "www.example.io", "www12.example.net", "Example.COM"} {
		b.Run(strings.ReplaceAll(host, ":", "_"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v.Select(host)
			}
		})
	}
}

// withRegexps compiles the server's regex names as config does
// (leaving out those that do not compile) and returns the server.
func withRegexps(s *config.Server) *config.Server {
	for _, name := range s.Names {
		if re, err := config.ServerNameRegexp(name); err == nil {
			if s.NameRegexps == nil {
				s.NameRegexps = make(map[string]*regexp.Regexp)
			}
			s.NameRegexps[name] = re
		}
	}
	return s
}
