package router

import (
	"bufio"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/limpet-lb/limpet/internal/config"
)

// refNormalize is the plain reading of NormalizePath's contract, written
// for clarity rather than speed: decode every escape once, then resolve
// the segments with a stack. A decoded '%', '#' or '?' is an ordinary
// character here because it is neither '/' nor '.', which is all that
// NormalizePath's "literal" rule has to guarantee.
func refNormalize(p string) (string, bool) {
	if p == "" {
		return "/", true
	}
	if p[0] != '/' {
		return "", false
	}
	var dec []byte
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			dec = append(dec, p[i])
			continue
		}
		if i+2 >= len(p) {
			return "", false
		}
		hi, ok1 := unhex(p[i+1])
		lo, ok2 := unhex(p[i+2])
		if !ok1 || !ok2 || hi == 0 && lo == 0 {
			return "", false
		}
		dec = append(dec, hi<<4|lo)
		i += 2
	}
	segs := strings.Split(string(dec[1:]), "/")
	var out []string
	for _, s := range segs {
		switch s {
		case "", ".":
		case "..":
			if len(out) == 0 {
				return "", false
			}
			out = out[:len(out)-1]
		default:
			out = append(out, s)
		}
	}
	res := "/" + strings.Join(out, "/")
	if last := segs[len(segs)-1]; len(out) > 0 && (last == "" || last == "." || last == "..") {
		res += "/"
	}
	return res, true
}

// FuzzNormalizePathReference checks NormalizePath against refNormalize,
// and that its result is a fixed point: normalizing it again changes
// nothing (unless it holds a decoded '%', which a second pass would read
// as an escape).
func FuzzNormalizePathReference(f *testing.F) {
	for _, s := range []string{"", "/", "/a/b/..", "/a/./b/.", "//a//b//", "/..", "/a/../..", "/%2e%2E/", "/a%2f%2e%2e%2f..%2fb",
		"/%25%32%65", "/.../..../", "/a/%2E", "/%00", "/%zz", "/a%", "x", "/%C3%A9/..", "/a/b/../c/./d//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := NormalizePath(in)
		want, ok := refNormalize(in)
		if (err == nil) != ok {
			t.Fatalf("NormalizePath(%q) = %q, %v; reference says ok=%t (%q)", in, got, err, ok, want)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("NormalizePath(%q): error %v does not wrap ErrInvalidPath", in, err)
			}
			return
		}
		if got != want {
			t.Fatalf("NormalizePath(%q) = %q, reference %q", in, got, want)
		}
		if !strings.Contains(got, "%") {
			again, err := NormalizePath(got)
			if err != nil || again != got {
				t.Fatalf("NormalizePath(%q) = %q, but NormalizePath(%q) = %q, %v", in, got, got, again, err)
			}
		}
	})
}

// refLocation is nginx's location choice spelled out for one level of
// locations, the way the documentation of the location directive words
// it, by scanning every location instead of precomputing anything. A
// named location ("@name" without a modifier) is never chosen by the
// path.
func refLocation(locs []*config.Location, res []*regexp.Regexp, path string) *config.Location {
	for _, l := range locs {
		if l.Modifier == "=" && l.Path == path {
			return l
		}
	}
	var longest *config.Location
	for _, l := range locs {
		if (l.Modifier == "" || l.Modifier == "^~") && !(l.Modifier == "" && strings.HasPrefix(l.Path, "@")) && strings.HasPrefix(path, l.Path) &&
			(longest == nil || len(l.Path) > len(longest.Path)) {
			longest = l
		}
	}
	// A path equal to a prefix location's name ends the search there, as
	// nginx's static tree does; so does a "^~" prefix.
	if longest != nil && (longest.Path == path || longest.Modifier == "^~") {
		return longest
	}
	for i, l := range locs {
		if res[i] != nil && res[i].MatchString(path) {
			return l
		}
	}
	return longest
}

// FuzzLocationsMatch compares Locations.Match on one level of locations,
// written one a line as "MODIFIER PATH" or "PATH", with refLocation.
func FuzzLocationsMatch(f *testing.F) {
	f.Add("/\n= /\n/images/\n~* \\.(gif|jpg|jpeg)$\n^~ /images/x", "/images/x.gif")
	f.Add("/a\n/ab\n~ ^/a\n^~ /abc", "/abcd")
	f.Add("= /x\n/x\n~ x", "/x")
	f.Add("/app/\n~ ^/", "/app/")
	f.Add("~ (\n/", "/")
	f.Add("/\n/", "/")
	f.Add("~* ^/API\n/api/", "/Api/v1")
	f.Fuzz(func(t *testing.T, spec, path string) {
		var locs []*config.Location
		var res []*regexp.Regexp
		for n, line := range strings.Split(spec, "\n") {
			if n == 16 {
				break // enough to exercise every rule
			}
			mod, p, ok := strings.Cut(line, " ")
			if !ok {
				mod, p = "", line
			}
			l := &config.Location{Pos: config.Pos{File: "f.conf", Line: n + 1}, Modifier: mod, Path: p}
			var re *regexp.Regexp
			switch mod {
			case "=", "", "^~":
			case "~", "~*":
				pattern := p
				if mod == "~*" {
					pattern = "(?i)" + p
				}
				var err error
				if re, err = regexp.Compile(pattern); err != nil {
					if _, err := NewLocations([]*config.Location{l}); err == nil {
						t.Fatalf("NewLocations accepted the bad regex %q", p)
					}
					return
				}
			default:
				return
			}
			l.Regexp = re // what config compiled
			locs = append(locs, l)
			res = append(res, re)
		}
		lv, err := NewLocations(locs)
		if err != nil {
			return // duplicates
		}
		got, prefix := lv.Match(path)
		want := refLocation(locs, res, path)
		if got != want {
			t.Fatalf("Match(%q) = %+v, reference %+v", path, got, want)
		}
		switch {
		case got == nil || got.Modifier == "~" || got.Modifier == "~*":
			if prefix != "" {
				t.Fatalf("Match(%q) = %+v with prefix %q", path, got, prefix)
			}
		case prefix != got.Path || !strings.HasPrefix(path, prefix):
			t.Fatalf("Match(%q) = %+v with prefix %q", path, got, prefix)
		}
	})
}

// refLower lowers ASCII letters byte by byte, as ngx_strlow does.
func refLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c | 0x20
		}
	}
	return string(b)
}

// refSelect is nginx's choice of a virtual server as its documentation
// of server_name words it, scanning every name of every server in
// configuration order.
func refSelect(servers []*config.Server, def *config.Server, host string) *config.Server {
	h := refLower(host)
	names := func(s *config.Server) []string {
		if len(s.Names) == 0 {
			return []string{""}
		}
		return s.Names
	}
	for _, s := range servers {
		for _, n := range names(s) {
			n = refLower(n)
			if !strings.HasPrefix(n, "~") && !strings.Contains(n, "*") && (n == h || strings.HasPrefix(n, ".") && n[1:] == h) {
				return s
			}
		}
	}
	if h == "" {
		return def
	}
	var best *config.Server
	bestLen := -1
	for _, s := range servers {
		for _, n := range names(s) {
			n = refLower(n)
			var domain string
			switch {
			case strings.HasPrefix(n, "*."):
				domain = n[2:]
			case strings.HasPrefix(n, "."):
				domain = n[1:]
			default:
				continue
			}
			if strings.HasSuffix(h, "."+domain) && len(domain) > bestLen {
				best, bestLen = s, len(domain)
			}
		}
	}
	if best != nil {
		return best
	}
	for _, s := range servers {
		for _, n := range names(s) {
			n = refLower(n)
			if p, ok := strings.CutSuffix(n, ".*"); ok && !strings.HasPrefix(n, "~") &&
				strings.HasPrefix(h, p+".") && len(h) > len(p)+1 && len(p) > bestLen {
				best, bestLen = s, len(p)
			}
		}
	}
	if best != nil {
		return best
	}
	for _, s := range servers {
		for _, n := range names(s) {
			if p, ok := strings.CutPrefix(n, "~"); ok {
				if strings.ContainsAny(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
					p = "(?i)" + p
				}
				if regexp.MustCompile(p).MatchString(h) {
					return s
				}
			}
		}
	}
	return def
}

// FuzzVirtualHostsSelect compares VirtualHosts.Select with refSelect.
// Servers are separated by '|', names by spaces. Hosts with an empty
// label ("a..b", ".a") are left out: nginx refuses them with 400 before
// choosing a server, and the proxy does the same.
func FuzzVirtualHostsSelect(f *testing.F) {
	f.Add("example.com www.example.com|*.example.com|.example.org|mail.*|~^www\\d+\\.|_", "WWW.example.COM:80", uint8(5))
	f.Add("*.a.b|*.b|.a.b", "x.a.b", uint8(0))
	f.Add("a.*|a.b.*", "a.b.c", uint8(0))
	f.Add("|~.", "", uint8(1))
	f.Add("x|~^X", "x", uint8(1))
	f.Add("~^(?P<n>a)|a.*", "a.b.", uint8(9))
	f.Add("a.b|*.c|*d", "[::1]:8080", uint8(0))
	f.Fuzz(func(t *testing.T, spec, host string, defIndex uint8) {
		var servers []*config.Server
		for n, part := range strings.Split(spec, "|") {
			if n == 8 {
				break
			}
			names := strings.Fields(part)
			for _, name := range names {
				if strings.EqualFold(name, "$hostname") {
					return // depends on the machine
				}
			}
			servers = append(servers, withRegexps(&config.Server{Pos: config.Pos{File: "f.conf", Line: n + 1}, Names: names}))
		}
		def := int(defIndex%uint8(len(servers)+1)) - 1
		v, err := NewVirtualHosts(servers, def)
		if err != nil {
			return
		}
		if def < 0 {
			def = 0
		}
		key := hostKey(host)
		if strings.HasPrefix(key, ".") || strings.HasSuffix(key, ".") || strings.Contains(key, "..") {
			return
		}
		got := v.Select(host)
		if got == nil {
			t.Fatalf("Select(%q) = nil", host)
		}
		if want := refSelect(servers, servers[def], key); got != want {
			t.Fatalf("Select(%q) = server at line %d, reference line %d", host, got.Pos.Line, want.Pos.Line)
		}
	})
}

// FuzzUpstreamURI sends what net/http parsed from an arbitrary
// request-target through NormalizePath and UpstreamURI, and reads the
// target sent upstream back with net/http:
//   - with a proxy_pass URI, the prefix is replaced by it, the rest of
//     the path is escaped to bytes a request-target may carry raw and
//     decodes to the normalized rest, and the arguments follow as sent;
//   - without one, the path and arguments net/http reads upstream are
//     those it read from the client, in origin form.
func FuzzUpstreamURI(f *testing.F) {
	f.Add("/name/a%20b/../c?x=1", "/name/", "/remote/", true)
	f.Add("http://h.test/name/%2e%2e/x?q", "/", "/", true)
	f.Add("/a/%C3%A9%22%7B%7D", "/a/", "/b", true)
	f.Add("http://h.test?q=1", "/", "/x/", false)
	f.Add("//double//slash", "/", "/", false)
	f.Add("/p;a,b:c@d/%3F%23", "/p", "/q", true)
	f.Fuzz(func(t *testing.T, target, prefix, uri string, hasURI bool) {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n")))
		if err != nil {
			return
		}
		norm, err := NormalizePath(r.URL.EscapedPath())
		if err != nil || !strings.HasPrefix(norm, prefix) {
			return
		}
		// A proxy_pass URI as the configuration takes it: a path of bytes
		// a request-target carries raw.
		if !strings.HasPrefix(uri, "/") || strings.IndexFunc(uri, func(c rune) bool { return c > 0x7e || c != '%' && shouldEscape(byte(c)) }) >= 0 {
			return
		}
		pp := &config.ProxyPass{HasURI: hasURI, URI: uri}
		loc := &config.Location{Path: prefix}
		out := UpstreamURI(pp, loc, prefix, norm, r.URL.RawQuery, r.RequestURI)

		if !hasURI {
			// Only origin and absolute form ("scheme://authority..."):
			// net/http also takes "a:b", "a::///b" and "a:/://", which
			// are neither and which the server refuses before they get
			// here.
			absolute := r.URL.Scheme != "" && strings.HasPrefix(strings.ToLower(r.RequestURI), r.URL.Scheme+"://")
			if !strings.HasPrefix(r.RequestURI, "/") && !absolute {
				return
			}
			back, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + out + " HTTP/1.1\r\nHost: h\r\n\r\n")))
			if err != nil {
				t.Fatalf("%q sent upstream as %q, which net/http refuses: %v", target, out, err)
			}
			if !strings.HasPrefix(out, "/") || back.URL.RawQuery != r.URL.RawQuery ||
				back.URL.Path != r.URL.Path && !(r.URL.Path == "" && back.URL.Path == "/") {
				t.Fatalf("%q sent upstream as %q: path %q query %q, were %q %q", target, out, back.URL.Path, back.URL.RawQuery, r.URL.Path, r.URL.RawQuery)
			}
			return
		}
		rest, query, hasQuery := strings.Cut(strings.TrimPrefix(out, uri), "?")
		if !strings.HasPrefix(out, uri) || hasQuery != (r.URL.RawQuery != "") || query != r.URL.RawQuery {
			t.Fatalf("%q with prefix %q and URI %q sent upstream as %q", target, prefix, uri, out)
		}
		for i := 0; i < len(rest); i++ {
			if c := rest[i]; c != '%' && shouldEscape(c) {
				t.Fatalf("%q sent upstream as %q: raw byte %q", target, out, c)
			}
		}
		if dec, err := url.PathUnescape(rest); err != nil || dec != norm[len(prefix):] {
			t.Fatalf("%q sent upstream as %q: rest decodes to %q, %v; want %q", target, out, dec, err, norm[len(prefix):])
		}
	})
}
