package runtime

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
)

// refusedAddr returns a loopback address nothing listens on: a port the
// system gave out and that was closed again.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// TestAddHeader runs add_header through a whole limpet with a real
// backend: which statuses get the headers, `always`, variables,
// inheritance and repeated names.
func TestAddHeader(t *testing.T) {
	app := newBackend(t, "app")
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing", "/own/missing":
			http.NotFound(w, r)
		case "/etag":
			w.Header().Set("ETag", `"upstream"`)
			w.Header().Set("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")
		case "/multi":
			w.Header().Set("Cache-Control", "private")
		}
		_, _ = fmt.Fprint(w, "ok")
	})
	lb := startLimpet(t, `
upstream app { server {{app}}; }
upstream dead { server {{dead}}; }
add_header X-Http http;
server {
    listen 127.0.0.1:0;
    server_name example.test;
    access_log off;
    add_header X-Server server;
    add_header X-Always yes always;
    add_header X-Host "host=$host uri=$uri";
    add_header X-Empty "$arg_none";
    location / { proxy_pass http://app; }
    location /own/ {
        add_header X-Own own;
        add_header X-Own again;
        proxy_pass http://app;
    }
    location /multi { add_header Cache-Control no-transform; proxy_pass http://app; }
    location /etag { add_header ETag '"limpet"'; add_header Last-Modified ""; proxy_pass http://app; }
    location /dead/ { proxy_pass http://dead; }
    location /forbidden { return 403; }
    location /teapot { return 418 "short and stout"; }
    location /moved { return 301 /elsewhere; }
    location /nothing { add_header X-Nothing no; }
    location /etag-twice { add_header ETag foo always; add_header ETag "" always; return 404; }
}`, "{{app}}", app.addr(), "{{dead}}", refusedAddr(t))
	c := newClient(t)

	tests := []struct {
		name   string
		path   string
		status int
		// want holds the expected lines of each header checked; a nil
		// value means the header must be absent.
		want map[string][]string
	}{
		{"200 from the backend gets every header", "/", 200, map[string][]string{
			"X-Server": {"server"}, "X-Always": {"yes"}, "X-Host": {"host=example.test uri=/"},
			"X-Served-By": {"app"}, "X-Empty": nil, "X-Http": nil,
		}},
		{"404 from the backend only the always ones", "/missing", 404, map[string][]string{
			"X-Server": nil, "X-Always": {"yes"}, "X-Host": nil,
		}},
		{"502 with no upstream: always", "/dead/x", 502, map[string][]string{
			"X-Always": {"yes"}, "X-Server": nil,
		}},
		{"return 403: always", "/forbidden", 403, map[string][]string{
			"X-Always": {"yes"}, "X-Server": nil,
		}},
		{"return with a text and another code: always", "/teapot", 418, map[string][]string{
			"X-Always": {"yes"}, "X-Server": nil,
		}},
		{"return 301: every header", "/moved", 301, map[string][]string{
			"X-Always": {"yes"}, "X-Server": {"server"}, "X-Host": {"host=example.test uri=/moved"},
		}},
		{"a location's own list drops the server's", "/own/x", 200, map[string][]string{
			"X-Own": {"own", "again"}, "X-Server": nil, "X-Always": nil, "X-Host": nil,
		}},
		{"own list, not always, on a 404", "/own/missing", 404, map[string][]string{
			"X-Own": nil, "X-Always": nil,
		}},
		{"added beside the backend's own line", "/multi", 200, map[string][]string{
			"Cache-Control": {"private", "no-transform"},
		}},
		{"ETag replaced, Last-Modified removed by an empty value", "/etag", 200, map[string][]string{
			"Etag": {`"limpet"`}, "Last-Modified": nil,
		}},
		{"a later empty ETag removes an earlier one", "/etag-twice", 404, map[string][]string{
			"Etag": nil,
		}},
		{"limpet's own 404: not without always", "/nothing", 404, map[string][]string{
			"X-Nothing": nil,
		}},
	}
	// Twice: the second round sees responses built from the same
	// compiled lines (static values are shared between responses).
	for round := 0; round < 2; round++ {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req, err := http.NewRequest(http.MethodGet, lb.url+tt.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Host = "example.test"
				res, _ := do(t, c, req)
				if res.StatusCode != tt.status {
					t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
				}
				for name, want := range tt.want {
					if got := res.Header.Values(name); !reflect.DeepEqual(got, want) && !(len(got) == 0 && want == nil) {
						t.Errorf("%s: %q, want %q", name, got, want)
					}
				}
			})
		}
	}
}

// TestAddHeaderServerLevel: requests answered before or without a
// location (a server-level return, a bad URI) get the server's list, and
// a server with no list of its own inherits http's.
func TestAddHeaderServerLevel(t *testing.T) {
	lb := startLimpet(t, `
add_header X-Http http always;
server { listen 127.0.0.1:0; access_log off; return 200 hi; }`)
	res, body := get(t, newClient(t), lb.url+"/anything")
	if res.StatusCode != 200 || body != "hi" || res.Header.Get("X-Http") != "http" {
		t.Errorf("status %d body %q X-Http %q, want 200 hi http", res.StatusCode, body, res.Header.Get("X-Http"))
	}
}

// TestAddHeaderUpgrade: the 101 of a WebSocket carries the always lines
// only, as in nginx, whose header filter sees the 101 before the switch.
func TestAddHeaderUpgrade(t *testing.T) {
	app := newBackend(t, "app")
	app.setHandler(echoWebSocket)
	lb := startLimpet(t, `
upstream app { server {{app}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    add_header X-Always yes always;
    add_header X-Plain plain;
    location / { proxy_pass http://app; }
}`, "{{app}}", app.addr())
	conn, err := net.Dial("tcp", strings.TrimPrefix(lb.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 101 || res.Header.Get("X-Always") != "yes" || res.Header.Get("X-Plain") != "" {
		t.Errorf("status %d X-Always %q X-Plain %q, want 101, yes and none", res.StatusCode, res.Header.Get("X-Always"), res.Header.Get("X-Plain"))
	}
}

// An add_header value naming an unknown variable is an error at its
// line, at every level where add_header may stand.
func TestAddHeaderUnknownVariable(t *testing.T) {
	for _, conf := range []string{
		"\nadd_header X-A $nope;\nserver { listen 127.0.0.1:0; }\n",
		"server { listen 127.0.0.1:0;\nadd_header X-A \"a $nope\" always;\n}\n",
		"server { listen 127.0.0.1:0; location / {\nadd_header X-A $nope; return 200; } }\n",
	} {
		path := filepath.Join(t.TempDir(), "limpet.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path, config.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = New(cfg, Options{ErrorLog: slog.New(slog.DiscardHandler)})
		if want := `unknown "nope" variable in ` + path + ":2"; err == nil || err.Error() != want {
			t.Errorf("%q: error %v, want %s", conf, err, want)
		}
	}
}
