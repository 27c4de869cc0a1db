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

// TestReconfigureKeepsThePromiseOfTheLastResponse: a response sent under
// Settings with keep-alive left the connection open; Settings without
// keep-alive that arrive while it is being sent do not close the
// connection under the client, whose next request is answered (with
// Connection: close).
func TestReconfigureKeepsThePromiseOfTheLastResponse(t *testing.T) {
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	var ts *testServer
	reload := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.Reconfigure(Settings{Handler: hello, ReadHeaderTimeout: 5 * time.Second}) // IdleTimeout 0
		io.WriteString(w, "hello")
	})
	ts = start(t, reload)
	c := dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if res, body := c.read("GET"); body != "hello" || res.Close {
		t.Fatalf("the request during the reload: %q (close %v), want hello on a kept connection", body, res.Close)
	}
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	res, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatalf("the next request on the connection the response kept open: %v", err)
	}
	if body, _ := io.ReadAll(res.Body); string(body) != "hello" || !res.Close {
		t.Fatalf("the request after the reload: %q (close %v), want hello with Connection: close", body, res.Close)
	}
}
