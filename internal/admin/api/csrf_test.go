package api

import (
	"net/http"
	"strings"
	"testing"
)

// h builds request header fields for doHeader from name, value pairs.
func h(kv ...string) map[string][]string {
	m := make(map[string][]string)
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = append(m[kv[i]], kv[i+1])
	}
	return m
}

// trustedOrigin is the fixtures' `api origin=`.
const trustedOrigin = "https://ops.example.com"

// A write a browser page of another origin could have sent — a form, a
// fetch that needs no CORS preflight, any request naming another origin —
// is refused and changes nothing, whatever the credentials: the browser
// would have sent the operator's.
func TestCrossSiteWritesRefused(t *testing.T) {
	const (
		srv  = "/9/http/upstreams/backend/servers"
		add  = `{"server":"10.0.0.9:80"}`
		form = "application/x-www-form-urlencoded"
	)
	json := "application/json"
	const (
		wrongType = `, send "Content-Type: application/json"`
		foreign   = "cross-origin write refused: "
	)
	tests := []struct {
		name, method, path, body string
		header                   map[string][]string
		status                   int
		code, text               string
	}{
		// What a cross-site <form> or no-cors fetch sends, minus the Origin
		// older browsers leave out of a form.
		{"form POST", "POST", srv, add, h("Content-Type", form), 415, "UnsupportedMediaType", `unsupported media type "application/x-www-form-urlencoded"` + wrongType},
		{"text/plain POST", "POST", srv, add, h("Content-Type", "text/plain"), 415, "UnsupportedMediaType", `unsupported media type "text/plain"` + wrongType},
		{"text/plain with a charset", "POST", srv, add, h("Content-Type", "text/plain;charset=UTF-8"), 415, "UnsupportedMediaType", `unsupported media type "text/plain;charset=UTF-8"` + wrongType},
		{"multipart POST", "POST", srv, add, h("Content-Type", "multipart/form-data; boundary=x"), 415, "UnsupportedMediaType", `unsupported media type "multipart/form-data; boundary=x"` + wrongType},
		{"text/plain PATCH", "PATCH", srv + "/0", `{"down":true}`, h("Content-Type", "text/plain"), 415, "UnsupportedMediaType", `unsupported media type "text/plain"` + wrongType},
		{"a JSON look-alike", "POST", srv, add, h("Content-Type", "application/jsonp"), 415, "UnsupportedMediaType", `unsupported media type "application/jsonp"` + wrongType},
		{"a malformed type", "POST", srv, add, h("Content-Type", "application/json; charset"), 415, "UnsupportedMediaType", `unsupported media type "application/json; charset"` + wrongType},
		{"an empty type", "POST", srv, add, h("Content-Type", ""), 415, "UnsupportedMediaType", `unsupported media type ""` + wrongType},
		{"two types", "POST", srv, add, h("Content-Type", json, "Content-Type", "text/plain"), 415, "UnsupportedMediaType", `unsupported media type "application/json, text/plain"` + wrongType},

		// JSON, but from a page of another origin.
		{"foreign Origin", "POST", srv, add, h("Content-Type", json, "Origin", "http://evil.example"), 403, "CrossOriginForbidden", foreign + `origin "http://evil.example" is not this API's`},
		{"another port of the same host", "POST", srv, add, h("Content-Type", json, "Origin", "http://127.0.0.1:1"), 403, "CrossOriginForbidden", foreign + `origin "http://127.0.0.1:1" is not this API's`},
		{"opaque Origin", "POST", srv, add, h("Content-Type", json, "Origin", "null"), 403, "CrossOriginForbidden", foreign + `origin "null" is not this API's`},
		{"foreign form POST: the origin is checked first", "POST", srv, add, h("Content-Type", form, "Origin", "http://evil.example"), 403, "CrossOriginForbidden", foreign + `origin "http://evil.example" is not this API's`},
		{"Sec-Fetch-Site cross-site", "POST", srv, add, h("Content-Type", json, "Sec-Fetch-Site", "cross-site"), 403, "CrossOriginForbidden", foreign + `Sec-Fetch-Site is "cross-site"`},
		{"Sec-Fetch-Site same-site", "POST", srv, add, h("Content-Type", json, "Sec-Fetch-Site", "same-site"), 403, "CrossOriginForbidden", foreign + `Sec-Fetch-Site is "same-site"`},
		{"Sec-Fetch-Site wins over an Origin that matches", "POST", srv, add, h("Content-Type", json, "Sec-Fetch-Site", "cross-site", "Origin", "SELF"), 403, "CrossOriginForbidden", foreign + `Sec-Fetch-Site is "cross-site" and origin "SELF" is not trusted`},
		{"Sec-Fetch-Site cross-site with a foreign Origin", "PATCH", srv + "/0", `{"down":true}`, h("Content-Type", json, "Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example"), 403, "CrossOriginForbidden", foreign + `Sec-Fetch-Site is "cross-site" and origin "http://evil.example" is not trusted`},
		{"a Host a proxy rewrote, without origin=", "POST", srv, add, h("Content-Type", json, "Origin", "http://lb.example", "Host", "127.0.0.1:8082"), 403, "CrossOriginForbidden", foreign + `origin "http://lb.example" is not this API's`},
		{"trusted origin in another form", "POST", srv, add, h("Content-Type", json, "Origin", "https://OPS.example.com"), 403, "CrossOriginForbidden", foreign + `origin "https://OPS.example.com" is not this API's`},
		{"foreign PATCH", "PATCH", srv + "/0", `{"down":true}`, h("Content-Type", json, "Origin", "http://evil.example"), 403, "CrossOriginForbidden", foreign + `origin "http://evil.example" is not this API's`},
		{"foreign DELETE", "DELETE", srv + "/0", "", h("Origin", "http://evil.example"), 403, "CrossOriginForbidden", foreign + `origin "http://evil.example" is not this API's`},
		{"cross-site DELETE", "DELETE", srv + "/0", "", h("Sec-Fetch-Site", "cross-site"), 403, "CrossOriginForbidden", foreign + `Sec-Fetch-Site is "cross-site"`},
		{"a long Origin is cut short", "POST", srv, add, h("Content-Type", json, "Origin", "http://"+strings.Repeat("e", 300)), 403, "CrossOriginForbidden", foreign + `origin "http://` + strings.Repeat("e", 193) + `..." is not this API's`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixtureOrigins(t, true, []string{trustedOrigin})
			header := tt.header
			if o := header["Origin"]; len(o) == 1 && o[0] == "SELF" {
				header["Origin"] = []string{f.url}
				tt.text = strings.Replace(tt.text, "SELF", f.url, 1)
			}
			before := f.state()
			r := f.doHeader(tt.method, tt.path, tt.body, header)
			checkError(t, r, tt.status, tt.code, tt.text)
			if after := f.state(); after != before {
				t.Errorf("a refused write changed the upstreams:\nbefore %s\nafter  %s", before, after)
			}
			if f.a.Down() || f.a.Draining() || f.a.Weight != 5 {
				t.Errorf("server 0 changed: down %v, draining %v, weight %d", f.a.Down(), f.a.Draining(), f.a.Weight)
			}
			if logs := f.logText(); logs != "" {
				t.Errorf("a refused write logged a change: %s", logs)
			}
		})
	}

	t.Run("without write=on it is 405 MethodDisabled as before", func(t *testing.T) {
		f := newFixture(t, false)
		r := f.doHeader("POST", srv, add, h("Content-Type", form, "Origin", "http://evil.example"))
		checkError(t, r, 405, "MethodDisabled", "method disabled")
	})
}

// Writes from programs (no Origin, no Sec-Fetch-Site), from the API's own
// origin and from a trusted origin= go through, with the body declared
// JSON or not declared at all.
func TestWritesAccepted(t *testing.T) {
	const srv = "/9/http/upstreams/backend/servers"
	tests := []struct {
		name, method, path, body string
		header                   map[string][]string
		status                   int
	}{
		{"curl with JSON, no Origin", "POST", srv, `{"server":"10.0.0.9:80"}`, h("Content-Type", "application/json"), 201},
		{"a charset parameter", "POST", srv, `{"server":"10.0.0.9:80"}`, h("Content-Type", "application/json; charset=utf-8"), 201},
		{"the type in capitals", "POST", srv, `{"server":"10.0.0.9:80"}`, h("Content-Type", "Application/JSON"), 201},
		{"no Content-Type (nginx-plus-go-client's PATCH)", "PATCH", srv + "/0", `{"drain":true}`, nil, 200},
		{"no Content-Type in POST", "POST", srv, `{"server":"10.0.0.9:80"}`, nil, 201},
		{"same-origin Origin", "POST", srv, `{"server":"10.0.0.9:80"}`, h("Content-Type", "application/json", "Origin", "SELF"), 201},
		{"same-origin PATCH", "PATCH", srv + "/0", `{"weight":2}`, h("Content-Type", "application/json", "Origin", "SELF", "Sec-Fetch-Site", "same-origin"), 200},
		{"same-origin DELETE", "DELETE", srv + "/2", "", h("Origin", "SELF"), 200},
		// A page served with Referrer-Policy: no-referrer sends
		// "Origin: null"; Sec-Fetch-Site tells the truth.
		{"Sec-Fetch-Site same-origin with an opaque Origin", "PATCH", srv + "/0", `{"drain":true}`, h("Content-Type", "application/json", "Origin", "null", "Sec-Fetch-Site", "same-origin"), 200},
		{"Sec-Fetch-Site none (typed by the user)", "POST", srv, `{"server":"10.0.0.9:80"}`, h("Content-Type", "application/json", "Sec-Fetch-Site", "none"), 201},
		{"trusted origin, Host rewritten by a proxy", "POST", srv, `{"server":"10.0.0.9:80"}`, h("Content-Type", "application/json", "Origin", trustedOrigin, "Host", "127.0.0.1:8082"), 201},
		{"trusted origin, cross-site", "PATCH", srv + "/0", `{"drain":true}`, h("Content-Type", "application/json", "Origin", trustedOrigin, "Sec-Fetch-Site", "cross-site"), 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixtureOrigins(t, true, []string{trustedOrigin})
			if o := tt.header["Origin"]; len(o) == 1 && o[0] == "SELF" {
				tt.header["Origin"] = []string{f.url}
			}
			before := f.state()
			r := f.doHeader(tt.method, tt.path, tt.body, tt.header)
			if r.status != tt.status {
				t.Fatalf("%s: %d %s, want %d", tt.method, r.status, r.body, tt.status)
			}
			if f.state() == before {
				t.Error("the write changed nothing")
			}
		})
	}
}

// A CORS preflight is never answered permissively: OPTIONS is a method
// the API does not have (405, as NGINX Plus answers it), with no
// Access-Control-Allow-* field, so a browser never sends the write that
// would follow.
func TestPreflightRefused(t *testing.T) {
	const srv = "/9/http/upstreams/backend/servers"
	tests := []struct {
		name, path, method, allow string
	}{
		{"POST to the servers", srv, "POST", "GET, POST"},
		{"PATCH a server", srv + "/0", "PATCH", "DELETE, GET, PATCH"},
		{"DELETE a server", srv + "/0", "DELETE", "DELETE, GET, PATCH"},
		{"the root", "/", "GET", "GET"},
	}
	for _, tt := range tests {
		for _, origin := range []string{"http://evil.example", trustedOrigin} {
			t.Run(tt.name+" from "+origin, func(t *testing.T) {
				f := newFixtureOrigins(t, true, []string{trustedOrigin})
				before := f.state()
				r := f.doHeader("OPTIONS", tt.path, "", h(
					"Origin", origin,
					"Access-Control-Request-Method", tt.method,
					"Access-Control-Request-Headers", "content-type",
					"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "cors"))
				checkError(t, r, http.StatusMethodNotAllowed, "MethodNotSupported", "method not supported")
				if got := r.header.Get("Allow"); got != tt.allow {
					t.Errorf("Allow = %q, want %q", got, tt.allow)
				}
				for name := range r.header {
					if strings.HasPrefix(strings.ToLower(name), "access-control-") {
						t.Errorf("the preflight's answer has %s: %q", name, r.header[name])
					}
				}
				if f.state() != before {
					t.Error("a preflight changed the upstreams")
				}
			})
		}
	}
}
