//go:build linux

package h1

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// openSockets returns the sockets the process has descriptors for, as
// /proc/self/fd shows them ("socket:[inode]").
func openSockets(t *testing.T) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	open := make(map[string]bool, len(entries))
	for _, e := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(target, "socket:") {
			open[target] = true
		}
	}
	return open
}

// waitFor polls cond until it holds, failing t after a few seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s: not within 5s", what)
		}
	}
}

// TestServerClosesIdleConnections: connections the server closes while
// they are idle in the pool, or as it sends its last response, are closed
// on limpet's side too, at once, not left in CLOSE_WAIT for the idle
// timeout (an hour here); the next request finds a new connection.
func TestServerClosesIdleConnections(t *testing.T) {
	const n = 4
	tests := []struct {
		name string
		// closeAfter makes the server close each connection after its
		// response, without saying so; else it closes them all once
		// they are idle, or stops altogether when stop is set too.
		closeAfter, stop bool
	}{
		{name: "server closes idle connections"},
		{name: "server stops", stop: true},
		{name: "server closes after each response", closeAfter: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// n requests at once, held until all have arrived, make
			// n connections.
			var arrived sync.WaitGroup
			arrived.Add(n)
			s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/together" {
					arrived.Done()
					arrived.Wait()
				}
				if tt.closeAfter {
					w.Header().Set("Content-Length", "2")
					_, _ = io.WriteString(w, "ok")
					w.(http.Flusher).Flush()
					c, _, _ := http.NewResponseController(w).Hijack()
					_ = c.Close()
					return
				}
				_, _ = io.WriteString(w, "ok")
			})
			tr := New(Options{IdleTimeout: time.Hour})
			p := tr.pool(s.Listener.Addr().String())
			before := openSockets(t) // the server's listener
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					if _, _, err := fetch(tr, newRequest(t, context.Background(), "GET", s.URL+"/together", nil)); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if !tt.closeAfter {
				if got := p.len(); got != n {
					t.Fatalf("%d idle connections, want %d", got, n)
				}
				if tt.stop {
					s.Close()
				} else {
					s.CloseClientConnections()
				}
			}
			waitFor(t, "the pool empties", func() bool { return p.len() == 0 })
			// Both sides of every connection: the server's are
			// closed by the server, the client's by the watcher.
			waitFor(t, "the connections' descriptors close", func() bool {
				for s := range openSockets(t) {
					if !before[s] {
						return false
					}
				}
				return true
			})
			if tt.stop {
				return
			}
			if _, body, err := fetch(tr, newRequest(t, context.Background(), "GET", s.URL+"/next", nil)); err != nil || body != "ok" {
				t.Fatalf("the next request: body %q, %v; want ok", body, err)
			}
			if got := s.conns.Load(); got != n+1 {
				t.Errorf("%d connections, want %d: the next request on a new one", got, n+1)
			}
		})
	}
}
