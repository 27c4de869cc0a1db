package vars

import (
	"net/http"
	"regexp"
	"testing"
)

// TestReferers checks $invalid_referer against the cases of nginx's
// ngx_http_referer_variable: no Referer, a blocked one, exact names,
// both kinds of wildcard, URI prefixes, server name regexes and
// "~regex" arguments.
func TestReferers(t *testing.T) {
	build := func(none, blocked bool, hosts [][2]string, names, regexps []string) *Referers {
		rf := NewReferers(none, blocked)
		for _, h := range hosts {
			rf.AddHost(h[0], h[1])
		}
		for _, n := range names {
			rf.AddNameRegexp(regexp.MustCompile(n))
		}
		for _, r := range regexps {
			rf.AddRegexp(regexp.MustCompile("(?i)" + r))
		}
		return rf
	}
	full := build(true, true, [][2]string{
		{"example.com", ""}, {"*.wild.test", ""}, {".dot.test", ""}, {"www.tail.*", ""},
		{"pics.test", "/galleries/"}, {"*.uri.test", "/u"},
	}, []string{`^srv\d+\.test$`}, []string{`\.google\.`})
	strict := build(false, false, [][2]string{{"example.com", ""}}, nil, nil)
	regexOnly := build(false, false, nil, nil, []string{`^ok\.test/`})
	cases := []struct {
		name    string
		rf      *Referers
		referer []string // nil: no header
		invalid bool
	}{
		{"no valid_referers", nil, []string{"http://evil.test/"}, false},
		{"none allowed", full, nil, false},
		{"none refused", strict, nil, true},
		{"blocked allowed", full, []string{"Yahoo-Blocked"}, false},
		{"blocked refused", strict, []string{"Yahoo-Blocked"}, true},
		{"empty header is blocked", full, []string{""}, false},
		{"shorter than http://i.ru is blocked", strict, []string{"http://a.b"}, true},
		{"ftp scheme is blocked", strict, []string{"ftp://example.com/"}, true},
		{"exact", strict, []string{"http://example.com/page"}, false},
		{"exact https and case", strict, []string{"HTTPS://Example.COM"}, false},
		{"exact with port", strict, []string{"http://example.com:8080/x"}, false},
		{"exact does not match a subdomain", strict, []string{"http://www.example.com/"}, true},
		{"other host", strict, []string{"http://evil.test/"}, true},
		{"head wildcard", full, []string{"http://a.b.wild.test/x"}, false},
		{"head wildcard not the bare name", full, []string{"http://wild.test/x"}, true},
		{"dot wildcard bare name", full, []string{"http://dot.test/"}, false},
		{"dot wildcard subdomain", full, []string{"http://x.dot.test/"}, false},
		{"tail wildcard", full, []string{"http://www.tail.co.uk/"}, false},
		{"tail wildcard other prefix", full, []string{"http://ww.tail.com/"}, true},
		{"uri prefix matches", full, []string{"http://pics.test/galleries/1.jpg"}, false},
		{"uri prefix with port", full, []string{"http://pics.test:81/galleries/"}, false},
		{"uri prefix differs", full, []string{"http://pics.test/other/"}, true},
		{"uri prefix missing", full, []string{"http://pics.test"}, true},
		{"wildcard with uri", full, []string{"http://a.uri.test/users"}, false},
		{"wildcard with wrong uri", full, []string{"http://a.uri.test/x"}, true},
		{"server name regex", full, []string{"http://srv12.test/"}, false},
		{"regex on the rest", full, []string{"https://www.GOOGLE.de/search?q=x"}, false},
		{"regex only", regexOnly, []string{"http://ok.test/x"}, false},
		{"regex only, no match", regexOnly, []string{"http://bad.test/ok.test/"}, true},
		{"regex only, no header", regexOnly, nil, true},
		{"first Referer line counts", strict, []string{"http://evil.test/", "http://example.com/"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			if c.referer != nil {
				h["Referer"] = c.referer
			}
			if got := c.rf.Invalid(h); got != c.invalid {
				t.Errorf("Invalid(%q) = %v, want %v", c.referer, got, c.invalid)
			}
			r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
			r.Header = h
			want := ""
			if c.invalid {
				want = "1"
			}
			if got := MustCompile("$invalid_referer").Expand(&Request{R: r, Referers: c.rf}); got != want {
				t.Errorf("$invalid_referer = %q, want %q", got, want)
			}
		})
	}
}

// TestRefererLongHost checks that a host longer than nginx's 256-byte
// buffer is invalid even where a wildcard would match it.
func TestRefererLongHost(t *testing.T) {
	rf := NewReferers(false, false)
	rf.AddHost("*.test", "")
	long := make([]byte, 300)
	for i := range long {
		long[i] = 'a'
	}
	h := http.Header{"Referer": {"http://" + string(long) + ".test/"}}
	if !rf.Invalid(h) {
		t.Error("a 305-byte host is valid, want invalid")
	}
	if rf.Invalid(http.Header{"Referer": {"http://a.test/"}}) {
		t.Error("a.test is invalid, want valid")
	}
	// nginx looks up hosts of up to 256 bytes: "~.*" finds one of 256
	// valid and one of 257 invalid.
	anyRef := NewReferers(false, false)
	anyRef.AddRegexp(regexp.MustCompile("(?i).*"))
	for n, want := range map[int]bool{255: false, 256: false, 257: true} {
		if got := anyRef.Invalid(http.Header{"Referer": {"http://" + string(long[:n])}}); got != want {
			t.Errorf("a %d-byte host: invalid %v, want %v", n, got, want)
		}
	}
}

// TestRefererRegexCase: regexes are caseless unless they say otherwise
// ("(?-i)"), and a URI prefix is compared with case.
func TestRefererRegexCase(t *testing.T) {
	rf := NewReferers(false, false)
	rf.AddRegexp(regexp.MustCompile("(?i)(?-i)example.net"))
	rf.AddHost("www.example.org", "/uri")
	for ref, want := range map[string]bool{
		"http://www.example.net":      false,
		"http://www.eXample.net":      true,
		"http://www.example.org/urii": false,
		"http://www.example.org/uRi":  true,
		"http://www.example.org/ur":   true,
	} {
		if got := rf.Invalid(http.Header{"Referer": {ref}}); got != want {
			t.Errorf("%s: invalid %v, want %v", ref, got, want)
		}
	}
}

// TestInvalidRefererSettable checks that `set $invalid_referer` defines a
// variable of the configuration, as nginx's changeable variable allows.
func TestInvalidRefererSettable(t *testing.T) {
	g := NewRegistry()
	if _, err := g.Define("invalid_referer"); err != nil {
		t.Fatalf("Define(invalid_referer): %v", err)
	}
}

func BenchmarkRefererInvalid(b *testing.B) {
	rf := NewReferers(true, true)
	rf.AddHost("*.example.com", "")
	rf.AddHost("example.com", "/app/")
	h := http.Header{"Referer": {"https://www.example.com/page"}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if rf.Invalid(h) {
			b.Fatal("invalid")
		}
	}
}
