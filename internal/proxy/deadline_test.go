package proxy

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestClientDeadlinesDoNotOutliveTheRequest pins the net/http behaviour
// copyBody and clientBody rely on to leave their deadlines on the client's
// connection instead of clearing them (a call per request each): the
// server clears the write deadline once the handler returns, and the read
// deadline when it starts its background read at the end of the request
// body. A deadline left behind would otherwise cut the background read
// (cancelling the request's context) or a later response on the same
// keep-alive connection.
func TestClientDeadlinesDoNotOutliveTheRequest(t *testing.T) {
	const left = 50 * time.Millisecond // the deadlines left behind
	var conns atomic.Int32
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		switch r.URL.Path {
		case "/write":
			_ = rc.SetWriteDeadline(time.Now().Add(left))
		case "/read":
			_ = rc.SetReadDeadline(time.Now().Add(left))
			_, _ = io.ReadAll(r.Body)
			// Past the read deadline, while the server reads
			// in the background.
			time.Sleep(3 * left)
			if err := r.Context().Err(); err != nil {
				http.Error(w, "context ended: "+err.Error(), http.StatusInternalServerError)
				return
			}
		}
		_, _ = io.WriteString(w, "ok")
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Start()
	defer s.Close()
	client := s.Client()

	// The client retries a GET on a new connection when the server
	// closes one it reused, so the sign of a response cut short is a
	// second connection.
	get := func(method, path string, body io.Reader) {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL+path, body)
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK || string(b) != "ok" {
			t.Fatalf("%s %s: status %d, body %q, error %v; want 200 \"ok\"", method, path, res.StatusCode, b, err)
		}
		if n := conns.Load(); n != 1 {
			t.Fatalf("%s %s: %d connections, want the first one kept alive", method, path, n)
		}
	}
	get(http.MethodGet, "/write", nil)
	time.Sleep(3 * left) // the write deadline has passed
	get(http.MethodGet, "/", nil)
	get(http.MethodPost, "/read", strings.NewReader("a small body"))
	time.Sleep(3 * left)
	get(http.MethodGet, "/", nil)
}

// deadlineWriter is a ResponseWriter that counts the deadlines set on it.
type deadlineWriter struct {
	benchWriter
	reads, writes []time.Time
}

func (w *deadlineWriter) SetReadDeadline(t time.Time) error {
	w.reads = append(w.reads, t)
	return nil
}

func (w *deadlineWriter) SetWriteDeadline(t time.Time) error {
	w.writes = append(w.writes, t)
	return nil
}

// chunks reads as n reads of one byte each, then io.EOF.
type chunks struct{ n int }

func (c *chunks) Read(p []byte) (int, error) {
	if c.n == 0 {
		return 0, io.EOF
	}
	c.n--
	p[0] = 'x'
	return 1, nil
}

func (c *chunks) Close() error { return nil }

// A request body read quickly costs one deadline, whatever the number of
// reads, and none is set or cleared once it has ended.
func TestClientBodyDeadlines(t *testing.T) {
	w := &deadlineWriter{}
	start := time.Now()
	b := newClientBody(w, &chunks{n: 100}, clientBodyTimeout)
	buf := make([]byte, 10)
	for range 100 {
		if _, err := b.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if _, err := b.Read(buf); err != io.EOF {
			t.Fatalf("error %v, want io.EOF", err)
		}
	}
	if len(w.reads) != 1 {
		t.Fatalf("%d read deadlines set, want 1: %v", len(w.reads), w.reads)
	}
	if d := w.reads[0].Sub(start); d < clientBodyTimeout {
		t.Errorf("read deadline %v away, want at least client_body_timeout (%v)", d, clientBodyTimeout)
	}
}

// A response copied quickly costs one write deadline, whatever the number
// of writes, and it is not cleared (net/http does that).
func TestCopyBodyDeadlines(t *testing.T) {
	w := &deadlineWriter{benchWriter: benchWriter{h: make(http.Header)}}
	res := &http.Response{StatusCode: 200, Header: http.Header{}, ContentLength: -1, Body: &chunks{n: 100}}
	start := time.Now()
	if err := (&Handler{}).copyBody(&responseWriter{ResponseWriter: w}, res); err != nil {
		t.Fatal(err)
	}
	if len(w.writes) != 1 {
		t.Fatalf("%d write deadlines set, want 1: %v", len(w.writes), w.writes)
	}
	if d := w.writes[0].Sub(start); d < sendTimeout {
		t.Errorf("write deadline %v away, want at least send_timeout (%v)", d, sendTimeout)
	}
}
