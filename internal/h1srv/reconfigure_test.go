package h1srv

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// TestReconfigureReachesKeepAliveConnections: a reload's Settings apply
// from the next request of a connection that stays open, including one
// parked between the two requests, and a request in flight finishes with
// the handler it began with.
func TestReconfigureReachesKeepAliveConnections(t *testing.T) {
	say := func(word string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, word) })
	}
	inFlight, release := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inFlight)
		<-release
		io.WriteString(w, "old")
	})
	ts := start(t, slow)
	busy := dial(t, ts.addr)
	busy.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-inFlight

	ts.Reconfigure(Settings{Handler: say("new"), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second})
	close(release)
	if _, body := busy.read("GET"); body != "old" {
		t.Fatalf("request in flight during Reconfigure answered %q, want old", body)
	}
	busy.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if res, body := busy.read("GET"); body != "new" || res.Close {
		t.Fatalf("next request on the same connection: %q (close %v), want new on an open connection", body, res.Close)
	}

	// keepalive_timeout 0 in the new Settings: the next response says
	// close, as nginx's does once reloaded.
	ts.Reconfigure(Settings{Handler: say("last"), ReadHeaderTimeout: 5 * time.Second})
	busy.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if res, body := busy.read("GET"); body != "last" || !res.Close {
		t.Fatalf("after keepalive_timeout 0: %q (close %v), want last with Connection: close", body, res.Close)
	}
}
