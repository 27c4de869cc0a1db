package runtime

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestAuthRequest: auth_request asks a real auth service, through an
// internal location, whether each request may reach the protected
// backend, as PeerTube's and the docs' configurations do.
func TestAuthRequest(t *testing.T) {
	app := newBackend(t, "app")
	auth := newBackend(t, "auth")
	// The auth service answers the status the client asks for in
	// X-Want, and names the user it saw.
	type seen struct {
		method, uri, origURI, origMethod, cookie, contentLength string
		body                                                    string
	}
	seenc := make(chan seen, 16)
	auth.setHandler(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seenc <- seen{r.Method, r.RequestURI, r.Header.Get("X-Original-URI"), r.Header.Get("X-Original-Method"), r.Header.Get("Cookie"), r.Header.Get("Content-Length"), string(body)}
		code := http.StatusOK
		if v := r.Header.Get("X-Want"); v != "" {
			code, _ = strconv.Atoi(v)
		}
		w.Header().Set("X-User", "alice")
		w.Header().Set("WWW-Authenticate", `Basic realm="auth"`)
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "the auth body, never sent")
	})
	lb := startLimpet(t, `
upstream app { server {{app}}; }
upstream auth { server {{auth}}; }
server {
    listen 127.0.0.1:0;
    access_log {{log}};
    location / {
        auth_request /_auth;
        auth_request_set $user $upstream_http_x_user;
        proxy_set_header X-User $user;
        proxy_pass http://app;
        location /public/ {
            auth_request off;
            proxy_pass http://app;
        }
    }
    location = /_auth {
        internal;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header X-Original-URI $request_uri;
        proxy_set_header X-Original-Method $request_method;
        proxy_pass http://auth/check;
    }
}`, "{{app}}", app.addr(), "{{auth}}", auth.addr())
	c := newClient(t)

	for _, tc := range []struct {
		want       string // X-Want: the auth service's status
		status     int    // the client's
		reachesApp bool
	}{
		{"200", 200, true},
		{"204", 200, true},
		{"401", 401, false},
		{"403", 403, false},
		{"500", 500, false},
		{"302", 500, false},
		{"404", 500, false},
	} {
		t.Run(tc.want, func(t *testing.T) {
			hits := app.hitCount()
			req, _ := http.NewRequest(http.MethodGet, lb.url+"/private?a=1", nil)
			req.Header.Set("X-Want", tc.want)
			req.Header.Set("Cookie", "session=s1")
			res, body := do(t, c, req)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %q)", res.StatusCode, tc.status, body)
			}
			s := <-seenc
			if s.method != http.MethodGet || s.uri != "/check" || s.origURI != "/private?a=1" || s.cookie != "session=s1" {
				t.Errorf("the auth service saw %+v", s)
			}
			if strings.Contains(body, "never sent") {
				t.Errorf("the subrequest's body reached the client: %q", body)
			}
			if got := app.hitCount() > hits; got != tc.reachesApp {
				t.Fatalf("app reached: %v, want %v", got, tc.reachesApp)
			}
			if tc.reachesApp {
				if r, _ := app.lastRequest(); r.Header.Get("X-User") != "alice" {
					t.Errorf("X-User %q at the app, want the auth service's", r.Header.Get("X-User"))
				}
			}
			www := res.Header.Get("WWW-Authenticate")
			if tc.status == 401 && www != `Basic realm="auth"` {
				t.Errorf("401 with WWW-Authenticate %q", www)
			}
			if tc.status != 401 && www != "" {
				t.Errorf("%d with the subrequest's WWW-Authenticate %q", tc.status, www)
			}
		})
	}

	t.Run("POST: no body in the subrequest", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, lb.url+"/upload", strings.NewReader("the client's body"))
		res, _ := do(t, c, req)
		if res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
		s := <-seenc
		if s.body != "" || s.contentLength != "" || s.method != http.MethodGet || s.origMethod != http.MethodPost {
			t.Errorf("the auth service saw %+v: want GET, no body, no length, $request_method POST", s)
		}
		if r, body := app.lastRequest(); r.Method != http.MethodPost || string(body) != "the client's body" {
			t.Errorf("the app got %s %q: the client's request whole", r.Method, body)
		}
	})

	t.Run("internal location not reachable", func(t *testing.T) {
		hits := auth.hitCount()
		res, _ := get(t, c, lb.url+"/_auth")
		if res.StatusCode != http.StatusNotFound || auth.hitCount() != hits {
			t.Errorf("status %d, auth hits %d→%d: want 404 and no request", res.StatusCode, hits, auth.hitCount())
		}
	})

	t.Run("auth_request off in a nested location", func(t *testing.T) {
		hits := auth.hitCount()
		res, _ := get(t, c, lb.url+"/public/x", "X-Want", "403")
		if res.StatusCode != 200 || auth.hitCount() != hits {
			t.Errorf("status %d, auth hits %d→%d: want 200 without asking", res.StatusCode, hits, auth.hitCount())
		}
	})

	t.Run("one access log line per client request", func(t *testing.T) {
		lines := lb.accessLog(t)
		n := 0
		for _, l := range lines {
			if strings.Contains(l, `"uri":"/_auth"`) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d lines for /_auth, want the client's one: subrequests are not logged", n)
		}
		// 7 statuses, the POST, /_auth, /public/x.
		if len(lines) != 10 {
			t.Errorf("%d access log lines, want 10:\n%s", len(lines), strings.Join(lines, "\n"))
		}
	})
}

// TestAuthRequestPeerTube: PeerTube's pattern (corpus 053): the auth
// location and the protected one both go to a named location by
// try_files, limit_except runs before auth_request, and a server-level
// set gives the server a rewrite phase, which the subrequest runs too.
func TestAuthRequestPeerTube(t *testing.T) {
	app := newBackend(t, "app")
	var mu sync.Mutex // guards seen
	var seen []string
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.RequestURI+" "+r.Header.Get("X-Phase"))
		mu.Unlock()
		if r.URL.Path == "/check-auth" && r.Header.Get("Authorization") != "Bearer good" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	lb := startLimpet(t, `
upstream backend { server {{app}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    root {{root}};
    set $phase "ran";
    location = /check-auth {
        internal;
        proxy_set_header Content-Length "";
        proxy_pass_request_body off;
        try_files /dev/null @api;
    }
    location = /upload {
        limit_except POST HEAD { deny all; }
        auth_request /check-auth;
        try_files /dev/null @api;
    }
    location @api {
        proxy_set_header X-Phase $phase;
        proxy_pass http://backend;
    }
}`, "{{app}}", app.addr(), "{{root}}", t.TempDir())
	c := newClient(t)
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		s := seen
		seen = nil
		return s
	}
	for _, tc := range []struct {
		name, method, token string
		status              int
		want                []string
	}{
		{"authorised", http.MethodPost, "Bearer good", 200, []string{"GET /check-auth ran", "POST /upload ran"}},
		{"refused by the service", http.MethodPost, "Bearer bad", 401, []string{"GET /check-auth ran"}},
		{"refused by limit_except first", http.MethodGet, "Bearer good", 403, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, lb.url+"/upload", strings.NewReader("video"))
			req.Header.Set("Authorization", tc.token)
			res, _ := do(t, c, req)
			if res.StatusCode != tc.status {
				t.Errorf("status %d, want %d", res.StatusCode, tc.status)
			}
			if got := take(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("the backend saw %q, want %q", got, tc.want)
			}
		})
	}
	if r, body := app.lastRequest(); r.Method != http.MethodGet || len(body) != 0 {
		t.Errorf("last: %s with body %q", r.Method, body)
	}
}

// TestAuthRequestLocal: auth locations limpet answers itself (return, a
// static file, add_header), as nginx-tests' auth_request.t writes them.
func TestAuthRequestLocal(t *testing.T) {
	app := newBackend(t, "app")
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "auth-static"), []byte("INVISIBLE"), 0o644); err != nil {
		t.Fatal(err)
	}
	lb := startLimpet(t, `
server {
    listen 127.0.0.1:0;
    access_log off;
    root {{root}};
    location /open { auth_request /auth-open; proxy_pass http://{{app}}; }
    location = /auth-open { return 204; }
    location /static { auth_request /auth-static; proxy_pass http://{{app}}; }
    location = /auth-static { }
    location /missing { auth_request /auth-missing; proxy_pass http://{{app}}; }
    location = /auth-missing { }
    location /unauthorized { auth_request /auth-unauthorized; proxy_pass http://{{app}}; }
    location = /auth-unauthorized { return 401; }
    location /multi { auth_request /auth-multi; proxy_pass http://{{app}}; }
    location = /auth-multi {
        add_header WWW-Authenticate foo always;
        add_header WWW-Authenticate bar always;
        return 401;
    }
    location /page {
        auth_request /auth-unauthorized;
        error_page 401 /login;
        proxy_pass http://{{app}};
    }
    location = /login { return 200 "log in\n"; }
}`, "{{app}}", app.addr(), "{{root}}", root)
	c := newClient(t)
	for _, tc := range []struct {
		path   string
		status int
		body   string
		www    []string
	}{
		{"/open", 200, "app", nil},
		{"/static", 200, "app", nil},
		{"/missing", 500, "", nil},
		{"/unauthorized", 401, "", nil},
		{"/multi", 401, "", []string{"foo", "bar"}},
		{"/page", 401, "log in\n", nil},
	} {
		t.Run(tc.path, func(t *testing.T) {
			res, body := get(t, c, lb.url+tc.path)
			if res.StatusCode != tc.status {
				t.Errorf("status %d, want %d", res.StatusCode, tc.status)
			}
			if tc.body != "" && body != tc.body {
				t.Errorf("body %q, want %q", body, tc.body)
			}
			if strings.Contains(body, "INVISIBLE") {
				t.Errorf("the auth file reached the client: %q", body)
			}
			if got := res.Header.Values("WWW-Authenticate"); !reflect.DeepEqual(got, tc.www) && (len(got) != 0 || len(tc.www) != 0) {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.www)
			}
		})
	}
}
