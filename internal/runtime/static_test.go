package runtime

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
)

// writeTree writes files (path relative to dir → content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// rawGet sends target as the request line's target, byte for byte (Go's
// client would clean "/../"), and returns the response with its body.
func rawGet(t *testing.T, base, method, target string) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: static.test\r\nConnection: close\r\n\r\n", method, target)
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// TestStaticFiles serves files a test wrote through a whole limpet over
// real TCP: root, alias, index, try_files with =404 and @name fallbacks,
// types, HEAD, POST, and the traversal attempts nginx refuses.
func TestStaticFiles(t *testing.T) {
	app := newBackend(t, "app")
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "app %s %s", r.Method, r.URL.RequestURI())
	})
	dir := t.TempDir()
	www, img, outside := filepath.Join(dir, "www"), filepath.Join(dir, "images"), filepath.Join(dir, "secret")
	writeTree(t, www, map[string]string{
		"index.html":                        "<h1>home</h1>",
		"robots.txt":                        "User-agent: *",
		"style.CSS":                         "body{}",
		"data.bin":                          "\x00\x01",
		"docs/index.htm":                    "docs",
		"docs/vi/index.htm":                 "vi docs",
		"empty/.keep":                       "",
		"spa/index.html":                    "spa shell",
		"photo.jpg":                         "jpeg",
		".well-known/acme-challenge/tok123": "tok123.key",
		"a b.html":                          "spaced",
	})
	writeTree(t, img, map[string]string{"cat.gif": "GIF89a"})
	writeTree(t, outside, map[string]string{"passwd": "root:x:0:0"})
	writeTree(t, www, map[string]string{"guarded/ok.txt": "guarded"})
	for _, link := range []string{"guarded/out", "followed"} {
		if err := os.Symlink(outside, filepath.Join(www, link)); err != nil {
			t.Fatal(err)
		}
	}
	lb := startLimpet(t, `
upstream app { server {{app}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    root {{www}};
    types { text/html html; text/css css; image/gif gif; image/jpeg jpg; }
    default_type application/octet-stream;
    location / { }
    location /docs/ { index index.html index.htm; }
    location /img/ { alias {{img}}/; }
    location /pics { alias {{img}}/; }
    location ~ ^/favicon\.gif$ { alias {{img}}/cat.gif; }
    location /spa/ { try_files $uri $uri/ /spa/index.html; }
    location /strict/ { try_files $uri =404; }
    location /api/ { try_files $uri @app; }
    location @app { proxy_pass http://app; }
    location /hidden/ { internal; }
    location /vi/ { index missing.html /docs$uri; }
    location /quiet/ { log_not_found off; }
    location /loop/ { index /loop/; }
    location /var/ { alias {{www}}/docs/; index ${server_name}.htm index.htm; }
    location /guarded/ { disable_symlinks on from=$document_root; }
}`, "{{app}}", app.addr(), "{{www}}", www, "{{img}}", img)
	// Redirects name limpet's own port, as nginx's port_in_redirect does.
	port := lb.url[strings.LastIndexByte(lb.url, ':'):]

	tests := []struct {
		name, method, target string
		status               int
		body, ctype          string
		location             string
	}{
		{"index of /", "GET", "/", 200, "<h1>home</h1>", "text/html", ""},
		{"a file", "GET", "/robots.txt", 200, "User-agent: *", "application/octet-stream", ""},
		{"extension without case", "GET", "/style.CSS", 200, "body{}", "text/css", ""},
		{"jpeg", "GET", "/photo.jpg", 200, "jpeg", "image/jpeg", ""},
		{"escaped name", "GET", "/a%20b.html", 200, "spaced", "text/html", ""},
		{"ACME challenge", "GET", "/.well-known/acme-challenge/tok123", 200, "tok123.key", "application/octet-stream", ""},
		{"HEAD", "HEAD", "/robots.txt", 200, "", "application/octet-stream", ""},
		{"POST to a file", "POST", "/robots.txt", 405, "405 Not Allowed", "text/html", ""},
		{"PUT", "PUT", "/robots.txt", 405, "405 Not Allowed", "text/html", ""},
		{"POST to a missing file", "POST", "/nope.txt", 404, "404 Not Found", "text/html", ""},
		{"missing", "GET", "/nope.txt", 404, "404 Not Found", "text/html", ""},
		{"directory without slash", "GET", "/docs?x=1", 301, "301 Moved Permanently", "text/html", "http://static.test" + port + "/docs/?x=1"},
		{"second index name", "GET", "/docs/", 200, "docs", "", ""},
		{"absolute index with a variable", "GET", "/vi/", 200, "vi docs", "", ""},
		{"missing, not logged", "GET", "/quiet/nope.txt", 404, "404 Not Found", "text/html", ""},
		{"index redirecting to itself: 500", "GET", "/loop/", 500, "500 Internal Server Error", "text/html", ""},
		{"index with ${var}", "GET", "/var/", 200, "docs", "", ""},
		{"directory without index", "GET", "/empty/", 403, "403 Forbidden", "text/html", ""},
		{"missing directory", "GET", "/none/", 404, "404 Not Found", "text/html", ""},
		{"alias", "GET", "/img/cat.gif", 200, "GIF89a", "image/gif", ""},
		{"alias missing", "GET", "/img/dog.gif", 404, "404 Not Found", "text/html", ""},
		{"try_files file", "GET", "/spa/index.html", 200, "spa shell", "text/html", ""},
		{"try_files fallback URI", "GET", "/spa/some/route", 200, "spa shell", "text/html", ""},
		{"try_files =404", "GET", "/strict/x", 404, "404 Not Found", "text/html", ""},
		{"try_files @name proxies", "GET", "/api/users?id=7", 200, "app GET /api/users?id=7", "", ""},
		{"internal location from outside", "GET", "/hidden/x", 404, "404 Not Found", "text/html", ""},
		{"dot-dot", "GET", "/../secret/passwd", 400, "400 Bad Request", "text/html", ""},
		{"escaped dot-dot", "GET", "/%2e%2e/secret/passwd", 400, "400 Bad Request", "text/html", ""},
		{"escaped slashes", "GET", "/img/..%2f..%2fsecret%2fpasswd", 400, "400 Bad Request", "text/html", ""},
		{"escaped slash is a slash", "GET", "/img%2fcat.gif", 200, "GIF89a", "image/gif", ""},
		{"alias without slash climbing", "GET", "/pics../secret/passwd", 404, "404 Not Found", "text/html", ""},
		{"alias without slash", "GET", "/pics/cat.gif", 200, "GIF89a", "image/gif", ""},
		{"alias in a regex location names the file", "GET", "/favicon.gif", 200, "GIF89a", "image/gif", ""},
		{"escaped slash climbing", "GET", "/..%2fsecret/passwd", 400, "400 Bad Request", "text/html", ""},
		{"NUL", "GET", "/robots.txt%00.html", 400, "400 Bad Request", "text/html", ""},
		{"disable_symlinks on: a plain file", "GET", "/guarded/ok.txt", 200, "guarded", "application/octet-stream", ""},
		{"disable_symlinks on: a symlink out of the root", "GET", "/guarded/out/passwd", 403, "403 Forbidden", "text/html", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := rawGet(t, lb.url, tt.method, tt.target)
			if res.StatusCode != tt.status {
				t.Fatalf("%s %s: status %d, want %d (body %q)", tt.method, tt.target, res.StatusCode, tt.status, body)
			}
			if !strings.Contains(body, tt.body) || tt.body == "" && body != "" {
				t.Errorf("body %q, want %q", body, tt.body)
			}
			if tt.ctype != "" && res.Header.Get("Content-Type") != tt.ctype {
				t.Errorf("Content-Type %q, want %q", res.Header.Get("Content-Type"), tt.ctype)
			}
			if got := res.Header.Get("Location"); got != tt.location {
				t.Errorf("Location %q, want %q", got, tt.location)
			}
			if strings.Contains(body, "root:x") {
				t.Errorf("a file outside the root was served")
			}
		})
	}
	// disable_symlinks off, nginx's default, follows a symlink anywhere.
	if res, body := rawGet(t, lb.url, "GET", "/followed/passwd"); res.StatusCode != 200 || body != "root:x:0:0" {
		t.Errorf("disable_symlinks off: %d %q", res.StatusCode, body)
	}
	if res, _ := rawGet(t, lb.url, "HEAD", "/robots.txt"); res.ContentLength != int64(len("User-agent: *")) {
		t.Errorf("HEAD Content-Length %d", res.ContentLength)
	}
	errs := lb.errLog.String()
	if want := `open() \"` + filepath.Join(www, "nope.txt") + `\" failed (no such file or directory)`; !strings.Contains(errs, want) {
		t.Errorf("error log lacks %s:\n%s", want, errs)
	}
	if want := `directory index of \"` + filepath.Join(www, "empty") + `/\" is forbidden`; !strings.Contains(errs, want) {
		t.Errorf("error log lacks %s:\n%s", want, errs)
	}
	if strings.Contains(errs, "quiet") {
		t.Errorf("log_not_found off logged:\n%s", errs)
	}
}

// TestStaticHeaders: Last-Modified and nginx's ETag ("%x-%x" of mtime and
// size), ranges (one, several as multipart/byteranges, unsatisfiable),
// and conditional requests with if_modified_since exact.
func TestStaticHeaders(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"f.txt": "0123456789abcdefghij"})
	mtime := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(dir, "f.txt"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	lb := startLimpet(t, `
server {
    listen 127.0.0.1:0;
    access_log off;
    root {{root}};
    location / { }
    location /before/ { alias {{root}}/; if_modified_since before; etag off; }
}`, "{{root}}", dir)
	c := newClient(t)
	etag := fmt.Sprintf(`"%x-%x"`, mtime.Unix(), 20)
	lm := mtime.Format(http.TimeFormat)

	res, body := get(t, c, lb.url+"/f.txt")
	if res.StatusCode != 200 || body != "0123456789abcdefghij" {
		t.Fatalf("status %d body %q", res.StatusCode, body)
	}
	if res.Header.Get("Etag") != etag || res.Header.Get("Last-Modified") != lm || res.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("headers %v, want ETag %s Last-Modified %s", res.Header, etag, lm)
	}

	tests := []struct {
		name   string
		path   string
		header []string
		status int
		body   string
	}{
		{"single range", "/f.txt", []string{"Range", "bytes=2-5"}, 206, "2345"},
		{"suffix range", "/f.txt", []string{"Range", "bytes=-3"}, 206, "hij"},
		{"unsatisfiable", "/f.txt", []string{"Range", "bytes=100-200"}, 416, "416 Requested Range Not Satisfiable"},
		{"If-None-Match", "/f.txt", []string{"If-None-Match", etag}, 304, ""},
		{"If-None-Match other", "/f.txt", []string{"If-None-Match", `"x"`}, 200, "0123456789abcdefghij"},
		{"If-Modified-Since exact", "/f.txt", []string{"If-Modified-Since", lm}, 304, ""},
		{"If-Modified-Since later: exact wants equal", "/f.txt", []string{"If-Modified-Since", mtime.Add(time.Hour).Format(http.TimeFormat)}, 200, "0123456789abcdefghij"},
		{"If-Modified-Since later with before", "/before/f.txt", []string{"If-Modified-Since", mtime.Add(time.Hour).Format(http.TimeFormat)}, 304, ""},
		{"If-Modified-Since earlier", "/f.txt", []string{"If-Modified-Since", mtime.Add(-time.Hour).Format(http.TimeFormat)}, 200, "0123456789abcdefghij"},
		{"If-Range matching", "/f.txt", []string{"Range", "bytes=0-1", "If-Range", etag}, 206, "01"},
		{"If-Range stale", "/f.txt", []string{"Range", "bytes=0-1", "If-Range", `"old"`}, 200, "0123456789abcdefghij"},
		{"If-Match failing", "/f.txt", []string{"If-Match", `"x"`}, 412, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := get(t, c, lb.url+tt.path, tt.header...)
			if res.StatusCode != tt.status || !strings.Contains(body, tt.body) || tt.body == "" && body != "" && tt.status == 304 {
				t.Errorf("status %d body %q, want %d %q", res.StatusCode, body, tt.status, tt.body)
			}
			if tt.status == 304 && res.Header.Get("Last-Modified") != lm {
				// nginx keeps it on a 304; net/http would drop it.
				t.Errorf("304: Last-Modified %q, want %q", res.Header.Get("Last-Modified"), lm)
			}
			if tt.status == 416 && res.Header.Get("Content-Range") != "bytes */20" {
				t.Errorf("Content-Range %q", res.Header.Get("Content-Range"))
			}
			if tt.status == 416 && strings.Contains(body, "invalid range") {
				t.Errorf("Go's error text reached the client: %q", body)
			}
		})
	}
	if res, _ := get(t, c, lb.url+"/before/f.txt"); res.Header.Get("Etag") != "" {
		t.Errorf("etag off sent %q", res.Header.Get("Etag"))
	}

	// Several ranges: multipart/byteranges, as nginx answers.
	res, body = get(t, c, lb.url+"/f.txt", "Range", "bytes=0-1,5-6")
	mt, params, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if res.StatusCode != 206 || err != nil || mt != "multipart/byteranges" {
		t.Fatalf("status %d Content-Type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(strings.NewReader(body), params["boundary"])
	var parts []string
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(p)
		parts = append(parts, p.Header.Get("Content-Range")+"="+string(b))
	}
	if want := "bytes 0-1/20=01 bytes 5-6/20=56"; strings.Join(parts, " ") != want {
		t.Errorf("parts %q, want %q", parts, want)
	}
}

// TestStaticUnknownVariable: an unknown variable in root, alias, index,
// try_files or error_page is an error at its line.
func TestStaticUnknownVariable(t *testing.T) {
	for _, conf := range []string{
		"\nroot /srv/$nope;\nserver { listen 127.0.0.1:0; }\n",
		"server { listen 127.0.0.1:0; location /a/ {\nalias /srv/$nope/; } }\n",
		"server { listen 127.0.0.1:0;\nindex /x$nope;\n}\n",
		"server { listen 127.0.0.1:0; location / {\ntry_files $uri $nope =404; } }\n",
		"server { listen 127.0.0.1:0;\nerror_page 404 /e$nope;\n}\n",
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

// TestStaticRootVariables: a root with variables is expanded for each
// request (one directory per Host here); a relative result is under the
// prefix.
func TestStaticRootVariables(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"sites/a.test/index.html": "site a",
		"sites/b.test/index.html": "site b",
	})
	lb := startLimpet(t, `
server {
    listen 127.0.0.1:0;
    access_log off;
    root {{dir}}/sites/$host;
}`, "{{dir}}", dir)
	c := newClient(t)
	for host, want := range map[string]string{"a.test": "site a", "b.test": "site b"} {
		req, _ := http.NewRequest("GET", lb.url+"/", nil)
		req.Host = host
		if res, body := do(t, c, req); res.StatusCode != 200 || body != want {
			t.Errorf("%s: %d %q, want %q", host, res.StatusCode, body, want)
		}
	}
	req, _ := http.NewRequest("GET", lb.url+"/", nil)
	req.Host = "c.test"
	if res, _ := do(t, c, req); res.StatusCode != 404 {
		t.Errorf("unknown site: %d", res.StatusCode)
	}
}

// TestStaticConfigurationVariables: root and try_files read the
// configuration's own variables: a map, a set, and the captures of a
// regex location, as nginx's do.
func TestStaticConfigurationVariables(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"sites/a/index.html":   "site a",
		"sites/b/index.html":   "site b",
		"users/ann/notes.txt":  "ann's notes",
		"public/$odd/file.txt": "dollar dir",
	})
	lb := startLimpet(t, `
map $host $site { a.test a; default b; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location / { root {{dir}}/sites/$site; }
    location ~ ^/u/(?<user>[a-z]+)/(.*)$ {
        root {{dir}}/users;
        try_files /$user/$2 =404;
    }
    location /p/ {
        set $public {{dir}}/public;
        root $public;
        try_files /$arg_d/file.txt =404;
    }
}`, "{{dir}}", dir)
	c := newClient(t)
	tests := []struct{ host, path, want string }{
		{"a.test", "/", "site a"},
		{"other.test", "/", "site b"},
		{"a.test", "/u/ann/notes.txt", "ann's notes"},
		{"a.test", "/p/x?d=$odd", "dollar dir"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", lb.url+tt.path, nil)
		req.Host = tt.host
		if res, body := do(t, c, req); res.StatusCode != 200 || body != tt.want {
			t.Errorf("%s%s: %d %q, want %q", tt.host, tt.path, res.StatusCode, body, tt.want)
		}
	}
	req, _ := http.NewRequest("GET", lb.url+"/u/bob/notes.txt", nil)
	if res, _ := do(t, c, req); res.StatusCode != 404 {
		t.Errorf("another user's capture: %d, want 404", res.StatusCode)
	}
}
