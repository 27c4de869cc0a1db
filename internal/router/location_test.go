package router

import (
	"testing"

	"github.com/limpet-lb/limpet/internal/config"
)

// loc is a location as config builds it: a regex location's path is
// compiled by config's own rule (left nil when it does not compile).
func loc(line int, modifier, path string, nested ...*config.Location) *config.Location {
	l := &config.Location{
		Pos:       config.Pos{File: "limpet.conf", Line: line},
		Modifier:  modifier,
		Path:      path,
		Locations: nested,
	}
	if modifier == "~" || modifier == "~*" {
		l.Regexp, _ = config.LocationRegexp(path, modifier == "~*")
	}
	return l
}

type matchCase struct {
	path   string
	want   string // name of the location, "" for none
	prefix string
}

func checkMatches(t *testing.T, l *Locations, named map[string]*config.Location, tests []matchCase) {
	t.Helper()
	name := func(c *config.Location) string {
		for k, v := range named {
			if v == c {
				return k
			}
		}
		return "<nil>"
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, prefix := l.Match(tt.path)
			want := named[tt.want]
			if tt.want == "" {
				want = nil
			}
			if got != want || prefix != tt.prefix {
				t.Errorf("Match(%q) = %s, %q; want %s, %q", tt.path, name(got), prefix, name(want), tt.prefix)
			}
		})
	}
}

// TestMatchNginxDocsExample is the example of the nginx documentation of
// the location directive, with its expected configurations A to E.
func TestMatchNginxDocsExample(t *testing.T) {
	named := map[string]*config.Location{
		"A": loc(1, "=", "/"),
		"B": loc(2, "", "/"),
		"C": loc(3, "", "/documents/"),
		"D": loc(4, "^~", "/images/"),
		"E": loc(5, "~*", `\.(gif|jpg|jpeg)$`),
	}
	l, err := NewLocations([]*config.Location{named["A"], named["B"], named["C"], named["D"], named["E"]})
	if err != nil {
		t.Fatal(err)
	}
	checkMatches(t, l, named, []matchCase{
		{"/", "A", "/"},
		{"/index.html", "B", "/"},
		{"/documents/document.html", "C", "/documents/"},
		{"/images/1.gif", "D", "/images/"},
		{"/documents/1.jpg", "E", ""},
		{"/DOCUMENTS/1.JPG", "E", ""},   // ~* is case-insensitive
		{"/Documents/x.html", "B", "/"}, // prefixes are case-sensitive
		{"/images/", "D", "/images/"},
		{"/documents", "B", "/"}, // no slash-adding redirect here
	})
}

// A regex may start with '@': only a location without a modifier is a
// named one.
func TestMatchRegexStartingWithAt(t *testing.T) {
	named := map[string]*config.Location{
		"ROOT": loc(1, "", "/"),
		"AT":   loc(2, "~", "@me$"),
		"ATI":  loc(3, "~*", "@ADMIN"),
		"NM":   loc(4, "", "@fallback"),
	}
	l, err := NewLocations([]*config.Location{named["ROOT"], named["AT"], named["ATI"], named["NM"]})
	if err != nil {
		t.Fatal(err)
	}
	checkMatches(t, l, named, []matchCase{
		{"/user/@me", "AT", ""},
		{"/@admin/x", "ATI", ""},
		{"/@fallback", "ROOT", "/"},
		{"/x", "ROOT", "/"},
	})
}

func TestMatchNested(t *testing.T) {
	named := map[string]*config.Location{
		"AB":  loc(2, "", "/a/b/"),
		"AC":  loc(3, "^~", "/a/c/"),
		"AX":  loc(4, "~", `\.x$`),
		"X":   loc(6, "~", `\.x$`),
		"R":   loc(7, "~", `^/a/b/c`),
		"RC":  loc(8, "~", `^/a/c/y`),
		"SP":  loc(10, "~", `\.php$`),
		"RS":  loc(11, "~", `^/s/`),
		"RXI": loc(13, "", "/rx/inner/"),
		"EQ":  loc(14, "=", "/p"),
		"P":   loc(15, "", "/p"),
		"NM":  loc(16, "", "@fallback"),
	}
	named["A"] = loc(1, "", "/a/", named["AB"], named["AC"], named["AX"])
	named["S"] = loc(9, "^~", "/s/", named["SP"])
	named["RX"] = loc(12, "~", `^/rx/`, named["RXI"])
	l, err := NewLocations([]*config.Location{
		named["A"], named["X"], named["R"], named["RC"], named["S"], named["RS"], named["RX"],
		named["EQ"], named["P"], named["NM"],
	})
	if err != nil {
		t.Fatal(err)
	}
	checkMatches(t, l, named, []matchCase{
		{"/a/b/z", "AB", "/a/b/"},
		{"/a/q", "A", "/a/"},
		{"/a/f.x", "AX", ""},   // nested regex before the outer one
		{"/a/b/f.x", "AX", ""}, // nested regex of the enclosing level
		{"/z.x", "X", ""},
		// The outer regexes still run after a nested prefix match.
		{"/a/b/c", "R", ""},
		// A nested "^~" stops only its own level's regexes: AX is
		// skipped, the outer X and RC are not (ngx_http_core_find_location
		// keeps noregex per call).
		{"/a/c/f.x", "X", ""},
		{"/a/c/y", "RC", ""},
		{"/a/c/z", "AC", "/a/c/"},
		{"/s/i.php", "SP", ""}, // regexes nested in "^~" are tried
		{"/s/i.html", "S", "/s/"},
		{"/rx/inner/z", "RXI", "/rx/inner/"}, // prefixes nested in a regex location
		{"/rx/other", "RX", ""},
		{"/p", "EQ", "/p"}, // "=" beats the prefix of the same name
		{"/p/x", "P", "/p"},
		{"/px", "P", "/p"},
		{"/nothing", "", ""},
		{"@fallback", "", ""}, // named locations are never matched by path
	})
}

// TestMatchPathEqualsPrefix pins a corner of ngx_http_core_find_static_location:
// a path equal to a prefix location's name ends the search like an exact
// match, so regexes and nested locations are not tried.
func TestMatchPathEqualsPrefix(t *testing.T) {
	named := map[string]*config.Location{
		"ROOT":  loc(1, "", "/"),
		"RE":    loc(2, "~", "^/"),
		"INNER": loc(4, "~", `^/app/$`),
	}
	named["APP"] = loc(3, "", "/app/", named["INNER"])
	l, err := NewLocations([]*config.Location{named["ROOT"], named["RE"], named["APP"]})
	if err != nil {
		t.Fatal(err)
	}
	checkMatches(t, l, named, []matchCase{
		{"/", "ROOT", "/"},
		{"/x", "RE", ""},
		{"/app/", "APP", "/app/"},
		{"/app/x", "RE", ""},
	})
}

func TestNewLocationsErrors(t *testing.T) {
	tests := []struct {
		name string
		locs []*config.Location
		want string
	}{
		{"duplicate prefix", []*config.Location{loc(1, "", "/a"), loc(2, "^~", "/a")}, `duplicate location "/a" in limpet.conf:2`},
		{"duplicate exact", []*config.Location{loc(1, "=", "/a"), loc(2, "=", "/a")}, `duplicate location "/a" in limpet.conf:2`},
		{"nested duplicate", []*config.Location{loc(1, "", "/a/", loc(2, "", "/a/b"), loc(3, "", "/a/b"))}, `duplicate location "/a/b" in limpet.conf:3`},
		// config compiles regexes and reports bad ones; a Location
		// built without is refused, not compiled again.
		{"regex not compiled", []*config.Location{{Pos: config.Pos{File: "limpet.conf", Line: 4}, Modifier: "~", Path: "^/x"}}, `regex location "^/x" is not compiled in limpet.conf:4`},
		{"bad modifier", []*config.Location{loc(5, "~~", "/")}, `invalid location modifier "~~" in limpet.conf:5`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewLocations(tt.locs)
			if err == nil || err.Error() != tt.want {
				t.Errorf("NewLocations error = %v, want %q", err, tt.want)
			}
		})
	}
}

// benchLocations is a server of a realistic size: the docs example, an API
// with nested locations and a few more prefixes and regexes.
func benchLocations(b *testing.B) *Locations {
	b.Helper()
	locs := []*config.Location{
		loc(1, "=", "/"),
		loc(2, "", "/"),
		loc(3, "", "/documents/"),
		loc(4, "^~", "/images/"),
		loc(5, "", "/api/", loc(6, "", "/api/v1/"), loc(7, "", "/api/v2/"), loc(8, "~", `/health$`)),
		loc(9, "", "/static/"),
		loc(10, "", "/admin/"),
		loc(11, "", "/login"),
		loc(12, "~*", `\.(gif|jpg|jpeg|png|css|js)$`),
		loc(13, "~", `^/ws/`),
	}
	l, err := NewLocations(locs)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

func BenchmarkMatch(b *testing.B) {
	l := benchLocations(b)
	for _, path := range []string{"/", "/api/v1/users/42", "/images/a/b.png", "/documents/x.jpg", "/some/page"} {
		b.Run(path, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l.Match(path)
			}
		})
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	l := benchLocations(&testing.B{})
	for _, path := range []string{"/", "/api/v1/users/42", "/api/health", "/documents/x.jpg", "/some/page"} {
		if n := testing.AllocsPerRun(100, func() { l.Match(path) }); n != 0 {
			t.Errorf("Match(%q) allocated %v times", path, n)
		}
	}
}
