package h1srv

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/deadline"
)

// clockReads counts the server's clock readings (clock, monoClock), for
// TestClockReadingsPerRequest.
var clockReads atomic.Int64

func TestMain(m *testing.M) {
	// Set before any server runs: clock is not written again.
	clock = func() time.Time {
		clockReads.Add(1)
		return time.Now()
	}
	monoClock = func() time.Time {
		clockReads.Add(1)
		return deadline.Now()
	}
	os.Exit(m.Run())
}

// TestClockReadingsPerRequest pins how often the server reads the clock
// for a keep-alive request (see clock.go): once as it begins, once as
// its response's header block ends and once as the connection turns
// idle; once more when the request has a body, whose end may have come
// after a blocking read, when the handler writes after a flush, or when
// it set a write deadline of its own.
func TestClockReadingsPerRequest(t *testing.T) {
	tests := []struct {
		name    string
		request string
		handler http.HandlerFunc
		perReq  int64
	}{
		{"GET", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", hello, 3},
		// The handler's deadline is set with a wall clock reading of
		// its own: its time may carry no monotonic reading.
		{"GET, the handler sets a write deadline", "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
			func(w http.ResponseWriter, r *http.Request) {
				_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute))
				hello(w, r)
			}, 4},
		{"GET, Content-Length, WriteHeader", "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
			func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "5")
				w.WriteHeader(http.StatusOK)
				_, _ = io.WriteString(w, "hel")
				_, _ = io.WriteString(w, "lo")
			}, 3},
		// A write after the handler has had the hand back reads the
		// clock again: the handler may have waited.
		{"GET, streamed", "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
			func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "hel")
				_ = http.NewResponseController(w).Flush()
				_, _ = io.WriteString(w, "lo")
			}, 4},
		{"POST", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody",
			func(w http.ResponseWriter, r *http.Request) {
				if b, err := io.ReadAll(r.Body); err != nil || string(b) != "body" {
					http.Error(w, "bad body", http.StatusBadRequest)
					return
				}
				hello(w, r)
			}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := start(t, tt.handler, func(s *Server) {
				s.WriteTimeout = time.Minute
				s.MaxConnAge = time.Hour
			})
			c := dial(t, ts.addr)
			method, _, _ := strings.Cut(tt.request, " ")
			do := func() {
				c.send(tt.request)
				if res, body := c.read(method); res.StatusCode != 200 || body != "hello" {
					t.Fatalf("%d %q", res.StatusCode, body)
				}
			}
			do()
			const n = 50
			began, before := time.Now(), clockReads.Load()
			for range n {
				do()
			}
			got := clockReads.Load() - before
			// The watch's timer reads the clock as it fires, at most
			// once per watchDelay, whatever the requests.
			timer := int64(time.Since(began)/watchDelay) + 1
			if want := tt.perReq*n + timer; got > want {
				t.Errorf("%d clock readings for %d requests, want at most %d (%d a request)", got, n, want, tt.perReq)
			}
		})
	}
}

// TestRequestStart: the response writer tells when each request's first
// byte was read, for the handler's $request_time, keep-alive requests
// included: after the client sent it, before the handler ran.
func TestRequestStart(t *testing.T) {
	type span struct{ start, handler time.Time }
	got := make(chan span, 1)
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs, ok := w.(interface {
			RequestStart() time.Time
			RequestHeaderWhole() bool
		})
		if !ok {
			t.Error("the response writer has no RequestStart or RequestHeaderWhole")
		} else {
			if !rs.RequestHeaderWhole() {
				t.Error("a request sent in one write: its header was not whole as its start was read")
			}
			got <- span{rs.RequestStart(), time.Now()}
		}
		hello(w, r)
	}))
	c := dial(t, ts.addr)
	var last time.Time
	for i := range 3 {
		sent := time.Now()
		c.get("/")
		s := <-got
		if s.start.Before(sent) || s.handler.Before(s.start) || !s.start.After(last) {
			t.Fatalf("request %d: sent at %v, started at %v, handled at %v (the one before started at %v)", i, sent, s.start, s.handler, last)
		}
		last = s.start
	}
}

// TestWriteDeadlineReachesAWriteUnderWay: a write deadline the handler
// sets is kept for the next write only while none is under way; one set
// during a write, from another goroutine, bounds that write at once.
func TestWriteDeadlineReachesAWriteUnderWay(t *testing.T) {
	errc := make(chan error, 1)
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := w.(*response).c
		go func() {
			for !c.writing.Load() {
				runtime.Gosched() // until the handler's write is under way
			}
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now())
		}()
		chunk := make([]byte, 64<<10)
		for range 1 << 12 { // 256 MiB: more than the socket buffers take
			if _, err := w.Write(chunk); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}))
	c := dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
	if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a write to a client that does not read: %v", err)
	}
}

// TestWriteDeadlineReachesASendfileUnderWay: the same for a body the
// kernel sends from a file (ReadFrom, sendfile(2)), which does not go
// through connWriter.
func TestWriteDeadlineReachesASendfileUnderWay(t *testing.T) {
	name := filepath.Join(t.TempDir(), "big")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	const size = 256 << 20                   // more than the socket buffers take
	if err := f.Truncate(size); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	errc := make(chan error, 1)
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(name)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		c := w.(*response).c
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.WriteHeader(http.StatusOK)
		// The header first, through connWriter: the goroutine below
		// must see the sendfile's write under way, not the header's.
		if err := http.NewResponseController(w).Flush(); err != nil {
			errc <- err
			return
		}
		go func() {
			for !c.writing.Load() {
				runtime.Gosched() // until the sendfile is under way
			}
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now())
		}()
		_, err = w.(io.ReaderFrom).ReadFrom(f)
		errc <- err
	}))
	c := dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("a sendfile to a client that does not read: %v", err)
		}
	case <-time.After(time.Minute): // a watchdog, not a bound: it ends in milliseconds
		t.Fatal("the sendfile still blocks: the handler's write deadline never reached it")
	}
}

// TestHeaderBlockEnd: the header block's end (the empty line) waits for the handler's end, its flush or pendingMax of
// body; the rest of the block is written as WriteHeader is called, so
// that later changes to the header map have no effect, as net/http
// promises.
func TestHeaderBlockEnd(t *testing.T) {
	big := strings.Repeat("b", 3*pendingMax)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		body    string
		date    string // the handler's Date, if any
	}{
		{"a change after WriteHeader", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			w.WriteHeader(http.StatusOK)
			w.Header().Set("X-Late", "1")
			w.Header().Set("Date", "Thu, 01 Jan 1970 00:00:00 GMT")
			_, _ = io.WriteString(w, "hello")
		}, "hello", ""},
		{"the handler's Date", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Date", "Thu, 01 Jan 1970 00:00:00 GMT")
			w.Header().Set("Content-Length", "5")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "hello")
		}, "hello", "Thu, 01 Jan 1970 00:00:00 GMT"},
		{"a body past pendingMax after WriteHeader", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.WriteHeader(http.StatusOK)
			w.Header().Set("X-Late", "1")
			for i := 0; i < len(big); i += 100 {
				_, _ = io.WriteString(w, big[i:min(i+100, len(big))])
			}
		}, big, ""},
		{"a chunked body past pendingMax", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, big[:pendingMax])
			_, _ = io.WriteString(w, big[pendingMax:])
			w.Header().Set("X-Late", "1")
		}, big, ""},
		{"a flush after WriteHeader", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "hel")
			_ = http.NewResponseController(w).Flush()
			w.Header().Set("X-Late", "1")
			_, _ = io.WriteString(w, "lo")
		}, "hello", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := start(t, tt.handler)
			c := dial(t, ts.addr)
			for range 2 { // and the connection is kept
				c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				res, body := c.read("GET")
				if res.StatusCode != 200 || body != tt.body || res.Close {
					t.Fatalf("%d, close=%v, %d bytes of body", res.StatusCode, res.Close, len(body))
				}
				if v := res.Header["X-Late"]; v != nil {
					t.Errorf("X-Late: %q, set after the header was written", v)
				}
				dates := res.Header["Date"]
				if len(dates) != 1 {
					t.Fatalf("Date: %q, want one", dates)
				}
				if tt.date != "" && dates[0] != tt.date {
					t.Errorf("Date: %q, want the handler's %q", dates[0], tt.date)
				}
				if tt.date == "" {
					if d, err := http.ParseTime(dates[0]); err != nil || time.Since(d) > time.Minute || time.Until(d) > time.Minute {
						t.Errorf("Date: %q (%v), not now", dates[0], err)
					}
				}
			}
		})
	}
}

// TestWriteTimeoutOfTheResponse: a handler learns the timeout the server
// bounds each write by, in effect until it sets a write deadline of its
// own.
func TestWriteTimeoutOfTheResponse(t *testing.T) {
	type reading struct {
		timeout  time.Duration
		inEffect bool
	}
	got := make(chan [2]reading, 1)
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rs [2]reading
		rs[0].timeout, rs[0].inEffect = w.(*response).WriteTimeout()
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute))
		rs[1].timeout, rs[1].inEffect = w.(*response).WriteTimeout()
		got <- rs
		hello(w, r)
	}), func(s *Server) { s.Settings.WriteTimeout = 42 * time.Second })
	c := dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	rs := <-got
	if want := (reading{42 * time.Second, true}); rs[0] != want {
		t.Errorf("before the handler's deadline: %+v, want %+v", rs[0], want)
	}
	if want := (reading{42 * time.Second, false}); rs[1] != want {
		t.Errorf("after the handler's deadline: %+v, want %+v", rs[1], want)
	}
}
