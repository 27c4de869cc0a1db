package h1srv

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/limpet-lb/limpet/internal/vars"
)

// TestReuseRequests sends requests of different shapes on one keep-alive
// connection and checks that nothing of one shows in the next: each
// handler sees its own fields, target and a live context, and a context
// handed out (Done) or an AfterFunc left registered ends with its own
// request. It also checks which requests' storage the next one reuses.
func TestReuseRequests(t *testing.T) {
	type seen struct {
		req    *http.Request
		fields string
		target string
	}
	var (
		mu       sync.Mutex
		got      []seen
		lastDone <-chan struct{}
		afterRan = make(chan struct{}, 1)
	)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if err := ctx.Err(); err != nil {
			t.Errorf("%s: context done at the start: %v", r.URL, err)
		}
		if ctx.Value(http.LocalAddrContextKey) == nil {
			t.Errorf("%s: the connection's context values are gone", r.URL)
		}
		mu.Lock()
		if lastDone != nil {
			select {
			case <-lastDone:
			default:
				t.Errorf("%s: the last request's Done channel is still open", r.URL)
			}
			lastDone = nil
		}
		var names []string
		for k, v := range r.Header {
			names = append(names, k+"="+strings.Join(v, ","))
		}
		slices.Sort(names)
		got = append(got, seen{req: r, fields: strings.Join(names, " "), target: r.URL.String()})
		switch r.URL.Path {
		case "/done":
			lastDone = ctx.Done()
		case "/afterfunc":
			ctx.(interface{ AfterFunc(func()) func() bool }).AfterFunc(func() { afterRan <- struct{}{} })
		case "/stopped":
			stop := ctx.(interface{ AfterFunc(func()) func() bool }).AfterFunc(func() { t.Error("a stopped AfterFunc ran") })
			if !stop() {
				t.Error("stop = false")
			}
		case "/body":
			buf := make([]byte, 8)
			n, _ := r.Body.Read(buf)
			w.Header().Set("X-Body", string(buf[:n]))
		}
		mu.Unlock()
		hello(w, r)
	})

	type shape struct {
		name, request  string
		fields, target string
		reused         bool // the next request gets this one's storage
	}
	var many, manySeen []string // more fields than a kept map may have
	for i := range maxKeptFields + 6 {
		many = append(many, fmt.Sprintf("X-%02d: %d\r\n", i, i))
		manySeen = append(manySeen, fmt.Sprintf("X-%02d=%d", i, i))
	}
	shapes := []shape{
		{"two fields", "GET /a?x=1 HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\n\r\n", "Cookie=a=1", "/a?x=1", true},
		{"one field", "GET /b HTTP/1.1\r\nHost: x\r\n\r\n", "", "/b", true},
		{"six fields", "GET /c HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\n\r\n", "A=1 B=2 C=3 D=4 E=5 F=6", "/c", true},
		{"repeated name", "GET /d HTTP/1.1\r\nHost: x\r\nA: 1\r\nA: 2\r\n\r\n", "A=1,2", "/d", true},
		{"escaped target (http.ReadRequest)", "GET /e%20f HTTP/1.1\r\nHost: x\r\nG: 7\r\n\r\n", "G=7", "/e%20f", true},
		{"Done asked for", "GET /done HTTP/1.1\r\nHost: x\r\nH: 8\r\n\r\n", "H=8", "/done", false},
		{"after Done", "GET /f HTTP/1.1\r\nHost: x\r\n\r\n", "", "/f", true},
		{"AfterFunc left registered", "GET /afterfunc HTTP/1.1\r\nHost: x\r\n\r\n", "", "/afterfunc", false},
		{"AfterFunc stopped", "GET /stopped HTTP/1.1\r\nHost: x\r\nI: 9\r\n\r\n", "I=9", "/stopped", true},
		{"many fields", "GET /many HTTP/1.1\r\nHost: x\r\n" + strings.Join(many, "") + "\r\n", strings.Join(manySeen, " "), "/many", true},
		{"after many fields", "GET /h HTTP/1.1\r\nHost: x\r\nK: 11\r\n\r\n", "K=11", "/h", true},
		{"with a body", "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", "Content-Length=3", "/body", false},
		{"last", "GET /g HTTP/1.1\r\nHost: x\r\nJ: 10\r\n\r\n", "J=10", "/g", true},
	}
	for _, reuse := range []bool{true, false} {
		t.Run(fmt.Sprintf("ReuseRequests=%v", reuse), func(t *testing.T) {
			mu.Lock()
			got, lastDone = nil, nil
			mu.Unlock()
			ts := start(t, h, func(s *Server) { s.ReuseRequests = reuse })
			c := dial(t, ts.addr)
			for _, s := range shapes {
				c.send(s.request)
				if res, body := c.read("GET"); res.StatusCode != 200 || body != "hello" {
					t.Fatalf("%s: %d %q", s.name, res.StatusCode, body)
				}
				if s.target == "/afterfunc" {
					<-afterRan // run when the request ended
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for i, s := range shapes {
				if got[i].fields != s.fields || got[i].target != s.target {
					t.Errorf("%s: handler saw fields %q, target %q; want %q, %q", s.name, got[i].fields, got[i].target, s.fields, s.target)
				}
				if i+1 < len(shapes) {
					same := got[i].req == got[i+1].req
					if want := reuse && s.reused; same != want {
						t.Errorf("%s: the next request reused its storage: %v, want %v", s.name, same, want)
					}
				}
			}
		})
	}
}

// TestReusedRequestsKnowTheirConnection checks that a request's context,
// reused within a connection or taken from the pool by another, carries
// its own connection's values ($connection and $connection_requests come
// from them): several connections in turn, each closed before the next,
// so that their requests' storage goes to the pool and comes back.
func TestReusedRequestsKnowTheirConnection(t *testing.T) {
	type seen struct {
		serial   uint64
		requests int
	}
	var (
		mu  sync.Mutex
		got []seen
	)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vc, ok := r.Context().Value(vars.ConnContextKey).(vars.Conn)
		if !ok {
			t.Errorf("%s: no connection in the context", r.URL)
		} else {
			mu.Lock()
			got = append(got, seen{vc.Serial(), vc.Requests()})
			mu.Unlock()
		}
		hello(w, r)
	})
	ts := start(t, h, func(s *Server) { s.ReuseRequests = true })
	const conns, requests = 4, 3
	for range conns {
		c := dial(t, ts.addr)
		for range requests {
			c.get("/")
		}
		c.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		c.read("GET")
		if !c.closed() {
			t.Fatal("the connection stayed open after Connection: close")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != conns*(requests+1) {
		t.Fatalf("%d requests seen, want %d", len(got), conns*(requests+1))
	}
	serials := map[uint64]bool{}
	for i, s := range got {
		first := got[i-i%(requests+1)]
		if s.serial != first.serial || s.requests != i%(requests+1)+1 {
			t.Errorf("request %d: connection %d, its request %d; want connection %d, request %d", i, s.serial, s.requests, first.serial, i%(requests+1)+1)
		}
		serials[s.serial] = true
	}
	if len(serials) != conns {
		t.Errorf("%d connections seen, want %d", len(serials), conns)
	}
}
