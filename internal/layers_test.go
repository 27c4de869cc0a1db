// Package internal_test holds the tests of the module's shape: the
// import graph, which must flow one way, as docs/ARCHITECTURE.md draws it.
package internal_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// module is the module's import path.
const module = "github.com/limpet-lb/limpet"

// layers places every package of the module, by its path inside the
// module, in one layer. A package may import only packages of lower
// layers: never one of its own layer, never one above. So health, the
// API, the metrics and the dashboard (beside proxy) cannot reach into
// the request path; live, below proxy, cannot import it; only the
// commands import runtime; and config, in the lowest layer, imports
// nothing of the module. A new package must be given its layer here
// (and its place in docs/ARCHITECTURE.md).
var layers = []struct {
	name     string
	packages []string
}{
	{"leaves: read by all, importing nothing of the module", []string{
		"internal/config", "internal/upstream", "internal/vars", "internal/httpsyntax",
		"internal/deadline", "internal/epoll", "internal/errpage", "internal/accesslog",
		"internal/gctune", "internal/testbackend", "internal/benchcpu", "internal/browsertest",
		"internal/discovery/dnstest", "internal/tlstest", "internal/statuszone",
	}},
	{"the request path's building blocks", []string{
		"internal/balance", "internal/sticky", "internal/h1parse", "internal/uptls", "internal/static",
	}},
	{"the request path's parts: the live upstream, the upstream client, routing, limits", []string{
		"internal/live", "internal/h1", "internal/router", "internal/limit", "internal/h2srv",
	}},
	{"what the runtime wires: the proxy and the services beside it", []string{
		"internal/proxy", "internal/h1srv", "internal/health", "internal/access",
		"internal/admin/api", "internal/admin/metrics", "internal/admin/dashboard", "internal/demo",
		"internal/discovery", "internal/tlsconf",
	}},
	{"the runtime", []string{"internal/runtime"}},
	{"commands", []string{"cmd/limpet", "bench/limpet-pprof", "bench/backend", "bench/idleclients"}},
	{"the TLS benchmark's tools", []string{"bench/tlscert", "bench/handshakes"}},
}

// pkg is what go list tells of one package.
type pkg struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
}

// listPackages returns every package of the module with the imports of
// its non-test files, as `go list` reads them. It also reads each
// package's directory and stats its files, so that `go test`'s cache,
// which knows of what a test opens but not of what go list read, runs
// the test again when an import changes.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	cmd := exec.Command("go", "list", "-json=ImportPath,Dir,GoFiles,Imports", "./...")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		if _, err := os.ReadDir(p.Dir); err != nil {
			t.Fatal(err)
		}
		for _, f := range p.GoFiles {
			if _, err := os.Stat(filepath.Join(p.Dir, f)); err != nil {
				t.Fatal(err)
			}
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return pkgs
}

// TestImportLayers fails on any import of a package of the same or a
// higher layer, naming the import, and on a package the table misses.
func TestImportLayers(t *testing.T) {
	rank := make(map[string]int)
	for i, l := range layers {
		for _, p := range l.packages {
			rank[p] = i
		}
	}
	seen := make(map[string]bool)
	for _, p := range listPackages(t) {
		from, ok := strings.CutPrefix(p.ImportPath, module+"/")
		if !ok {
			continue // the module's root, if it ever has a package
		}
		if from == "internal" {
			continue // this test's own package, which has no code
		}
		r, known := rank[from]
		if !known {
			t.Errorf("package %s has no layer: give it one in layers (internal/layers_test.go) and a place in docs/ARCHITECTURE.md", from)
			continue
		}
		seen[from] = true
		for _, imp := range p.Imports {
			to, ok := strings.CutPrefix(imp, module+"/")
			if !ok {
				continue
			}
			tr, known := rank[to]
			switch {
			case !known:
				t.Errorf("%s imports %s, which has no layer", from, to)
			case tr == r:
				t.Errorf("%s imports %s: both are in the layer %q, whose packages must not import one another", from, to, layers[r].name)
			case tr > r:
				t.Errorf("%s (layer %q) imports %s, of the higher layer %q: imports flow downwards only", from, layers[r].name, to, layers[tr].name)
			}
		}
	}
	for p := range rank {
		if !seen[p] {
			t.Errorf("layers names %s, which go list does not know: remove it", p)
		}
	}
}
