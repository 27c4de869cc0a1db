package runtime

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

const bufferingConf = `
upstream backend { server {{a}} weight=100; {{b}} }
server {
    listen 127.0.0.1:0;
    access_log off;
    client_body_temp_path {{tmp}};
    {{extra}}
    location / { proxy_pass http://backend; }
}`

// startBuffering starts limpet in front of a (and b, if any) with extra
// in the server block, its temporary body files in the returned dir
// (tmp, if not empty).
func startBuffering(t *testing.T, a, b *backend, extra string, tmp ...string) (*limpet, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "body")
	if len(tmp) > 0 {
		dir = tmp[0]
	}
	second := ""
	if b != nil {
		second = "server " + b.addr() + ";"
	}
	return startLimpet(t, bufferingConf, "{{a}}", a.addr(), "{{b}}", second, "{{tmp}}", dir, "{{extra}}", extra), dir
}

// openRaw opens a connection to limpet and writes head.
func openRaw(t *testing.T, lb *limpet, head string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(lb.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	return conn
}

func readResponse(t *testing.T, conn net.Conn) (*http.Response, string) {
	t.Helper()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(body)
}

// With proxy_request_buffering on (the default), a slow upload reaches
// the backend only once its last byte is in: the backend sees the flag
// the client sets just before sending it. Under off, the backend has the
// request while the client still holds the rest of its body back.
func TestRequestBufferingSlowUpload(t *testing.T) {
	for _, tt := range []struct {
		name, extra string
		buffered    bool
	}{
		{"on", "", true},
		{"off", "proxy_request_buffering off;", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var lastSent atomic.Bool
			started := make(chan bool, 1)
			// Told at the request's start (newBackend's handlers run
			// after it has read the body).
			a := rawHandlerBackend(t, func(w http.ResponseWriter, r *http.Request) {
				started <- lastSent.Load()
				body, _ := io.ReadAll(r.Body)
				io.WriteString(w, strconv.Itoa(len(body)))
			})
			lb, _ := startBuffering(t, a, nil, tt.extra)
			// Chunked, so that under off each chunk is passed on at once.
			conn := openRaw(t, lb, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n")
			if !tt.buffered {
				if sawLast := <-started; sawLast {
					t.Fatal("streamed request started after its last byte")
				}
			}
			if _, err := io.WriteString(conn, "5\r\n67890\r\n0\r\n\r"); err != nil {
				t.Fatal(err)
			}
			lastSent.Store(true)
			if _, err := io.WriteString(conn, "\n"); err != nil {
				t.Fatal(err)
			}
			if tt.buffered {
				if sawLast := <-started; !sawLast {
					t.Error("the backend saw the request before its body was whole")
				}
			}
			if res, body := readResponse(t, conn); res.StatusCode != 200 || body != "10" {
				t.Errorf("got %d %q, want 200 and the 10 bytes", res.StatusCode, body)
			}
		})
	}
}

// bodyFilesIn counts limpet's open files in dir (unnamed O_TMPFILE files
// show as "dir/#inode (deleted)").
func bodyFilesIn(t *testing.T, dir string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, dir+"/") {
			n++
		}
	}
	return n
}

// A body up to client_body_buffer_size stays in memory; a larger one
// goes through a temporary file in client_body_temp_path, open while the
// request is proxied and gone (the directory empty) afterwards. Chunked
// uploads arrive with Content-Length, the body intact.
func TestRequestBufferingTempFile(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts open files through /proc/self/fd")
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 10<<10) // 160k
	for _, tt := range []struct {
		name    string
		body    []byte
		chunked bool
		files   int
	}{
		{"small", big[:1000], false, 0},
		{"small chunked", big[:1000], true, 0},
		{"large", big, false, 1},
		{"large chunked", big, true, 1},
		{"exactly the buffer", big[:4<<10], false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "body")
			type seen struct {
				files  int
				length int64
				te     []string
				body   []byte
			}
			got := make(chan seen, 1)
			a := rawHandlerBackend(t, func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				got <- seen{bodyFilesIn(t, dir), r.ContentLength, r.TransferEncoding, body}
			})
			lb, tmp := startBuffering(t, a, nil, "client_body_buffer_size 4k;", dir)
			var src io.Reader = bytes.NewReader(tt.body)
			if tt.chunked {
				src = struct{ io.Reader }{src} // no length: sent chunked
			}
			req, _ := http.NewRequest(http.MethodPost, lb.url+"/", src)
			res, _ := do(t, newClient(t), req)
			s := <-got
			if res.StatusCode != 200 || !bytes.Equal(s.body, tt.body) {
				t.Fatalf("status %d, body of %d bytes, want 200 and the %d sent", res.StatusCode, len(s.body), len(tt.body))
			}
			if s.length != int64(len(tt.body)) || len(s.te) != 0 {
				t.Errorf("backend got Content-Length %d, Transfer-Encoding %v; want %d and none", s.length, s.te, len(tt.body))
			}
			if s.files != tt.files {
				t.Errorf("%d body files open during the request, want %d", s.files, tt.files)
			}
			if entries, err := os.ReadDir(tmp); err != nil && !os.IsNotExist(err) || len(entries) != 0 {
				t.Errorf("temp path holds %v (%v), want nothing", entries, err)
			}
		})
	}
}

// A buffered POST whose first server fails after taking the whole request
// is resent whole to the next under proxy_next_upstream error
// non_idempotent, and not without non_idempotent.
func TestRequestBufferingRetriesWholeBody(t *testing.T) {
	body := strings.Repeat("payload-", 40<<10) // 320k: through a file
	for _, tt := range []struct {
		name, next string
		want       int
		secondHits int
	}{
		{"non_idempotent", "proxy_next_upstream error non_idempotent;", 200, 1},
		{"default", "", 502, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var firstGot atomic.Int64
			a := newBackend(t, "a")
			a.setHandler(func(w http.ResponseWriter, r *http.Request) {
				_, b := a.lastRequest()
				firstGot.Store(int64(len(b)))
				c, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					c.Close() // no response: an error after the request was sent
				}
			})
			b := newBackend(t, "b")
			lb, _ := startBuffering(t, a, b, tt.next+" proxy_next_upstream_tries 2;")
			// a's weight makes it the first choice (bufferingConf).
			req, _ := http.NewRequest(http.MethodPost, lb.url+"/", strings.NewReader(body))
			res, got := do(t, newClient(t), req)
			if a.hitCount() != 1 || b.hitCount() != tt.secondHits {
				t.Errorf("hits a=%d b=%d, want 1 and %d", a.hitCount(), b.hitCount(), tt.secondHits)
			}
			if res.StatusCode != tt.want {
				t.Fatalf("status %d %q, want %d", res.StatusCode, got, tt.want)
			}
			if firstGot.Load() != int64(len(body)) {
				t.Errorf("first server got %d bytes, want %d", firstGot.Load(), len(body))
			}
			if tt.want == 200 {
				if _, resent := b.lastRequest(); string(resent) != body {
					t.Errorf("second server got %d bytes, want the whole %d", len(resent), len(body))
				}
			}
		})
	}
}

// A body over client_max_body_size (chunked, so known only as it comes)
// is answered 413, and one whose client stops sending 408; neither
// reaches the backend.
func TestRequestBufferingFailedBodyNeverReachesUpstream(t *testing.T) {
	for _, tt := range []struct {
		name, extra, head string
		want              int
	}{
		{"413", "client_max_body_size 1k;", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + strings.Repeat("x", 0x800) + "\r\n", 413},
		{"408", "client_body_timeout 1s;", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b", 408},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newBackend(t, "a")
			lb, _ := startBuffering(t, a, nil, tt.extra)
			conn := openRaw(t, lb, tt.head)
			if res, _ := readResponse(t, conn); res.StatusCode != tt.want {
				t.Errorf("status %d, want %d", res.StatusCode, tt.want)
			}
			// A request after it on a fresh connection is proxied, so
			// the backend has had every chance to see the first.
			if res, _ := get(t, newClient(t), lb.url+"/"); res.StatusCode != 200 {
				t.Fatalf("next request: %d", res.StatusCode)
			}
			if a.hitCount() != 1 {
				t.Errorf("backend saw %d requests, want only the next one", a.hitCount())
			}
		})
	}
}

// rawHandlerBackend is a backend whose handler is h alone.
func rawHandlerBackend(t *testing.T, h http.HandlerFunc) *backend {
	b := &backend{name: "raw", srv: httptest.NewServer(h)}
	t.Cleanup(b.stop)
	return b
}
