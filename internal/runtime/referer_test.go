package runtime

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limpet-lb/limpet/internal/config"
)

// TestValidReferers runs valid_referers and $invalid_referer through a
// whole limpet with a real backend: the if/403 hotlink pattern with
// none, blocked, server_names (an exact and a regex name), wildcards, a
// URI prefix and a regex; a location with its own list; the server's
// list read in a server-level if; the variable passed upstream.
func TestValidReferers(t *testing.T) {
	app := newBackend(t, "app")
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "app invalid="+r.Header.Get("X-Invalid"))
	})
	lb := startLimpet(t, `
upstream app { server {{app}}; }
server {
    listen 127.0.0.1:0;
    server_name site.test ~^cdn\d+\.site\.test$;
    access_log off;
    valid_referers none blocked server_names *.friend.test .partner.test www.shop.*
        pics.test/galleries/ ~\.search\.;
    if ($invalid_referer) { set $srv "server-invalid"; }
    location /img/ {
        if ($invalid_referer) { return 403; }
        return 200 "image";
    }
    location /strict/ {
        valid_referers strict.test;
        if ($invalid_referer) { return 403 "strict refused"; }
        return 200 "strict ok";
    }
    location /srv/ { return 200 "srv=$srv"; }
    location /var/ { return 200 "var=[$invalid_referer]"; }
    location /proxy/ {
        proxy_set_header X-Invalid $invalid_referer;
        proxy_pass http://app;
    }
}`, "{{app}}", app.addr())
	c := newClient(t)
	cases := []struct {
		name, path string
		referer    []string // nil: no Referer
		status     int
		body       string
	}{
		{"none", "/img/a.png", nil, 200, "image"},
		{"blocked", "/img/a.png", []string{"XXXXXXXX"}, 200, "image"},
		{"server name", "/img/a.png", []string{"https://site.test/page"}, 200, "image"},
		{"server name with port", "/img/a.png", []string{"http://SITE.test:8080/page"}, 200, "image"},
		{"regex server name", "/img/a.png", []string{"http://cdn12.site.test/"}, 200, "image"},
		{"head wildcard", "/img/a.png", []string{"http://a.b.friend.test/x"}, 200, "image"},
		{"head wildcard not the bare name", "/img/a.png", []string{"http://friend.test/x"}, 403, ""},
		{"dot wildcard bare name", "/img/a.png", []string{"http://partner.test/"}, 200, "image"},
		{"tail wildcard", "/img/a.png", []string{"http://www.shop.example/"}, 200, "image"},
		{"uri prefix", "/img/a.png", []string{"http://pics.test/galleries/1"}, 200, "image"},
		{"uri prefix differs", "/img/a.png", []string{"http://pics.test/other/1"}, 403, ""},
		{"regex", "/img/a.png", []string{"https://www.SEARCH.example/?q=x"}, 200, "image"},
		{"hotlink", "/img/a.png", []string{"http://evil.test/"}, 403, ""},
		{"own list: listed", "/strict/", []string{"http://strict.test/"}, 200, "strict ok"},
		{"own list: inherited names do not count", "/strict/", []string{"http://site.test/"}, 403, "strict refused"},
		{"own list: no none", "/strict/", nil, 403, "strict refused"},
		{"server-level if, invalid", "/srv/", []string{"http://evil.test/"}, 200, "srv=server-invalid"},
		{"server-level if, valid", "/srv/", []string{"http://site.test/"}, 200, "srv="},
		{"variable invalid", "/var/", []string{"http://evil.test/"}, 200, "var=[1]"},
		{"variable valid", "/var/", nil, 200, "var=[]"},
		{"passed upstream", "/proxy/", []string{"http://evil.test/"}, 200, "app invalid=1"},
		{"passed upstream valid", "/proxy/", []string{"http://x.friend.test/"}, 200, "app invalid="},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, lb.url+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = "site.test"
			if tc.referer != nil {
				req.Header["Referer"] = tc.referer
			}
			res, body := do(t, c, req)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d (%q), want %d", res.StatusCode, body, tc.status)
			}
			if tc.body != "" && body != tc.body {
				t.Errorf("body %q, want %q", body, tc.body)
			}
		})
	}
}

// TestValidReferersWithoutHost checks nginx's error for none or blocked
// without any host, naming the valid_referers line; server_names with
// an exact name counts as a host.
func TestValidReferersWithoutHost(t *testing.T) {
	tests := []struct{ name, conf, want string }{
		{"none alone", "server {\n listen 127.0.0.1:0;\n valid_referers none;\n}", `the "none" or "blocked" referers are specified in the "valid_referers" directive without any valid referer in FILE:3`},
		{"blocked with a regex only", "server {\n listen 127.0.0.1:0;\n location / {\n valid_referers blocked ~x;\n} }", `the "none" or "blocked" referers are specified in the "valid_referers" directive without any valid referer in FILE:4`},
		{"server_names of regexes only", "server {\n listen 127.0.0.1:0;\n server_name ~^a;\n valid_referers none server_names;\n}", `the "none" or "blocked" referers are specified in the "valid_referers" directive without any valid referer in FILE:4`},
		{"server_names with a name", "server {\n listen 127.0.0.1:0;\n server_name a.test;\n valid_referers none server_names;\n}", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "limpet.conf")
			if err := os.WriteFile(path, []byte(tt.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(path, config.Options{})
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			rt, err := New(cfg, Options{ErrorLog: slog.New(slog.NewTextHandler(io.Discard, nil))})
			want := strings.ReplaceAll(tt.want, "FILE", path)
			switch {
			case want == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case want != "" && (err == nil || err.Error() != want):
				t.Fatalf("error %v\nwant  %s", err, want)
			}
			_ = rt
		})
	}
}
