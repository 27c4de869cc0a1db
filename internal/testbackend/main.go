// Command testbackend is the application server of limpet's chaos test
// (cmd/limpet/chaos_test.go). It runs as a process of its own so that the
// test can SIGKILL it, start it again on the same port, and SIGSTOP and
// SIGCONT it, as a crashing or freezing server would behave.
//
//	testbackend -listen 127.0.0.1:PORT -name NAME -log FILE [-reset]
//
// Every request is recorded before it is answered: its X-Request-Id,
// method and path, appended to FILE as one line with a single write(2) on
// an O_APPEND descriptor. The line is then in the kernel, so it survives a
// SIGKILL that follows at once, and a restarted process appends to the
// same file: the test reads from it every request the server ever
// received, which is how it proves that no POST reached the servers twice.
//
// A WebSocket upgrade of /ws is answered 101, and every line sent on the
// connection then comes back prefixed with NAME.
//
// The answer is 200 with the header X-Backend: NAME and the body
// "NAME ID\n", so the test can check that a response belongs to its own
// request. With -reset, a request for /reset is recorded and then broken
// off mid-response: the header announces 1000 bytes, half of them are
// written, and the connection is closed with SO_LINGER 0, so the peer gets
// a TCP reset instead of the rest.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
)

// resetLength is the body length a /reset response announces; half of it
// is sent before the reset.
const resetLength = 1000

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "`address` to listen on")
	name := flag.String("name", "app", "server `name`, sent in X-Backend and the body")
	logPath := flag.String("log", "", "`file` to append every request's id to (required)")
	reset := flag.Bool("reset", false, "break off responses to /reset with a TCP reset")
	flag.Parse()
	if *logPath == "" {
		fmt.Fprintln(os.Stderr, "testbackend: -log is required")
		os.Exit(2)
	}
	f, err := os.OpenFile(*logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		log.Fatalf("testbackend %s: %v", *name, err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("testbackend %s: %v", *name, err)
	}
	s := &server{name: *name, log: f, reset: *reset}
	s.half = []byte(strings.Repeat("x", resetLength/2))
	log.Printf("testbackend %s listening on %s", *name, ln.Addr())
	if err := http.Serve(ln, s); err != nil {
		log.Fatalf("testbackend %s: %v", *name, err)
	}
}

// server records and answers requests.
type server struct {
	name  string
	reset bool
	half  []byte // the part of a /reset body sent before the reset

	// mu guards log, so that the line of one request is not written in
	// the middle of another's (O_APPEND makes each write atomic; the lock
	// keeps a short write from interleaving all the same).
	mu  sync.Mutex
	log *os.File
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/ws" && r.Header.Get("Upgrade") == "websocket" {
		s.echo(w)
		return
	}
	// The whole request first: a POST counts as received once its body
	// is in, as an application would act on it.
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		return
	}
	id := r.Header.Get("X-Request-Id")
	line := id + " " + r.Method + " " + r.URL.Path + "\n"
	s.mu.Lock()
	_, err := s.log.WriteString(line)
	s.mu.Unlock()
	if err != nil {
		log.Fatalf("testbackend %s: recording %q: %v", s.name, id, err)
	}
	w.Header().Set("X-Backend", s.name)
	if s.reset && r.URL.Path == "/reset" {
		s.breakOff(w)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, s.name+" "+id+"\n")
}

// echo answers a WebSocket upgrade on /ws with 101 and then echoes each
// line it reads back, prefixed with the server's name, until the
// connection ends: enough of a WebSocket for a proxy, which only relays
// the bytes.
func (s *server) echo(w http.ResponseWriter) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	if brw.Flush() != nil {
		return
	}
	for {
		line, err := brw.ReadString('\n')
		if err != nil {
			return
		}
		_, _ = brw.WriteString(s.name + " " + line)
		if brw.Flush() != nil {
			return
		}
	}
}

// breakOff sends the header and half the body, then resets the
// connection.
func (s *server) breakOff(w http.ResponseWriter) {
	w.Header().Set("Content-Length", fmt.Sprint(resetLength))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(s.half)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return
	}
	conn, _, err := rc.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // close sends RST, not FIN
	}
	_ = conn.Close()
}
