package proxy

import (
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/vars"
)

func testVars() *vars.Request {
	r := &http.Request{Host: "www.example.com", Header: http.Header{}, URL: &url.URL{Path: "/"}}
	return &vars.Request{R: r, Scheme: "http"}
}

// TestRewriteRules: proxy_redirect, proxy_cookie_path and
// proxy_cookie_domain rules, literal, regex and domain, with nginx's
// matching: a literal replaces the prefix it matches, a regex all the
// rest, a domain all of it, a leading dot kept.
func TestRewriteRules(t *testing.T) {
	tests := []struct {
		name   string
		rule   config.Rewrite
		domain bool
		value  string
		prefix int
		want   string
		ok     bool
	}{
		{"literal prefix", config.Rewrite{Pattern: "http://backend/", Replacement: "/"}, false, "http://backend/a/b", 0, "/a/b", true},
		{"literal no match", config.Rewrite{Pattern: "http://backend/", Replacement: "/"}, false, "http://other/a", 0, "http://other/a", false},
		{"literal is case-sensitive", config.Rewrite{Pattern: "http://Backend/", Replacement: "/"}, false, "http://backend/a", 0, "http://backend/a", false},
		{"literal longer than the value", config.Rewrite{Pattern: "http://backend/long", Replacement: "/"}, false, "http://backend/", 0, "http://backend/", false},
		{"variables in both", config.Rewrite{Pattern: "http://$host/", Replacement: "https://$host/"}, false, "http://www.example.com/x", 0, "https://www.example.com/x", true},
		{"after a prefix (Refresh)", config.Rewrite{Pattern: "http://b/", Replacement: "/"}, false, "3; url=http://b/x", 7, "3; url=/x", true},
		{"regex replaces the rest", config.Rewrite{Regexp: regexp.MustCompile(`^http://([^/]+)/(.*)$`), Replacement: "https://$1.example/$2"}, false, "http://app/p?q", 0, "https://app.example/p?q", true},
		{"regex braced and named captures", config.Rewrite{Regexp: regexp.MustCompile(`^/(?<dir>[a-z]+)/(\d+)`), Replacement: "/${dir}-${2}x"}, false, "/items/42/rest", 0, "/items-42x", true},
		{"regex no match", config.Rewrite{Regexp: regexp.MustCompile(`^https://`), Replacement: "/"}, false, "http://a/", 0, "http://a/", false},
		{"an unbraced capture is one digit", config.Rewrite{Regexp: regexp.MustCompile(`^/(a)`), Replacement: "/$10"}, false, "/a", 0, "/a0", true},
		{"regex capture beyond the groups is empty", config.Rewrite{Regexp: regexp.MustCompile(`^/(a)`), Replacement: "/$1$2"}, false, "/ab", 0, "/a", true},
		{"domain equal without case", config.Rewrite{Pattern: "App.Internal", Replacement: "example.com"}, true, "app.internal", 0, "example.com", true},
		{"domain keeps a leading dot", config.Rewrite{Pattern: "app.internal", Replacement: "$host"}, true, ".app.internal", 0, ".www.example.com", true},
		{"domain must be whole", config.Rewrite{Pattern: "internal", Replacement: "x"}, true, "app.internal", 0, "app.internal", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules, err := compileRewrites([]config.Rewrite{tt.rule}, tt.domain)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := rules[0].apply(tt.value, tt.prefix, testVars())
			if got != tt.want || ok != tt.ok {
				t.Errorf("apply(%q) = %q, %v; want %q, %v", tt.value, got, ok, tt.want, tt.ok)
			}
		})
	}
	// The first rule that matches wins.
	rules, _ := compileRewrites([]config.Rewrite{{Pattern: "http://a/", Replacement: "/one/"}, {Pattern: "http://a/", Replacement: "/two/"}}, false)
	if got, _ := rewriteFirst(rules, "http://a/x", 0, testVars()); got != "/one/x" {
		t.Errorf("first rule: %q", got)
	}
	// An unknown variable is the configuration's error, at its line.
	_, err := compileRewrites([]config.Rewrite{{Pos: config.Pos{File: "f", Line: 3}, Pattern: "/", Replacement: "$nope"}}, false)
	if err == nil || err.Error() != `unknown "nope" variable in f:3` {
		t.Errorf("error %v", err)
	}
}

// TestCookieRewrite: proxy_cookie_flags as nginx edits the attributes,
// with path and domain rules beside it.
func TestCookieRewrite(t *testing.T) {
	flags := func(name string, re string, f ...string) config.CookieFlags {
		cf := config.CookieFlags{Name: name, Flags: f}
		if re != "" {
			cf.Regexp = regexp.MustCompile("(?i)" + re)
		}
		return cf
	}
	tests := []struct {
		name  string
		rh    config.ResponseHeaders
		in    string
		want  string
		noted bool
	}{
		{"adds secure and samesite", config.ResponseHeaders{CookieFlags: []config.CookieFlags{flags("sid", "", "secure", "samesite=strict")}},
			"sid=1; Path=/", "sid=1; Path=/; Secure; SameSite=Strict", true},
		{"name without case", config.ResponseHeaders{CookieFlags: []config.CookieFlags{flags("SID", "", "httponly")}},
			"sid=1", "sid=1; HttpOnly", true},
		{"already there: unchanged", config.ResponseHeaders{CookieFlags: []config.CookieFlags{flags("sid", "", "secure", "httponly")}},
			"sid=1; secure; HTTPONLY", "sid=1; secure; HTTPONLY", true},
		{"removes", config.ResponseHeaders{CookieFlags: []config.CookieFlags{flags("sid", "", "nosecure", "nohttponly", "nosamesite")}},
			"sid=1; Secure; HttpOnly; SameSite=Lax; Path=/", "sid=1; Path=/", true},
		{"changes samesite in place", config.ResponseHeaders{CookieFlags: []config.CookieFlags{flags("sid", "", "samesite=none")}},
			"sid=1; samesite=lax; Path=/", "sid=1; SameSite=None; Path=/", true},
		{"on wins over off", config.ResponseHeaders{CookieFlags: []config.CookieFlags{flags("sid", "", "nosecure", "secure")}},
			"sid=1", "sid=1; Secure", true},
		{"first matching line only", config.ResponseHeaders{CookieFlags: []config.CookieFlags{flags("", "^s", "secure"), flags("sid", "", "httponly")}},
			"sid=1", "sid=1; Secure", true},
		{"other cookie untouched", config.ResponseHeaders{CookieFlags: []config.CookieFlags{flags("sid", "", "secure")}},
			"theme=dark", "theme=dark", false},
		{"flag from a variable", config.ResponseHeaders{CookieFlags: []config.CookieFlags{flags("sid", "", "$scheme")}},
			"sid=1", "sid=1", false},
		{"path and domain", config.ResponseHeaders{
			CookiePaths:   []config.Rewrite{{Pattern: "/one/", Replacement: "/"}},
			CookieDomains: []config.Rewrite{{Pattern: "localhost", Replacement: "example.org"}}},
			"a=b;  path=/one/two ; domain=localhost", "a=b; path=/two; domain=example.org", true},
		{"a value holding =, flags reset", config.ResponseHeaders{CookieFlags: []config.CookieFlags{flags("a", "", "secure", "httponly", "samesite=none")}},
			"a=path=domain=; Domain=example.org;Secure;HttpOnly;SameSite=Lax", "a=path=domain=; Domain=example.org; Secure; HttpOnly; SameSite=None", true},
		{"no match keeps the spacing", config.ResponseHeaders{CookieFlags: []config.CookieFlags{flags("a", "", "secure")}},
			"nx=path=domain=; Domain=example.org;samesite=none", "nx=path=domain=; Domain=example.org;samesite=none", false},
		{"no value: not a cookie", config.ResponseHeaders{CookieFlags: []config.CookieFlags{flags("sid", "", "secure")}},
			"sid", "sid", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := compileRespRules(nil, config.ProxySettings{Response: tt.rh})
			if err != nil {
				t.Fatal(err)
			}
			got, ok := r.cookies.rewriteCookie(tt.in, testVars())
			if got != tt.want || ok != tt.noted {
				t.Errorf("rewriteCookie(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.noted)
			}
		})
	}
	// The upstream's slice is never written into.
	r, _ := compileRespRules(nil, config.ProxySettings{Response: config.ResponseHeaders{CookieFlags: []config.CookieFlags{flags("a", "", "secure")}}})
	orig := []string{"a=1", "b=2"}
	h := http.Header{"Set-Cookie": orig}
	r.rewrite(h, testVars())
	if !reflect.DeepEqual(orig, []string{"a=1", "b=2"}) || !reflect.DeepEqual(h["Set-Cookie"], []string{"a=1; Secure", "b=2"}) {
		t.Errorf("orig %q, header %q", orig, h["Set-Cookie"])
	}
}

// TestExpires: the fields ngx_http_set_expires writes, at a fixed time.
func TestExpires(t *testing.T) {
	now := time.Date(2026, 3, 4, 10, 30, 15, 500, time.UTC)
	lm := "Wed, 04 Mar 2026 09:00:00 GMT"
	tests := []struct {
		name      string
		arg       string
		status    int
		lastMod   string
		expires   string
		cacheCtrl string
	}{
		{"time", "1h", 200, "", "Wed, 04 Mar 2026 11:30:15 GMT", "max-age=3600"},
		{"zero", "0", 200, "", "Wed, 04 Mar 2026 10:30:15 GMT", "max-age=0"},
		{"negative", "-1h", 200, "", "Wed, 04 Mar 2026 09:30:15 GMT", "no-cache"},
		{"epoch", "epoch", 200, "", "Thu, 01 Jan 1970 00:00:01 GMT", "no-cache"},
		{"max", "max", 304, "", "Thu, 31 Dec 2037 23:55:55 GMT", "max-age=315360000"},
		{"modified", "modified 2h", 200, lm, "Wed, 04 Mar 2026 11:00:00 GMT", "max-age=1785"},
		{"modified without Last-Modified counts from now", "modified 2h", 200, "", "Wed, 04 Mar 2026 12:30:15 GMT", "max-age=7200"},
		{"time of day, today", "@15h", 200, "", "Wed, 04 Mar 2026 15:00:00 GMT", "max-age=16185"},
		{"time of day, tomorrow", "@9h", 200, "", "Thu, 05 Mar 2026 09:00:00 GMT", "max-age=80985"},
		{"not on a 404", "1h", 404, "", "", "private"},
		{"on a 206", "1h", 206, "", "Wed, 04 Mar 2026 11:30:15 GMT", "max-age=3600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.LoadBytes(t.TempDir()+"/l.conf", []byte("server { location / { expires "+tt.arg+"; return 200; } }"), config.Options{})
			if err != nil {
				t.Fatal(err)
			}
			e := cfg.Servers[0].Locations[0].Proxy.Response.Expires
			r, err := compileExpires(nil, e)
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{"Cache-Control": {"private", "public"}}
			if tt.lastMod != "" {
				h.Set("Last-Modified", tt.lastMod)
			}
			r.apply(h, tt.status, now.In(time.UTC), testVars())
			if got := h.Get("Expires"); got != tt.expires {
				t.Errorf("Expires %q, want %q", got, tt.expires)
			}
			if got := h.Values("Cache-Control"); tt.status == 404 && len(got) != 2 || tt.status != 404 && (len(got) != 1 || got[0] != tt.cacheCtrl) {
				t.Errorf("Cache-Control %q, want %q", got, tt.cacheCtrl)
			}
		})
	}
}

// TestAbsoluteLocation: a Location rewritten to a path goes out absolute,
// as nginx's header filter makes it with its defaults.
func TestAbsoluteLocation(t *testing.T) {
	tests := []struct {
		host, local, scheme, want string
	}{
		{"www.example.com:8080", "127.0.0.1:8080", "http", "http://www.example.com:8080/p"},
		{"www.example.com", "127.0.0.1:80", "http", "http://www.example.com/p"},
		{"Example.COM.:9", "127.0.0.1:443", "https", "https://example.com/p"},
		{"", "[::1]:8443", "https", "https://[::1]:8443/p"},
		{"[2001:db8::1]:81", "[2001:db8::1]:81", "http", "http://[2001:db8::1]:81/p"},
	}
	for _, tt := range tests {
		vr := &vars.Request{R: &http.Request{Host: tt.host}, Scheme: tt.scheme, Local: netip.MustParseAddrPort(tt.local)}
		if got := absoluteLocation("/p", vr); got != tt.want {
			t.Errorf("host %q local %s: %q, want %q", tt.host, tt.local, got, tt.want)
		}
	}
}

// TestExpiresVariable: a value with variables is parsed per request; an
// empty or bad one, or epoch with modified, sets nothing (headers.t).
func TestExpiresVariable(t *testing.T) {
	now := time.Date(2026, 3, 4, 10, 30, 15, 0, time.UTC)
	tests := []struct {
		modified bool
		arg      string
		cc       string // "" for no Cache-Control set
	}{
		{false, "2048", "max-age=2048"},
		{false, "-2048", "no-cache"},
		{false, "epoch", "no-cache"},
		{false, "max", "max-age=315360000"},
		{false, "off", ""},
		{false, "", ""},
		{false, "bad", ""},
		{true, "epoch", ""},
		{true, "2048", "max-age=2048"},
	}
	for _, tt := range tests {
		r, err := compileExpires(nil, config.Expires{Kind: config.ExpiresVariable, Modified: tt.modified, Value: "$arg_e"})
		if err != nil {
			t.Fatal(err)
		}
		vr := testVars()
		vr.R.URL.RawQuery = "e=" + tt.arg
		h := http.Header{}
		r.apply(h, 200, now, vr)
		if got := h.Get("Cache-Control"); got != tt.cc {
			t.Errorf("modified=%v %q: Cache-Control %q, want %q", tt.modified, tt.arg, got, tt.cc)
		}
		if (h.Get("Expires") != "") != (tt.cc != "") {
			t.Errorf("modified=%v %q: Expires %q", tt.modified, tt.arg, h.Get("Expires"))
		}
	}
}
