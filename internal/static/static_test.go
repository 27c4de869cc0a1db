package static

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/vars"
)

func newFiles(t *testing.T, s config.Static) *Files {
	t.Helper()
	if s.Index == nil {
		s.Index = []string{"index.html"}
	}
	if s.Types == nil {
		s.Types = map[string]string{"html": "text/html"}
	}
	if s.DefaultType == "" {
		s.DefaultType = "text/plain"
	}
	f, err := New(&s, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestPath maps URIs to paths with root and alias, and refuses what
// would leave the root.
func TestPath(t *testing.T) {
	tests := []struct {
		name   string
		st     config.Static
		uri    string
		want   string
		inside bool
	}{
		{"root", config.Static{Root: "/srv/www"}, "/a/b.html", "/srv/www/a/b.html", true},
		{"root /", config.Static{Root: "/"}, "/etc/x", "/etc/x", true},
		{"root itself", config.Static{Root: "/srv/www"}, "/", "/srv/www/", true},
		{"alias with slashes", config.Static{Root: "/srv/img/", Alias: true, AliasPrefix: "/img/"}, "/img/cat.gif", "/srv/img/cat.gif", true},
		{"alias without slashes", config.Static{Root: "/srv/img", Alias: true, AliasPrefix: "/img"}, "/img/cat.gif", "/srv/img/cat.gif", true},
		{"alias of the prefix itself", config.Static{Root: "/srv/img", Alias: true, AliasPrefix: "/img"}, "/img", "/srv/img", true},
		{"alias off by a slash", config.Static{Root: "/srv/img/", Alias: true, AliasPrefix: "/img"}, "/img../etc/passwd", "", false},
		{"alias glued to a sibling", config.Static{Root: "/srv/img", Alias: true, AliasPrefix: "/img"}, "/imgx", "", false},
		{"NUL", config.Static{Root: "/srv/www"}, "/a\x00.html", "", false},
		{"a URI shorter than the alias prefix", config.Static{Root: "/srv/img/", Alias: true, AliasPrefix: "/img/"}, "/x", "/srv/img/", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := newFiles(t, tt.st).Path(tt.uri, nil)
			if got != tt.want || ok != tt.inside {
				t.Errorf("Path(%q) = %q, %v; want %q, %v", tt.uri, got, ok, tt.want, tt.inside)
			}
		})
	}
}

// TestTry runs try_files against files on disk: a name ending in "/"
// must be a directory, any other a file; variables expand; the fallback
// is a URI, a named location or a code.
func TestTry(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"dir", "both"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"file.html", "dir/index.html"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		files     []string
		fallback  string
		code      int
		uri, args string
		want      string
		found     bool
		wantFall  string
		wantCode  int
	}{
		{"file", []string{"$uri", "$uri/"}, "/index.php", 0, "/file.html", "", "/file.html", true, "", 0},
		{"directory: the URI without the slash, for the 301", []string{"$uri", "$uri/"}, "/index.php", 0, "/dir", "", "/dir", true, "", 0},
		{"directory with its slash", []string{"$uri", "$uri/"}, "/index.php", 0, "/dir/", "", "/dir/", true, "", 0},
		{"$uri is a file test, a directory fails it", []string{"$uri"}, "", 404, "/dir/", "", "", false, "", 404},
		{"fixed directory", []string{"/dir/"}, "", 404, "/x", "", "/dir", true, "", 0},
		{"a directory is not a file", []string{"$uri"}, "", 404, "/dir", "", "", false, "", 404},
		{"a file is not a directory", []string{"$uri/"}, "", 404, "/file.html", "", "", false, "", 404},
		{"fallback with args", []string{"$uri"}, "/index.php?$args", 0, "/missing", "a=1", "", false, "/index.php?a=1", 0},
		{"named fallback", []string{"$uri"}, "@app", 0, "/missing", "", "", false, "@app", 0},
		{"fixed name", []string{"/dir/index.html"}, "", 404, "/anything", "", "/dir/index.html", true, "", 0},
		{"relative name gets a slash", []string{"file.html"}, "", 404, "/x", "", "/file.html", true, "", 0},
		{"outside the root", []string{"/../etc/passwd"}, "", 403, "/x", "", "", false, "", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFiles(t, config.Static{Root: root, TryFiles: &config.TryFiles{Files: tt.files, Fallback: tt.fallback, Code: tt.code}})
			req := httptest.NewRequest("GET", tt.uri+"?"+tt.args, nil)
			vr := &vars.Request{R: req, URI: tt.uri}
			uri, found, fall, code := f.Try(vr)
			if uri != tt.want || found != tt.found || fall != tt.wantFall || code != tt.wantCode {
				t.Errorf("Try = %q %v %q %d; want %q %v %q %d", uri, found, fall, code, tt.want, tt.found, tt.wantFall, tt.wantCode)
			}
		})
	}
}

// TestTryFilesUnknownVariable: an unknown variable is an error at the
// try_files line.
func TestTryFilesUnknownVariable(t *testing.T) {
	_, err := New(&config.Static{Root: "/", TryFiles: &config.TryFiles{Pos: config.Pos{File: "f.conf", Line: 3}, Files: []string{"$nope"}, Code: 404}}, nil)
	if err == nil || err.Error() != `unknown "nope" variable in f.conf:3` {
		t.Errorf("error %v", err)
	}
}

// TestServeResults: what Serve asks of its caller.
func TestServeResults(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "d", "noindex"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "d", "index.html"), []byte("i"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "f.html"), []byte("f"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := newFiles(t, config.Static{Root: root, Index: []string{"index.htm", "index.html"}})
	abs := newFiles(t, config.Static{Root: root, Index: []string{"none.html", "/fallback$uri"}})
	tests := []struct {
		name, method, uri, query string
		files                    *Files
		want                     Result
	}{
		{"file", "GET", "/f.html", "", f, Result{}},
		{"index", "GET", "/d/", "", f, Result{Redirect: "/d/index.html"}},
		{"absolute index with a variable", "GET", "/d/noindex/", "", abs, Result{Redirect: "/fallback/d/noindex/"}},
		{"no index", "GET", "/d/noindex/", "", f, Result{Status: 403, Log: `directory index of "` + root + `/d/noindex/" is forbidden`}},
		{"directory without slash", "GET", "/d", "a=b", f, Result{Status: 301, Location: "/d/?a=b"}},
		{"missing", "GET", "/nope", "", f, Result{Status: 404, Log: `open() "` + root + `/nope" failed (no such file or directory)`}},
		{"DELETE", "DELETE", "/f.html", "", f, Result{Status: 405}},
		{"POST to a file", "POST", "/f.html", "", f, Result{Status: 405}},
		{"POST to a directory", "POST", "/d", "", f, Result{Status: 301, Location: "/d/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := tt.uri
			if tt.query != "" {
				target += "?" + tt.query
			}
			req := httptest.NewRequest(tt.method, target, nil)
			w := httptest.NewRecorder()
			got := tt.files.Serve(w, req, &vars.Request{R: req, URI: tt.uri})
			if got != tt.want {
				t.Errorf("Serve = %+v, want %+v", got, tt.want)
			}
			if tt.want == (Result{}) && (w.Code != http.StatusOK || w.Body.String() != "f" || w.Header().Get("Content-Type") != "text/html") {
				t.Errorf("served %d %q %v", w.Code, w.Body.String(), w.Header())
			}
		})
	}
}

// TestContentType: by the last extension, without case, else the default.
func TestContentType(t *testing.T) {
	f := newFiles(t, config.Static{Root: "/", Types: map[string]string{"html": "text/html", "gz": "application/gzip"}, DefaultType: "application/octet-stream"})
	for uri, want := range map[string]string{
		"/a.HTML":       "text/html",
		"/a.tar.gz":     "application/gzip",
		"/a":            "application/octet-stream",
		"/dir.html/a":   "application/octet-stream",
		"/.html":        "text/html",
		"/a.unknownext": "application/octet-stream",
	} {
		if got := f.ContentType(uri); got != want {
			t.Errorf("ContentType(%q) = %q, want %q", uri, got, want)
		}
	}
}
