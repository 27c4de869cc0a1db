package vars

import (
	"bufio"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
)

// fuzzRequest reads raw as a request head with net/http, falling back to
// a fixed request when it does not parse, so that every template is
// expanded against something.
func fuzzRequest(raw, remote string) *Request {
	hr, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		hr, _ = http.NewRequest("GET", "http://fallback.test/p?a=1", nil)
	}
	hr.RemoteAddr = remote
	return &Request{R: hr, ServerName: "server.test"}
}

// isHeaderVarKey reports whether the header key k can be named by a
// $http_ variable: only letters, digits and '-', already canonical.
func isHeaderVarKey(k string) bool {
	if k == "" || k != textproto.CanonicalMIMEHeaderKey(k) {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; !(isNameByte(c) && c != '_' || c == '-') {
			return false
		}
	}
	return true
}

// FuzzExpand compiles arbitrary text and expands it against requests
// that net/http parsed from arbitrary bytes. Beyond not panicking:
//   - text without '$' compiles, is static and expands to itself;
//   - a template compiles to the same thing between two characters that
//     cannot extend a variable name ("<" + s + ">" expands to "<" +
//     expansion + ">"), so expansion is made of its parts;
//   - Append keeps what the buffer held and adds what Expand returns;
//   - $host is lowercased ASCII with neither port nor trailing dot;
//   - $http_NAME is net/http's view of header NAME, its lines joined.
func FuzzExpand(f *testing.F) {
	head := "GET /a%20b/c?x=1&Y=two HTTP/1.1\r\nHost: Example.COM:8080\r\nX-Forwarded-For: 10.0.0.1\r\n" +
		"X-Forwarded-For: 10.0.0.2\r\nCookie: a=1; b=2\r\nCookie: c=3\r\n\r\n"
	f.Add("$host $remote_addr:$remote_port", head, "192.0.2.1:1234")
	f.Add("${scheme}://$http_host$request_uri", head, "[2001:db8::1]:80")
	f.Add("$proxy_add_x_forwarded_for", head, "bad")
	f.Add("[$arg_x|$arg_y|$cookie_b|$http_cookie]", head, "")
	f.Add("no variables at all", "", "")
	f.Add("a$ $$ ${host}x$", "GET http://h.test./x HTTP/1.0\r\n\r\n", "")
	f.Add("$uri$is_args$args", "OPTIONS * HTTP/1.1\r\nHost: [::1]\r\n\r\n", "")
	f.Add("$content_length $content_type $http_transfer_encoding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", "")
	f.Fuzz(func(t *testing.T, src, raw, remote string) {
		r := fuzzRequest(raw, remote)
		tpl, err := Compile(src)
		if !strings.Contains(src, "$") {
			if err != nil {
				t.Fatalf("Compile(%q): %v", src, err)
			}
			if s, ok := tpl.Static(); !ok || s != src {
				t.Fatalf("Compile(%q).Static() = %q, %t", src, s, ok)
			}
		}
		if err != nil {
			return
		}
		if tpl.String() != src {
			t.Fatalf("String() = %q, want %q", tpl.String(), src)
		}
		got := tpl.Expand(r)
		if s, ok := tpl.Static(); ok && s != got {
			t.Fatalf("Compile(%q): static %q, expands to %q", src, s, got)
		}
		if buf := tpl.Append([]byte("prefix"), r); string(buf) != "prefix"+got {
			t.Fatalf("Append(%q) = %q, want prefix%q", src, buf, got)
		}
		framed, err := Compile("<" + src + ">")
		if err != nil {
			t.Fatalf("Compile(%q) ok but Compile(%q): %v", src, "<"+src+">", err)
		}
		if fg := framed.Expand(r); fg != "<"+got+">" {
			t.Fatalf("<%s> expands to %q, want <%s>", src, fg, got)
		}

		host := MustCompile("$host").Expand(r)
		if host != r.ServerName {
			// One trailing dot is stripped, after the port (all from
			// the first colon, as nginx cuts it): a host that still
			// ends in one had two ("..:0" and "..::" give ".").
			name := r.R.Host
			if i := strings.IndexByte(name, ':'); i >= 0 && !strings.HasPrefix(name, "[") {
				name = name[:i]
			}
			if strings.ContainsAny(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") || strings.HasSuffix(host, ".") && !strings.HasSuffix(name, "..") {
				t.Fatalf("$host = %q from Host %q", host, r.R.Host)
			}
			if !strings.HasPrefix(host, "[") && strings.Contains(host, ":") {
				t.Fatalf("$host = %q from Host %q keeps a port", host, r.R.Host)
			}
		}
		for k, vs := range r.R.Header {
			if !isHeaderVarKey(k) {
				continue
			}
			sep := ", "
			if k == "Cookie" {
				sep = "; "
			}
			name := "$http_" + strings.ToLower(strings.ReplaceAll(k, "-", "_"))
			if got, want := MustCompile(name).Expand(r), strings.Join(vs, sep); got != want {
				t.Fatalf("%s = %q, net/http has %q", name, got, want)
			}
		}
	})
}
