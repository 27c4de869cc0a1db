package proxy

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// A buffered body reads whole through every view, from memory up to the
// limit and from its file beyond; a view outliving the exchange's hold
// still reads it whole, and the last release closes the file.
func TestBufferedBodyViews(t *testing.T) {
	data := strings.Repeat("0123456789", 5000) // 50000 bytes
	for _, tt := range []struct {
		name          string
		n             int
		length, limit int64
		inFile        bool
	}{
		{"empty", 0, 0, 16 << 10, false},
		{"small known", 100, 100, 16 << 10, false},
		{"small chunked", 100, -1, 16 << 10, false},
		{"limit exactly", 16 << 10, 16 << 10, 16 << 10, false},
		{"large known", 50000, 50000, 16 << 10, true},
		{"large chunked", 50000, -1, 16 << 10, true},
		{"limit zero", 100, 100, 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bufferedBody
			if err := b.read(strings.NewReader(data[:tt.n]), tt.length, tt.limit, t.TempDir()); err != nil {
				t.Fatal(err)
			}
			if b.size != int64(tt.n) || (b.file != nil) != tt.inFile {
				t.Fatalf("size %d, in file %v; want %d, %v", b.size, b.file != nil, tt.n, tt.inFile)
			}
			first, second := b.view(), b.view()
			for i, v := range []io.ReadCloser{first, second} {
				got, err := io.ReadAll(v)
				if err != nil || !bytes.Equal(got, []byte(data[:tt.n])) {
					t.Errorf("view %d: %d bytes, %v", i, len(got), err)
				}
			}
			f := b.file
			first.Close()
			b.release()
			if f != nil && b.file == nil {
				t.Fatal("file closed while a view is open")
			}
			second.Close()
			second.Close() // a second Close lets go of nothing more
			if b.file != nil || b.mem != nil || b.refs.Load() != 0 {
				t.Errorf("after the last release: file %v, mem %d bytes, refs %d", b.file, len(b.mem), b.refs.Load())
			}
		})
	}
}
