package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// defaultStatic is what a level without static directives has, for a
// main file in dir.
func defaultStatic(dir string) Static {
	return Static{
		Root:            filepath.Join(dir, "html"),
		Prefix:          dir,
		Index:           []string{"index.html"},
		DefaultType:     "text/plain",
		Types:           map[string]string{"html": "text/html", "gif": "image/gif", "jpg": "image/jpeg"},
		ETag:            true,
		IfModifiedSince: "exact",
		LogNotFound:     true,
	}
}

// staticOf returns the static settings of the location at paths, or of
// the server without paths, or of the named location "@x".
func staticOf(t *testing.T, cfg *Config, paths ...string) Static {
	t.Helper()
	srv := cfg.Servers[0]
	if len(paths) == 1 && strings.HasPrefix(paths[0], "@") {
		return srv.Named[paths[0]].Proxy.Static
	}
	if len(paths) == 0 {
		return srv.Proxy.Static
	}
	locs := srv.Locations
	var l *Location
	for _, p := range paths {
		l = nil
		for _, c := range locs {
			if c.Path == p {
				l = c
			}
		}
		if l == nil {
			t.Fatalf("no location %q", p)
		}
		locs = l.Locations
	}
	return l.Proxy.Static
}

// TestStaticSettings: root, alias, index, types, error_page and the rest
// merge from http to server to location as nginx merges them.
func TestStaticSettings(t *testing.T) {
	cfg, path, err := load(t, `
root www;
index a.html b.html;
error_page 404 /404.html;
types { text/css css; text/html html htm; }
server {
    default_type application/octet-stream;
    etag off;
    try_files $uri =404;
    location / { }
    location /img/ {
        alias /srv/images/;
        index x.html;
        location /img/deep/ { }
    }
    location /own/ {
        error_page 500 502 =200 @fallback;
        error_page 404 = /missing;
        types { }
        if_modified_since before;
        proxy_intercept_errors on;
        recursive_error_pages on;
        disable_symlinks on from=$document_root;
        internal;
    }
    location @fallback { root /other; }
}
`)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	at := func(line int) Pos { return Pos{File: path, Line: line} }
	base := defaultStatic(dir)
	base.Root, base.RootPos = filepath.Join(dir, "www"), at(2)
	base.Index, base.IndexPos = []string{"a.html", "b.html"}, at(3)
	base.ErrorPages = []ErrorPage{{Pos: at(4), Codes: []int{404}, Target: "/404.html"}}
	base.Types = map[string]string{"css": "text/css", "html": "text/html", "htm": "text/html"}
	srv := base
	srv.DefaultType = "application/octet-stream"
	srv.ETag = false
	srv.TryFiles = &TryFiles{Pos: at(9), Files: []string{"$uri"}, Code: 404}
	loc := srv
	loc.TryFiles = nil // try_files is not inherited
	img := loc
	img.Root, img.RootPos, img.Alias, img.AliasPrefix, img.Index, img.IndexPos = "/srv/images/", at(12), true, "/img/", []string{"x.html"}, at(13)
	own := loc
	own.ErrorPages = []ErrorPage{
		{Pos: at(17), Codes: []int{500, 502}, Response: 200, Target: "@fallback"},
		{Pos: at(18), Codes: []int{404}, Response: ResponseOfTarget, Target: "/missing"},
	}
	own.Types = map[string]string{}
	own.IfModifiedSince = "before"
	own.InterceptErrors, own.RecursiveErrorPages = true, true
	own.Symlinks = SymlinksRefuseUnderRoot
	named := loc
	named.Root, named.RootPos = "/other", at(26)
	tests := []struct {
		paths []string
		want  Static
	}{
		{nil, srv},
		{[]string{"/"}, loc},
		{[]string{"/img/"}, img},
		{[]string{"/img/", "/img/deep/"}, img},
		{[]string{"/own/"}, own},
		{[]string{"@fallback"}, named},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.paths, " "), func(t *testing.T) {
			if got := staticOf(t, cfg, tt.paths...); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
	s := cfg.Servers[0]
	if len(s.Locations) != 3 {
		t.Errorf("a named location is among the matched ones: %d locations", len(s.Locations))
	}
	if !s.Named["@fallback"].Internal || !s.Locations[2].Internal || s.Locations[0].Internal {
		t.Errorf("internal: named %v, /own/ %v, / %v", s.Named["@fallback"].Internal, s.Locations[2].Internal, s.Locations[0].Internal)
	}
}

// TestStaticDefaults: without static directives, nginx's defaults.
func TestStaticDefaults(t *testing.T) {
	cfg, path, err := load(t, "server { location / { } }")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := staticOf(t, cfg, "/"), defaultStatic(filepath.Dir(path)); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// TestStaticErrors asserts each error in full, in nginx's words where
// nginx has them.
func TestStaticErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"root then alias", "server { location /a/ {\n root /x;\n alias /y;\n} }", `"alias" directive is duplicate, "root" directive was specified earlier in FILE:3`},
		{"alias then root", "server { location /a/ {\n alias /y;\n root /x;\n} }", `"root" directive is duplicate, "alias" directive was specified earlier in FILE:3`},
		{"duplicate root", "server {\n root /x;\n root /y;\n}", `"root" directive is duplicate in FILE:3`},
		{"alias in server", "server {\n alias /x;\n}", `"alias" directive is not allowed here in FILE:2`},
		{"alias in named location", "server { location @n {\n alias /x;\n} }", `"alias" directive cannot be used inside the named location in FILE:2`},
		{"absolute index not last", "index /a.html b.html;", `only the last index in "index" directive should be absolute in FILE:1`},
		{"try_files one argument", "server { try_files $uri; }", `invalid number of arguments in "try_files" directive in FILE:1`},
		{"try_files bad code", "server {\n try_files $uri =x;\n}", `invalid code "=x" in FILE:2`},
		{"try_files in http", "try_files $uri =404;", `"try_files" directive is not allowed here in FILE:1`},
		{"duplicate try_files", "server {\n try_files $uri =404;\n try_files $uri =403;\n}", `"try_files" directive is duplicate in FILE:3`},
		{"error_page code too low", "error_page 200 /x;", `value "200" must be between 300 and 599 in FILE:1`},
		{"error_page 499", "error_page 499 /x;", `value "499" must be between 300 and 599 and not equal to 499 in FILE:1`},
		{"error_page not a code", "error_page abc /x;", `invalid value "abc" in FILE:1`},
		{"error_page bad response", "error_page 404 =x /x;", `invalid value "=x" in FILE:1`},
		{"error_page without codes", "error_page =200 /x;", `invalid number of arguments in "error_page" directive in FILE:1`},
		{"error_page one argument", "error_page 404;", `invalid number of arguments in "error_page" directive in FILE:1`},
		{"autoindex on", "server {\n autoindex on;\n}", `"autoindex on" is not supported by limpet (it lists no directories) in FILE:2`},
		{"disable_symlinks if_not_owner", "disable_symlinks if_not_owner;", `"disable_symlinks if_not_owner" is not supported by limpet (use "on") in FILE:1`},
		{"disable_symlinks from a path", "disable_symlinks on from=/srv;", `"disable_symlinks" with "from=/srv" is not supported by limpet (only "from=$document_root") in FILE:1`},
		{"disable_symlinks bad value", "disable_symlinks yes;", `invalid value "yes" in "disable_symlinks" directive in FILE:1`},
		{"bad if_modified_since", "if_modified_since always;", `invalid value "always" in "if_modified_since" directive in FILE:1`},
		{"bad etag", "etag yes;", `invalid value "yes" in "etag" directive, it must be "on" or "off" in FILE:1`},
		{"internal in server", "server {\n internal;\n}", `"internal" directive is not allowed here in FILE:2`},
		{"duplicate internal", "server { location /a/ {\n internal;\n internal;\n} }", `"internal" directive is duplicate in FILE:3`},
		{"duplicate internal in a named location", "server { location @a {\n internal;\n internal;\n} }", `"internal" directive is duplicate in FILE:3`},
		{"types entry without extension", "types {\n text/html;\n}", `invalid number of arguments in "types" directive in FILE:2`},
		{"duplicate named location", "server {\n location @a { }\n location @a { }\n}", `duplicate location "@a" in FILE:3`},
		{"location inside named", "server { location @a {\n location /x { }\n} }", `location "/x" cannot be inside the named location "@a" in FILE:2`},
		{"proxy_pass with URI in named location", "server { location @a {\n proxy_pass http://127.0.0.1/x;\n} }", `"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block in FILE:2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, path, err := load(t, tt.src)
			want := strings.ReplaceAll(tt.want, "FILE", path)
			if err == nil || err.Error() != want {
				t.Fatalf("source:\n%s\nerror %v\nwant  %s", tt.src, err, want)
			}
		})
	}
}

// TestTypesDuplicateExtension: nginx warns and the last type wins.
func TestTypesDuplicateExtension(t *testing.T) {
	cfg, path, err := load(t, "types {\n text/html htm;\n}\ntypes {\n text/plain HTM;\n}\nserver { }")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Servers[0].Proxy.Static.Types["htm"]; got != "text/plain" {
		t.Errorf("htm is %q", got)
	}
	want := `duplicate extension "htm", content type: "text/plain", previous content type: "text/html" in ` + path + ":5"
	if len(cfg.Warnings) != 1 || cfg.Warnings[0].String() != want {
		t.Errorf("warnings %v, want %s", cfg.Warnings, want)
	}
}

// TestIncludeMimeTypes: `include mime.types;` reads the file beside the
// main one when it is there, else limpet's built-in table; another
// missing name is still an error.
func TestIncludeMimeTypes(t *testing.T) {
	cfg, _, err := load(t, "include mime.types;\nserver { }")
	if err != nil {
		t.Fatal(err)
	}
	types := cfg.Servers[0].Proxy.Static.Types
	for ext, want := range map[string]string{"css": "text/css", "js": "text/javascript", "png": "image/png", "woff2": "font/woff2", "html": "text/html", "json": "application/json"} {
		if types[ext] != want {
			t.Errorf("%s: %q, want %q", ext, types[ext], want)
		}
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings in the built-in table: %v", cfg.Warnings)
	}

	dir := writeFiles(t, map[string]string{
		"mime.types":  "types { text/x-own own; }",
		"limpet.conf": "include mime.types;\nserver { }",
	})
	cfg, err = Load(filepath.Join(dir, "limpet.conf"), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Servers[0].Proxy.Static.Types; len(got) != 1 || got["own"] != "text/x-own" {
		t.Errorf("types from the file: %v", got)
	}

	if _, _, err := load(t, "include other.types;"); err == nil || !strings.Contains(err.Error(), `open() "`) {
		t.Errorf("a missing other file: %v", err)
	}
}
