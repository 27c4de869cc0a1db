package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"testing"
)

// seqServer answers the requests on a connection with responses, in turn
// (the n-th request on any connection gets responses[n % len]), so that a
// test sees one connection carry responses of different headers.
func seqServer(t testing.TB, responses []string) *rawServer {
	return newRawServer(t, func(c net.Conn, _ <-chan struct{}) {
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			if _, err := io.WriteString(c, responses[i%len(responses)]); err != nil {
				return
			}
		}
	})
}

// TestResponseStorage: responses of different headers, one after the
// other on one connection and in one lent storage, each show their own
// fields and body and nothing of the one before; the fast path's live in
// the storage, the others (chunked, which it declines) are the
// transport's own, and the storage is left as it was lent.
func TestResponseStorage(t *testing.T) {
	type want struct {
		status  int
		header  http.Header
		body    string
		inStore bool
	}
	steps := []struct {
		response string
		want     want
	}{
		{
			"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-First: 1\r\nContent-Length: 5\r\n\r\nfirst",
			want{200, http.Header{"Set-Cookie": {"a=1", "b=2"}, "X-First": {"1"}, "Content-Length": {"5"}}, "first", true},
		},
		{
			"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nno!",
			want{404, http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"3"}}, "no!", true},
		},
		{
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Chunked: yes\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
			want{200, http.Header{"X-Chunked": {"yes"}}, "abc", false},
		},
		{
			"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\nHTTP/1.1 204 No Content\r\nX-After-Hints: 1\r\n\r\n",
			want{204, http.Header{"X-After-Hints": {"1"}}, "", true},
		},
		{
			"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			want{200, http.Header{"Content-Length": {"0"}}, "", true},
		},
	}
	responses := make([]string, len(steps))
	for i, s := range steps {
		responses[i] = s.response
	}
	s := seqServer(t, responses)
	tr := New(proxyOptions)
	defer tr.CloseIdleConnections()
	req, fwd := quietRequest(t, s)
	store := new(ResponseStorage)
	fwd.Storage = store
	var kept http.Header // the storage's map, once it has one
	for round := range 3 {
		for i, step := range steps {
			res, err := tr.RoundTripForward(context.Background(), req, fwd)
			if err != nil {
				t.Fatalf("round %d, response %d: %v", round, i, err)
			}
			body, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatalf("round %d, response %d: body: %v", round, i, err)
			}
			w := step.want
			if res.StatusCode != w.status || string(body) != w.body {
				t.Errorf("round %d, response %d: %d %q, want %d %q", round, i, res.StatusCode, body, w.status, w.body)
			}
			if !reflect.DeepEqual(res.Header, w.header) {
				t.Errorf("round %d, response %d: header %v, want %v", round, i, res.Header, w.header)
			}
			if in := res == &store.r.res; in != w.inStore {
				t.Errorf("round %d, response %d: in the storage: %v, want %v", round, i, in, w.inStore)
			}
			if w.inStore {
				if kept == nil {
					kept = res.Header
				} else if reflect.ValueOf(res.Header).UnsafePointer() != reflect.ValueOf(kept).UnsafePointer() {
					t.Errorf("round %d, response %d: a new header map, not the storage's", round, i)
				}
			}
			store.Reset()
			if len(store.r.res.Header) != 0 || store.r.res.Request != nil || store.r.body.c != nil || store.r.values != [responseValues]string{} {
				t.Fatalf("round %d, response %d: Reset left %v, %v, %q", round, i, store.r.res.Header, store.r.body.c, store.r.values)
			}
		}
	}
	if n := s.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// TestResponseStorageResetDropsLargeMap: a map grown by a header of many
// names is not kept; one of the usual size is.
func TestResponseStorageResetDropsLargeMap(t *testing.T) {
	for _, n := range []int{4, maxKeptFields, maxKeptFields + 1} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			st := new(ResponseStorage)
			h := make(http.Header)
			for i := range n {
				h["X-"+strconv.Itoa(i)] = []string{"v"}
			}
			st.r.res.Header = h
			st.Reset()
			if kept := st.r.res.Header != nil; kept != (n <= maxKeptFields) {
				t.Errorf("map kept: %v, want %v", kept, n <= maxKeptFields)
			}
			if len(st.r.res.Header) != 0 {
				t.Errorf("map not cleared: %v", st.r.res.Header)
			}
		})
	}
}

// TestFastPathAllocsWithStorage: with a lent storage, a response of the
// common shape costs the fast path one allocation, the header block's
// string: the response object and the header map are the storage's.
func TestFastPathAllocsWithStorage(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	s := quietServer(t, quietResponse)
	tr := New(proxyOptions)
	defer tr.CloseIdleConnections()
	req, fwd := quietRequest(t, s)
	fwd.Storage = new(ResponseStorage)
	buf := make([]byte, 64)
	forwardOnce(t, tr, req, fwd, buf) // dials
	fwd.Storage.Reset()
	allocs := testing.AllocsPerRun(200, func() {
		forwardOnce(t, tr, req, fwd, buf)
		fwd.Storage.Reset()
	})
	if allocs > 1 {
		t.Errorf("%v allocations per request, want at most 1", allocs)
	}
}

// BenchmarkForwardQuietStorage is BenchmarkForwardQuiet with the
// response's storage lent, as the proxy lends it.
func BenchmarkForwardQuietStorage(b *testing.B) {
	s := quietServer(b, quietResponse)
	tr := New(proxyOptions)
	defer tr.CloseIdleConnections()
	req, fwd := quietRequest(b, s)
	fwd.Storage = new(ResponseStorage)
	buf := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		forwardOnce(b, tr, req, fwd, buf)
		fwd.Storage.Reset()
	}
}
