package h1srv

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingListener hands out connections that note what reaches their
// ReadFrom, the door to sendfile(2), before passing it to the TCP
// connection's own.
type recordingListener struct {
	net.Listener
	mu   sync.Mutex // guards seen
	seen []io.Reader
}

type recordingConn struct {
	*net.TCPConn
	ln *recordingListener
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &recordingConn{TCPConn: c.(*net.TCPConn), ln: l}, nil
}

func (c *recordingConn) ReadFrom(r io.Reader) (int64, error) {
	c.ln.mu.Lock()
	c.ln.seen = append(c.ln.seen, r)
	c.ln.mu.Unlock()
	return c.TCPConn.ReadFrom(r)
}

// TestReadFromReachesTheConnection: a file served with Content-Length
// (http.ServeContent) reaches the TCP connection's ReadFrom as a file,
// which Go sends with sendfile(2); HEAD, and a body without a length,
// are written as before.
func TestReadFromReachesTheConnection(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.txt")
	content := strings.Repeat("0123456789", 1000)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			_, _ = io.Copy(w, strings.NewReader(content))
			return
		}
		f, err := os.Open(path)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		http.ServeContent(w, r, "f.txt", time.Time{}, f)
	})
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &recordingListener{Listener: raw}
	s := &Server{Settings: Settings{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second}}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		_ = s.Close()
		<-done
	})

	c := dial(t, raw.Addr().String())
	c.send("GET /f HTTP/1.1\r\nHost: x\r\n\r\n")
	if res, body := c.read("GET"); res.StatusCode != 200 || body != content {
		t.Fatalf("GET: %d, %d bytes", res.StatusCode, len(body))
	}
	c.send("HEAD /f HTTP/1.1\r\nHost: x\r\n\r\n")
	if res, body := c.read("HEAD"); res.StatusCode != 200 || body != "" || res.ContentLength != int64(len(content)) {
		t.Fatalf("HEAD: %d, Content-Length %d, body %q", res.StatusCode, res.ContentLength, body)
	}
	c.send("GET /f HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19\r\n\r\n")
	if res, body := c.read("GET"); res.StatusCode != 206 || body != "0123456789" {
		t.Fatalf("range: %d %q", res.StatusCode, body)
	}
	c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
	if res, body := c.read("GET"); res.StatusCode != 200 || body != content || len(res.TransferEncoding) == 0 {
		t.Fatalf("stream: %d, %d bytes, %v", res.StatusCode, len(body), res.TransferEncoding)
	}

	ln.mu.Lock()
	defer ln.mu.Unlock()
	if len(ln.seen) != 2 {
		t.Fatalf("the connection's ReadFrom got %d readers, want 2 (GET and the range)", len(ln.seen))
	}
	for _, r := range ln.seen {
		lr, ok := r.(*io.LimitedReader)
		if !ok {
			t.Fatalf("ReadFrom got %T, want *io.LimitedReader", r)
		}
		if _, ok := lr.R.(*os.File); !ok {
			t.Errorf("ReadFrom got a LimitedReader of %T, want *os.File (sendfile)", lr.R)
		}
	}
}
