package internal_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// unreadOK are the fields of the configuration that no package outside
// config reads, each with the reason that is fine. Anything else that
// config fills and nobody reads is an option accepted and silently
// ignored: make it work, or refuse it, or report it as having no
// effect (the noEffect table of internal/config/directives.go) and
// drop the field.
var unreadOK = map[string]string{
	"Warning.Msg":             "read through Warning.String",
	"Warning.More":            "read through Warning.String",
	"Config.Matches":          "match blocks by name, resolved into HealthCheck.Match while loading",
	"ProxyPass.URL":           "the URL as written, for people; Upstream, Addr and URI are what is used",
	"UpstreamSSL.TrustedFile": "the path as written, for people; Trusted and TrustedDigest are what is used",
	"Upstream.Zone":           "NGINX Plus's shared memory zone: limpet is one process, its upstreams' state is always shared (config requires it for queue, state and resolve)",
	"Config.LogFormats":       "log_format directives by name, resolved into AccessLog.Format while loading",
	"LogFormat.Name":          "the format's name, for people; Escape and Format are what is used",
}

// TestConfigFieldsRead fails when a field of config.Config, or of a
// type reachable from it, is read by no package of the module but
// config itself: go/types resolves every selector of every non-test
// file, with the compiler's export data for the imports (go list -export).
func TestConfigFieldsRead(t *testing.T) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	cmd := exec.Command("go", "list", "-export", "-deps", "-json=ImportPath,Dir,GoFiles,Export,Module", "./...")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	type listed struct {
		ImportPath, Dir, Export string
		GoFiles                 []string
		Module                  *struct{ Path string }
	}
	exports := make(map[string]string)
	var own []listed
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		exports[p.ImportPath] = p.Export
		if p.Module != nil && p.Module.Path == module {
			own = append(own, p)
			// What go list read is unknown to go test's cache; what
			// the test opens is not (see listPackages).
			if _, err := os.ReadDir(p.Dir); err != nil {
				t.Fatal(err)
			}
			for _, f := range p.GoFiles {
				if _, err := os.Stat(filepath.Join(p.Dir, f)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok || f == "" {
			return nil, errors.New("no export data for " + path)
		}
		return os.Open(f)
	})
	cfgPkg, err := imp.Import(module + "/internal/config")
	if err != nil {
		t.Fatal(err)
	}

	posType := cfgPkg.Scope().Lookup("Pos").Type()
	// Every field reachable from Config, by "Type.Field".
	fields := make(map[*types.Var]string)
	seen := make(map[types.Type]bool)
	var walk func(types.Type)
	walk = func(typ types.Type) {
		switch u := typ.(type) {
		case *types.Pointer:
			walk(u.Elem())
		case *types.Slice:
			walk(u.Elem())
		case *types.Map:
			walk(u.Elem())
		case *types.Named:
			if seen[u] || u.Obj().Pkg() != cfgPkg {
				return
			}
			seen[u] = true
			s, ok := u.Underlying().(*types.Struct)
			if !ok {
				return
			}
			for i := 0; i < s.NumFields(); i++ {
				f := s.Field(i)
				// A Pos is where a directive stands, for messages,
				// not an option.
				if f.Exported() && f.Type() != posType {
					fields[f] = u.Obj().Name() + "." + f.Name()
					walk(f.Type())
				}
			}
		}
	}
	walk(cfgPkg.Scope().Lookup("Config").Type())

	read := make(map[*types.Var]bool)
	for _, p := range own {
		if p.ImportPath == module+"/internal/config" || len(p.GoFiles) == 0 {
			continue
		}
		var files []*ast.File
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		info := &types.Info{Selections: make(map[*ast.SelectorExpr]*types.Selection)}
		conf := types.Config{Importer: imp}
		if _, err := conf.Check(p.ImportPath, fset, files, info); err != nil {
			t.Fatalf("type-checking %s: %v", p.ImportPath, err)
		}
		for _, sel := range info.Selections {
			if v, ok := sel.Obj().(*types.Var); ok && sel.Kind() == types.FieldVal {
				read[v] = true
			}
		}
	}

	var unread []string
	for f, name := range fields {
		if !read[f] && unreadOK[name] == "" {
			unread = append(unread, name)
		}
	}
	sort.Strings(unread)
	for _, name := range unread {
		t.Errorf("config field %s is filled and read by no package but config: an option accepted and ignored?", name)
	}
	byName := make(map[string]*types.Var, len(fields))
	for f, name := range fields {
		byName[name] = f
	}
	for name := range unreadOK {
		switch f, ok := byName[name]; {
		case !ok:
			t.Errorf("unreadOK names %s, which is not a field of the configuration", name)
		case read[f]:
			t.Errorf("config field %s is read now: remove it from unreadOK", name)
		}
	}
}
