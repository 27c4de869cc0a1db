package h1

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// deadlineServer answers "/empty" with a 204 (no body, so the response
// headers' read deadline is the last one set), "/slow" after a pause,
// "/stall-body" with its headers at once and its body after a long pause,
// "/stall-mid" with its headers and the body's first byte at once and the
// second after a long pause, and anything else at once.
func deadlineServer(t *testing.T) *countedServer {
	return newServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch r.URL.Path {
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
			return
		case "/slow":
			time.Sleep(30 * time.Millisecond)
		case "/stall-body":
			w.Header().Set("Content-Length", "2")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			d, _ := time.ParseDuration(r.URL.Query().Get("for"))
			time.Sleep(d)
		case "/stall-mid":
			w.Header().Set("Content-Length", "2")
			_, _ = io.WriteString(w, "o")
			w.(http.Flusher).Flush()
			d, _ := time.ParseDuration(r.URL.Query().Get("for"))
			time.Sleep(d)
			_, _ = io.WriteString(w, "k")
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
}

// TestLeftoverDeadlines: a connection's deadlines are not cleared when a
// request ends; every I/O moves the deadline first. So the deadline a
// request leaves behind, passed by the time the connection is taken again,
// neither cuts the next request short nor makes the idle probe take a live
// connection for a dead one (the probe fails on a passed deadline).
func TestLeftoverDeadlines(t *testing.T) {
	const short = 100 * time.Millisecond
	tests := []struct {
		name    string
		opts    Options
		noProbe bool   // reach the request's own I/O without the probe
		first   string // path of the first request, which leaves a deadline
		second  string // path of the second
	}{
		{name: "probe after the body's deadline", opts: Options{BodyReadTimeout: short}, first: "/", second: "/"},
		{name: "probe after the body's deadline, header timeout", opts: Options{ResponseHeaderTimeout: time.Second, BodyReadTimeout: short}, first: "/", second: "/"},
		{name: "probe after the header deadline", opts: Options{ResponseHeaderTimeout: short}, first: "/empty", second: "/"},
		{name: "headers after the body's deadline", opts: Options{BodyReadTimeout: short}, noProbe: true, first: "/", second: "/slow"},
		{name: "headers after the header deadline", opts: Options{ResponseHeaderTimeout: short}, noProbe: true, first: "/empty", second: "/slow"},
		{name: "write after the write deadline", opts: Options{WriteTimeout: short}, noProbe: true, first: "/", second: "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := deadlineServer(t)
			tr := New(tt.opts)
			tr.noProbe = tt.noProbe
			defer tr.CloseIdleConnections()
			if _, _, err := fetch(tr, newRequest(t, context.Background(), "GET", s.URL+tt.first, nil)); err != nil {
				t.Fatal(err)
			}
			// Past every deadline the first request set, and past
			// probeAfter, so the probe runs.
			time.Sleep(probeAfter + 2*short)
			_, body, err := fetch(tr, newRequest(t, context.Background(), "GET", s.URL+tt.second, nil))
			if err != nil || body != "ok" {
				t.Fatalf("second request: body %q, error %v; want \"ok\"", body, err)
			}
			if n := s.conns.Load(); n != 1 {
				t.Errorf("%d connections, want the first one reused", n)
			}
		})
	}
}

// TestBodyDeadlines: the wait for the response headers' deadline does not
// reach into the body, whose reads BodyReadTimeout alone bounds, shorter
// or longer than ResponseHeaderTimeout. A read that the buffer serves
// moves no deadline, and the next read, of the connection, does.
func TestBodyDeadlines(t *testing.T) {
	const short = 100 * time.Millisecond
	tests := []struct {
		name    string
		opts    Options
		path    string        // /stall-body: none of the body with the headers; /stall-mid: some
		stall   time.Duration // between the headers and the body
		wantErr bool
	}{
		{"no body timeout", Options{ResponseHeaderTimeout: short}, "/stall-body", 3 * short, false},
		{"longer body timeout", Options{ResponseHeaderTimeout: short, BodyReadTimeout: 10 * short}, "/stall-body", 3 * short, false},
		{"shorter body timeout", Options{ResponseHeaderTimeout: time.Minute, BodyReadTimeout: short}, "/stall-body", 10 * short, true},
		{"no body timeout, some body buffered", Options{ResponseHeaderTimeout: short}, "/stall-mid", 3 * short, false},
		{"longer body timeout, some body buffered", Options{ResponseHeaderTimeout: short, BodyReadTimeout: 10 * short}, "/stall-mid", 3 * short, false},
		{"shorter body timeout, some body buffered", Options{ResponseHeaderTimeout: time.Minute, BodyReadTimeout: short}, "/stall-mid", 10 * short, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := deadlineServer(t)
			tr := New(tt.opts)
			defer tr.CloseIdleConnections()
			start := time.Now()
			_, body, err := fetch(tr, newRequest(t, context.Background(), "GET", s.URL+tt.path+"?for="+tt.stall.String(), nil))
			elapsed := time.Since(start)
			if !tt.wantErr {
				if err != nil || body != "ok" {
					t.Errorf("body %q, error %v; want \"ok\"", body, err)
				}
				return
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("error %v, want a timeout", err)
			}
			if elapsed < short || elapsed >= tt.stall {
				t.Errorf("timed out after %v, want about %v", elapsed, short)
			}
		})
	}
}
