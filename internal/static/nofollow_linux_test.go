package static

import (
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/vars"
)

// TestDisableSymlinks: with disable_symlinks on, a symlink in any part
// of the path is 403, the last part or one before it; off follows them;
// from=$document_root checks only what is under the root, which may
// itself be reached through a symlink.
func TestDisableSymlinks(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(root, "real"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for p, body := range map[string]string{filepath.Join(root, "real", "f.txt"): "f", filepath.Join(outside, "secret"): "s"} {
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		filepath.Join(root, "dirlink"):  filepath.Join(root, "real"),
		filepath.Join(root, "filelink"): filepath.Join(root, "real", "f.txt"),
		filepath.Join(root, "out"):      outside,
		filepath.Join(base, "rootlink"): root,
	} {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	linkedRoot := filepath.Join(base, "rootlink")
	tests := []struct {
		name     string
		root     string
		symlinks config.Symlinks
		uri      string
		want     int // 0: served
	}{
		{"plain file, on", root, config.SymlinksRefuse, "/real/f.txt", 0},
		{"link to a file, on", root, config.SymlinksRefuse, "/filelink", 403},
		{"link to a directory, on", root, config.SymlinksRefuse, "/dirlink/f.txt", 403},
		{"link out of the root, on", root, config.SymlinksRefuse, "/out/secret", 403},
		{"missing, on", root, config.SymlinksRefuse, "/real/none", 404},
		{"link to a file, off", root, config.SymlinksFollow, "/filelink", 0},
		{"link out of the root, off (as nginx)", root, config.SymlinksFollow, "/out/secret", 0},
		{"root through a link, on", linkedRoot, config.SymlinksRefuse, "/real/f.txt", 403},
		{"root through a link, from=$document_root", linkedRoot, config.SymlinksRefuseUnderRoot, "/real/f.txt", 0},
		{"link under a linked root, from=$document_root", linkedRoot, config.SymlinksRefuseUnderRoot, "/filelink", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := New(&config.Static{Root: tt.root, Index: []string{"index.html"}, DefaultType: "text/plain", Symlinks: tt.symlinks}, nil)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("GET", tt.uri, nil)
			w := httptest.NewRecorder()
			res := f.Serve(w, req, &vars.Request{R: req, URI: tt.uri})
			if res.Status != tt.want {
				t.Errorf("status %d (%s), want %d", res.Status, res.Log, tt.want)
			}
		})
	}
	if _, err := openNoFollow(filepath.Join(root, "dirlink", "f.txt"), ""); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("a directory symlink: %v, want ELOOP", err)
	}
}
