package vars

import (
	"net/http/httptest"
	"regexp"
	"testing"
)

// TestMapFind checks nginx's order of search in a map: exact keys, then
// the longest leading wildcard, then the longest trailing one, then the
// regexes in order, then the default; exact and wildcard keys caseless.
func TestMapFind(t *testing.T) {
	g := NewRegistry()
	slot, err := g.DefineComputed("m")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMap(g.mustCompile(t, "$host"), true)
	for key, val := range map[string]string{
		"exact.test":          "exact",
		"*.example.com":       "head",
		"*.deep.example.com":  "deeper head",
		".dot.test":           "dot",
		"www.example.*":       "tail",
		"www.example.co.*":    "longer tail",
		"Upper.Test":          "upper",
		"both.example.com":    "exact beats head",
		"www.example.example": "exact beats tail",
	} {
		m.Add(key, g.mustCompile(t, val))
	}
	m.AddRegexp(regexp.MustCompile(`^re(\d+)\.test$`), nil, g.mustCompile(t, "re $1"))
	m.AddRegexp(regexp.MustCompile(`^re`), nil, g.mustCompile(t, "second regex"))
	m.SetDefault(g.mustCompile(t, "default"))
	g.SetGetter(slot, m.Getter(), false)
	v := g.mustCompile(t, "$m")

	tests := []struct{ host, want string }{
		{"exact.test", "exact"},
		{"EXACT.test.", "exact"},
		{"a.example.com", "head"},
		{"example.com", "default"},
		{"a.b.example.com", "head"},
		{"a.deep.example.com", "deeper head"},
		{"dot.test", "dot"},
		{"x.dot.test", "dot"},
		{"www.example.org", "tail"},
		{"www.example.co.uk", "longer tail"},
		{"upper.test", "upper"},
		{"both.example.com", "exact beats head"},
		{"www.example.example", "exact beats tail"},
		{"re12.test", "re 12"},
		{"rex.test", "second regex"},
		{"nothing.test", "default"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = tt.host
		var vals Values
		vals.Init(g)
		req := &Request{R: r, User: &vals}
		if got := v.Expand(req); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.host, got, tt.want)
		}
	}
}

// TestUserVariables: set values, caching of computed ones (volatile
// recomputed), captures with nginx's one-digit rule, and a map defined
// by itself ending instead of recursing.
func TestUserVariables(t *testing.T) {
	g := NewRegistry()
	s, _ := g.Define("s")
	calls := 0
	c, _ := g.DefineComputed("counted")
	g.SetGetter(c, func(*Request) string { calls++; return "x" }, false)
	vol, _ := g.DefineComputed("vol")
	volCalls := 0
	g.SetGetter(vol, func(*Request) string { volCalls++; return "v" }, true)
	self, _ := g.DefineComputed("self")
	selfT := g.mustCompile(t, "a$self")
	g.SetGetter(self, func(r *Request) string { return selfT.Expand(r) }, false)

	var vals Values
	vals.Init(g)
	r := &Request{User: &vals}
	if got := g.mustCompile(t, "[$s]").Expand(r); got != "[]" {
		t.Errorf("uninitialized: %q", got)
	}
	vals.Set(s, "val")
	if got := g.mustCompile(t, "${s}!").Expand(r); got != "val!" {
		t.Errorf("set: %q", got)
	}
	tmpl := g.mustCompile(t, "$counted$counted$vol$vol")
	if got := tmpl.Expand(r); got != "xxvv" || calls != 1 || volCalls != 2 {
		t.Errorf("got %q, %d and %d computations, want xxvv, 1 and 2", got, calls, volCalls)
	}
	if !vals.Match(regexp.MustCompile(`^/(\w+)/(\w+)$`), nil, "/ab/cd") {
		t.Fatal("no match")
	}
	if got := g.mustCompile(t, "$0 $1 $2 $3 $10 ${1}0").Expand(r); got != "/ab/cd ab cd  ab0 ab0" {
		t.Errorf("captures: %q", got)
	}
	if !g.UsesCaptures() {
		t.Error("UsesCaptures false")
	}
	if got := g.mustCompile(t, "$self").Expand(r); len(got) != maxDepth {
		t.Errorf("self-defined map: %q, want %d a's", got, maxDepth)
	}
	if _, err := g.Define("Host"); err == nil || err.Error() != `the duplicate "host" variable` {
		t.Errorf("redefining $host: %v", err)
	}
	if _, err := g.DefineComputed("counted"); err == nil || err.Error() != `the duplicate "counted" variable` {
		t.Errorf("a second map: %v", err)
	}
	if _, err := g.Compile("$nope"); err == nil || err.Error() != `unknown "nope" variable` {
		t.Errorf("unknown: %v", err)
	}
	// A set of a prefix variable shadows the builtin only once it ran.
	hs, _ := g.Define("http_x_set")
	hdr := g.mustCompile(t, "<$http_x_set>")
	hr := httptest.NewRequest("GET", "/", nil)
	hr.Header.Set("X-Set", "from the header")
	var hv Values
	hv.Init(g)
	req := &Request{R: hr, User: &hv}
	if got := hdr.Expand(req); got != "<from the header>" {
		t.Errorf("before the set: %q", got)
	}
	hv.Set(hs, "set")
	if got := hdr.Expand(req); got != "<set>" {
		t.Errorf("after the set: %q", got)
	}
	// Without a request's storage every user variable is empty.
	if got := g.mustCompile(t, "<$s$1>").Expand(&Request{}); got != "<>" {
		t.Errorf("no storage: %q", got)
	}
}

func (g *Registry) mustCompile(t *testing.T, s string) *Template {
	t.Helper()
	tmpl, err := g.Compile(s)
	if err != nil {
		t.Fatalf("compile %q: %v", s, err)
	}
	return tmpl
}

// TestValuesOfAnotherRegistry checks that a template compiled against
// one registry reads, in a request whose values belong to another (a
// reload's policy or zone used by a request of the previous
// configuration), the variable of the same name in the request's own
// registry, whatever its slot, and nothing when that registry does not
// define the name.
func TestValuesOfAnotherRegistry(t *testing.T) {
	constMap := func(g *Registry, name, value string) {
		slot, err := g.DefineComputed(name)
		if err != nil {
			t.Fatal(err)
		}
		m := NewMap(g.mustCompile(t, "$uri"), false)
		m.SetDefault(g.mustCompile(t, value))
		g.SetGetter(slot, m.Getter(), false)
	}
	older := NewRegistry()
	constMap(older, "a", "old a")
	constMap(older, "b", "old b")
	if _, err := older.Define("only_old"); err != nil {
		t.Fatal(err)
	}
	newer := NewRegistry()
	constMap(newer, "b", "new b") // slot 0 here, 1 in older
	constMap(newer, "a", "new a")
	if _, err := newer.Define("arg_x"); err != nil { // shadows $arg_x until set
		t.Fatal(err)
	}
	tmpl := newer.mustCompile(t, "$a,$b,$arg_x")

	tests := []struct {
		name string
		reg  *Registry
		want string
	}{
		{"own registry", newer, "new a,new b,1"},
		{"the registry before the reload", older, "old a,old b,1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var vals Values
			vals.Init(tt.reg)
			r := &Request{R: httptest.NewRequest("GET", "/p?x=1", nil), User: &vals}
			if got := tmpl.Expand(r); got != tt.want {
				t.Errorf("Expand = %q, want %q", got, tt.want)
			}
			// Twice: the cached values stay in their own slots.
			if got := tmpl.Expand(r); got != tt.want {
				t.Errorf("second Expand = %q, want %q", got, tt.want)
			}
		})
	}
	// A name the request's registry lacks is empty, not another slot.
	gone := older.mustCompile(t, "[$only_old]")
	var vals Values
	vals.Init(newer)
	r := &Request{R: httptest.NewRequest("GET", "/", nil), User: &vals}
	if got := gone.Expand(r); got != "[]" {
		t.Errorf("a variable the request's registry lacks = %q, want %q", got, "[]")
	}
}
