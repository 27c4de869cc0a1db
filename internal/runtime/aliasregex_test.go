package runtime

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAliasCaptures runs alias, root and try_files built from a regex
// location's captures through a whole limpet, as nginx maps them: the
// alias is then the whole file path; traversal through a capture (the
// URI is normalized first) or through another variable is refused.
func TestAliasCaptures(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"pub/a.txt":          "pub a",
		"pub/sub/b.txt":      "pub sub b",
		"secret.txt":         "secret",
		"roots/x/r/x/f.txt":  "root x f",
		"pubfile.txt":        "pubfile",
		"tries/one.txt":      "try one",
		"tries/sub/deep.txt": "try deep",
	})
	lb := startLimpet(t, `
server {
    listen 127.0.0.1:0;
    access_log off;
    location ~ ^/u/(.+)$ { alias {{dir}}/pub/$1; }
    location ~ ^/n/(?<file>.+)$ { alias {{dir}}/pub/$file; }
    location ~ ^/glued/(.+)$ { alias {{dir}}/pub$1; }
    location ~ ^/q/file$ { alias {{dir}}/pub/$arg_f; }
    location ~ ^/r/(\w+)/ { root {{dir}}/roots/$1; }
    location ~ ^/t/(?<name>[a-z/]+)$ { root {{dir}}/tries; try_files /$name.txt =418; }
    location ~ ^/tf/(?<f>.+)$ { alias {{dir}}/tries; try_files /$f /sub/deep.txt =418; }
    location ~ ^/tv/(\w+)/(.+)$ { alias {{dir}}/$1; try_files /$2 $2/ =418; }
}`, "{{dir}}", dir)
	c := newClient(t)
	cases := []struct {
		name, path string
		status     int
		body       string
	}{
		{"positional capture", "/u/a.txt", 200, "pub a"},
		{"capture with a slash", "/u/sub/b.txt", 200, "pub sub b"},
		{"named capture", "/n/sub/b.txt", 200, "pub sub b"},
		{"missing file", "/u/none.txt", 404, ""},
		{"directory without slash", "/u/sub", 301, ""},
		{"glued capture", "/glued/file.txt", 200, "pubfile"},
		{"glued capture climbing", "/glued/../secret.txt", 404, ""},
		{"dot-dot through the capture", "/u/../secret.txt", 404, ""},
		{"dot-dot to another location", "/u/../../secret.txt", 400, ""},
		{"encoded dot-dot", "/u/%2e%2e/secret.txt", 404, ""},
		{"encoded slashes", "/u/sub%2f..%2f..%2fsecret.txt", 404, ""},
		{"argument", "/q/file?f=a.txt", 200, "pub a"},
		{"argument climbing", "/q/file?f=../secret.txt", 404, ""},
		{"argument climbing encoded", "/q/file?f=sub/%2E%2E/%2E%2E/secret.txt", 404, ""},
		{"root with a capture", "/r/x/f.txt", 200, "root x f"},
		{"try_files with a capture", "/t/one", 200, "try one"},
		{"try_files with a capture and a slash", "/t/sub/deep", 200, "try deep"},
		{"try_files fallback", "/t/none", 418, ""},
		// try_files in a regex location with alias: the FILE goes
		// after the alias, and the file found is served (nginx's
		// add_uri_to_alias).
		{"alias try_files first", "/tf/one.txt", 200, "try one"},
		{"alias try_files second", "/tf/none", 200, "try deep"},
		{"alias with a capture, try_files", "/tv/tries/one.txt", 200, "try one"},
		{"alias with a capture, try_files directory", "/tv/tries/sub", 301, ""},
		{"alias with a capture, try_files nothing", "/tv/tries/none", 418, ""},
		{"alias with a capture, climbing out of the location", "/tv/tries/../../secret.txt", 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, lb.url+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			// The path is sent as written, dot segments and escapes kept.
			req.URL.Opaque, req.URL.RawQuery, _ = strings.Cut(tc.path, "?")
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

// TestAliasCapturesSymlinks: an alias built from captures is the whole
// path, so `disable_symlinks on from=$document_root` checks nothing
// under it and a symlink it names is served, while `on` refuses it; a
// file named with a trailing slash is 404, as in nginx.
func TestAliasCapturesSymlinks(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"pub/real.txt": "real", "outside.txt": "outside"})
	if err := os.Symlink(filepath.Join(dir, "outside.txt"), filepath.Join(dir, "pub", "link")); err != nil {
		t.Fatal(err)
	}
	lb := startLimpet(t, `
server {
    listen 127.0.0.1:0;
    access_log off;
    location ~ ^/from/(.+)$ { disable_symlinks on from=$document_root; alias {{dir}}/pub/$1; }
    location ~ ^/on/(.+)$ { disable_symlinks on; alias {{dir}}/pub/$1; }
    location ~ ^/(.+/)tail$ { alias {{dir}}/pub/$1; }
}`, "{{dir}}", dir)
	c := newClient(t)
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/from/link", 200, "outside"},
		{"/from/real.txt", 200, "real"},
		{"/on/link", 403, ""},
		{"/on/real.txt", 200, "real"},
		{"/real.txt/tail", 404, ""},
	} {
		res, body := get(t, c, lb.url+tc.path)
		if res.StatusCode != tc.status || tc.body != "" && body != tc.body {
			t.Errorf("%s: %d %q, want %d %q", tc.path, res.StatusCode, body, tc.status, tc.body)
		}
	}
}
