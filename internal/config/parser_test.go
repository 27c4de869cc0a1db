package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dump renders a tree compactly: name[line](args){children}, with the file
// base name when it is not "t.conf".
func dump(ds []*Directive) string {
	var b strings.Builder
	for i, d := range ds {
		if i > 0 {
			b.WriteByte(' ')
		}
		where := fmt.Sprint(d.Line)
		if base := filepath.Base(d.File); base != "t.conf" {
			where = base + ":" + where
		}
		fmt.Fprintf(&b, "%s[%s]", d.Name, where)
		if len(d.Args) > 0 {
			fmt.Fprintf(&b, "(%s)", strings.Join(d.Args, ","))
		}
		if d.HasBlock {
			fmt.Fprintf(&b, "{%s}", dump(d.Block))
		}
	}
	return b.String()
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"empty", "", ""},
		{"comments only", "# nothing\n  # here\n", ""},
		{"simple", "worker_processes 4;", "worker_processes[1](4)"},
		{"empty block", "events {}", "events[1]{}"},
		{"nested", "http {\n server {\n  listen 80;\n }\n}", "http[1]{server[2]{listen[3](80)}}"},
		{"siblings", "a; b 1 2;\nc {d;}", "a[1] b[1](1,2) c[2]{d[2]}"},
		{"line is that of the semicolon, as nginx names it", "a\n1\n2;", "a[3](1,2)"},
		{"line is that of the brace", "a\n1\n{\nb;}", "a[3](1){b[4]}"},
		{"quoted name and args", `"a" 'b c' "";`, "a[1](b c,)"},
		{"include kept unexpanded", "include x/*.conf;", "include[1](x/*.conf)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree, err := Parse("t.conf", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if got := dump(tree); got != tt.want {
				t.Errorf("Parse(%q) = %s, want %s", tt.src, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unexpected close", "a;\n}", `unexpected "}" in t.conf:2`},
		{"close with arguments", "a {\nb c }", `unexpected "}" in t.conf:2`},
		{"open without name", "a;\n{", `unexpected "{" in t.conf:2`},
		{"semicolon without name", "a;;", `unexpected ";" in t.conf:1`},
		{"eof in directive", "a {\n b;\n c", `unexpected end of file, expecting ";" or "}" in t.conf:3`},
		{"eof after arguments", "a b ", `unexpected end of file, expecting ";" or "}" in t.conf:1`},
		{"eof in block", "a {\n b {\n }\n", `unexpected end of file, expecting "}" in t.conf:4`},
		{"lexer error", `a "b"c;`, `unexpected "c" in t.conf:1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.conf", []byte(tt.src))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Parse(%q): error %v, want %s", tt.src, err, tt.want)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Pos.File != "t.conf" {
				t.Errorf("error %v is not an *Error at t.conf", err)
			}
		})
	}
}

// writeFiles creates files (relative name → content) under a new temporary
// directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// expandFile parses dir/main.conf and expands its includes.
func expandFile(t *testing.T, dir string) ([]*Directive, error) {
	t.Helper()
	path := filepath.Join(dir, "main.conf")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := Parse(path, src)
	if err != nil {
		return nil, err
	}
	in := &includer{dir: dir, stack: []string{absPath(path)}}
	return in.expand(tree)
}

func TestInclude(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{
			name: "glob in sorted order, dot files skipped",
			files: map[string]string{
				"main.conf":              "a;\ninclude conf.d/*.conf;\nz;",
				"conf.d/b.conf":          "b;",
				"conf.d/a.conf":          "\nx {\n y;\n}",
				"conf.d/.hidden.conf":    "hidden;",
				"conf.d/other.txt":       "other;",
				"conf.d/sub/deep.conf":   "deep;",
				"conf.d/c.conf.swp":      "swp;",
				"conf.d/empty.conf":      "",
				"conf.d/comments.conf":   "# only a comment\n",
				"conf.d/zz-last.conf":    "last;",
				"unrelated/other.conf":   "unrelated;",
				"conf.d/another.notconf": "no;",
			},
			want: "a[main.conf:1] x[a.conf:2]{y[a.conf:3]} b[b.conf:1] last[zz-last.conf:1] z[main.conf:3]",
		},
		{
			name: "include inside a block, relative to the main file's directory",
			files: map[string]string{
				"main.conf":           "http {\n  include sites/*.conf;\n}",
				"sites/one.conf":      "server {\n include snippets/proxy.conf;\n}",
				"snippets/proxy.conf": "proxy_read_timeout 5s;",
			},
			want: "http[main.conf:1]{server[one.conf:1]{proxy_read_timeout[proxy.conf:1](5s)}}",
		},
		{
			name: "glob matching nothing",
			files: map[string]string{
				"main.conf": "a;\ninclude nowhere/*.conf;\nb;",
			},
			want: "a[main.conf:1] b[main.conf:3]",
		},
		{
			name: "same file twice is not a cycle",
			files: map[string]string{
				"main.conf": "include x.conf;\ninclude x.conf;",
				"x.conf":    "x;",
			},
			want: "x[x.conf:1] x[x.conf:1]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			tree, err := expandFile(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := dump(tree); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestIncludeAbsolute(t *testing.T) {
	other := writeFiles(t, map[string]string{"abs.conf": "abs;"})
	dir := writeFiles(t, map[string]string{
		"main.conf": fmt.Sprintf("include %q;\ninclude %q;", filepath.Join(other, "abs.conf"), filepath.Join(other, "*.conf")),
	})
	tree, err := expandFile(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dump(tree), "abs[abs.conf:1] abs[abs.conf:1]"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestIncludeErrors(t *testing.T) {
	deep := map[string]string{"main.conf": "include d0.conf;"}
	for i := 0; i < 40; i++ {
		deep[fmt.Sprintf("d%d.conf", i)] = fmt.Sprintf("include d%d.conf;", i+1)
	}
	tests := []struct {
		name  string
		files map[string]string
		want  string // DIR stands for the temporary directory
	}{
		{
			name:  "missing file",
			files: map[string]string{"main.conf": "a;\ninclude missing.conf;"},
			want:  `open() "DIR/missing.conf" failed (2: No such file or directory) in DIR/main.conf:2`,
		},
		{
			name:  "missing file from an included file",
			files: map[string]string{"main.conf": "include a.conf;", "a.conf": "\n\ninclude b.conf;"},
			want:  `open() "DIR/b.conf" failed (2: No such file or directory) in DIR/a.conf:3`,
		},
		{
			name:  "syntax error in an included file names that file",
			files: map[string]string{"main.conf": "include conf.d/*.conf;", "conf.d/bad.conf": "a;\n\n}"},
			want:  `unexpected "}" in DIR/conf.d/bad.conf:3`,
		},
		{
			name:  "unclosed block in an included file",
			files: map[string]string{"main.conf": "http {\ninclude x.conf;\n}", "x.conf": "server {\n"},
			want:  `unexpected end of file, expecting "}" in DIR/x.conf:2`,
		},
		{
			name:  "cycle",
			files: map[string]string{"main.conf": "include a.conf;", "a.conf": "include b.conf;", "b.conf": "\ninclude a.conf;"},
			want:  `include cycle: "DIR/a.conf" includes itself in DIR/b.conf:2`,
		},
		{
			name:  "self include of the main file",
			files: map[string]string{"main.conf": "include main.conf;"},
			want:  `include cycle: "DIR/main.conf" includes itself in DIR/main.conf:1`,
		},
		{
			name:  "too deep",
			files: deep,
			want:  `includes nested deeper than 32 levels in DIR/d31.conf:1`,
		},
		{
			name:  "no argument",
			files: map[string]string{"main.conf": "include;"},
			want:  `invalid number of arguments in "include" directive in DIR/main.conf:1`,
		},
		{
			name:  "two arguments",
			files: map[string]string{"main.conf": "include a b;"},
			want:  `invalid number of arguments in "include" directive in DIR/main.conf:1`,
		},
		{
			name:  "block",
			files: map[string]string{"main.conf": "include a {}"},
			want:  `directive "include" is not terminated by ";" in DIR/main.conf:1`,
		},
		{
			name:  "bad glob",
			files: map[string]string{"main.conf": "include [.conf;"},
			want:  `glob() "DIR/[.conf" failed (syntax error in pattern) in DIR/main.conf:1`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			_, err := expandFile(t, dir)
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			if err == nil || err.Error() != want {
				t.Fatalf("error %v\nwant  %s", err, want)
			}
		})
	}
}

func TestIncludeErrorWrapsCause(t *testing.T) {
	dir := writeFiles(t, map[string]string{"main.conf": "include missing.conf;"})
	_, err := expandFile(t, dir)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
	}
}

// render writes a tree back as configuration text, every token quoted,
// so that parsing it again must give the same tree.
func render(ds []*Directive) string {
	q := func(s string) string {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(q(d.Name))
		for _, a := range d.Args {
			b.WriteString(" " + q(a))
		}
		if d.HasBlock {
			b.WriteString(" {\n" + render(d.Block) + "}\n")
		} else {
			b.WriteString(";\n")
		}
	}
	return b.String()
}

// sameTree compares trees without positions.
func sameTree(a, b []*Directive) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Name != y.Name || x.HasBlock != y.HasBlock || len(x.Args) != len(y.Args) || !sameTree(x.Block, y.Block) {
			return false
		}
		for j := range x.Args {
			if x.Args[j] != y.Args[j] {
				return false
			}
		}
	}
	return true
}

// checkLines checks every directive has a line within the source.
func checkLines(t *testing.T, ds []*Directive, maxLine int) {
	for _, d := range ds {
		if d.Line < 1 || d.Line > maxLine || d.File != "f.conf" {
			t.Fatalf("directive %q at %s:%d, source has %d lines", d.Name, d.File, d.Line, maxLine)
		}
		checkLines(t, d.Block, maxLine)
	}
}

// parseSeeds are inputs for FuzzParse beyond the tests' own.
var parseSeeds = []string{
	designNotes,
	"http { include mime.types; server { listen 80; location ~* \\.(gif|jpg)$ { return 404; } } }",
	"a \"b\\\"c\" 'd\\'e' ${f}g \\;;",
	"a {\n b {\n  c;\n }\n}\n",
	"a \"b\"c;", "}", "{", ";", "a", "a \"", "# c\n", "a ${ {;", "a b}\n;",
	"match ok { status ! 500-599; header Server !~ \"^apache\"; body ~ 'ok'; }\n" +
		"server { location / { limit_except GET POST { allow 10.0.0.0/8; deny all; } health_check uri=/h match=ok; } }",
}

func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tree, err := Parse("f.conf", []byte(src))
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.Pos.File != "f.conf" || ce.Pos.Line < 1 || ce.Pos.Line > strings.Count(src, "\n")+1 {
				t.Fatalf("error %v has no position in the text", err)
			}
			return
		}
		checkLines(t, tree, strings.Count(src, "\n")+1)
		again, err := Parse("f.conf", []byte(render(tree)))
		if err != nil {
			t.Fatalf("rendered tree does not parse: %v\n%s", err, render(tree))
		}
		if !sameTree(tree, again) {
			t.Fatalf("round trip changed the tree:\n%s\n%s", dump(tree), dump(again))
		}
	})
}
