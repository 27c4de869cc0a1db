package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/upstream"
)

// peerState returns the "state" of the server numbered id in GET
// /9/http/upstreams/backend.
func (f *fixture) peerState(id int) string {
	f.t.Helper()
	var v struct {
		Peers []struct {
			ID    int
			State string
		}
	}
	r := f.do("GET", "/9/http/upstreams/backend", "")
	if err := json.Unmarshal(r.body, &v); err != nil {
		f.t.Fatal(err)
	}
	for _, p := range v.Peers {
		if p.ID == id {
			return p.State
		}
	}
	return "absent"
}

func TestPostServer(t *testing.T) {
	const path = "/9/http/upstreams/backend/servers"
	tests := []struct {
		name, body string
		want       string // the 201 body
		ids        []string
		backup     bool
	}{
		{"an address with nginx's defaults", `{"server":"10.0.0.9:8080"}`,
			`{"id":3,"server":"10.0.0.9:8080","weight":1,"max_conns":0,"max_fails":1,"fail_timeout":"10s","slow_start":"0s","route":"","backup":false,"down":false}`,
			[]string{upstream.IDFor("10.0.0.9:8080", "")}, false},
		{"port 80 by default", `{"server":"10.0.0.9"}`,
			`{"id":3,"server":"10.0.0.9:80","weight":1,"max_conns":0,"max_fails":1,"fail_timeout":"10s","slow_start":"0s","route":"","backup":false,"down":false}`,
			[]string{upstream.IDFor("10.0.0.9:80", "")}, false},
		{"every parameter", `{"server":"[2001:db8::9]:8443","weight":3,"max_conns":4,"max_fails":0,"fail_timeout":"1m30s","slow_start":"20","route":"r9","backup":true,"down":true,"drain":true}`,
			`{"id":3,"server":"[2001:db8::9]:8443","weight":3,"max_conns":4,"max_fails":0,"fail_timeout":"90s","slow_start":"20s","route":"r9","backup":true,"down":true,"drain":true}`,
			[]string{"r9"}, true},
		{"a name with two addresses", `{"server":"app.internal:8000","weight":2}`,
			`[{"id":3,"server":"10.0.0.7:8000","weight":2,"max_conns":0,"max_fails":1,"fail_timeout":"10s","slow_start":"0s","route":"","backup":false,"down":false},
			  {"id":4,"server":"10.0.0.8:8000","weight":2,"max_conns":0,"max_fails":1,"fail_timeout":"10s","slow_start":"0s","route":"","backup":false,"down":false}]`,
			[]string{upstream.IDFor("10.0.0.7:8000", ""), upstream.IDFor("10.0.0.8:8000", "")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, true)
			before := f.backend.Pool()
			r := f.do("POST", path, tt.body)
			if r.status != http.StatusCreated || !jsonEqual(t, r.body, tt.want) {
				t.Fatalf("POST: %d\n%s\nwant\n%s", r.status, indent(r.body), indent([]byte(tt.want)))
			}
			pool := f.backend.Pool()
			if pool == before {
				t.Fatal("the pool was not rebuilt")
			}
			for i, id := range tt.ids {
				s := pool.Lookup(id)
				if s == nil {
					t.Fatalf("pool has no server %q", id)
				}
				if s.APIID != 3+i || s.Backup != tt.backup {
					t.Errorf("server %q: APIID %d, backup %v", id, s.APIID, s.Backup)
				}
				list := pool.Primary
				if tt.backup {
					list = pool.Backup
				}
				if !contains(list, s) {
					t.Errorf("server %q is not among the pool's primary=%v servers", id, !tt.backup)
				}
				if !tt.backup && !s.AcceptsNew(f.clock.Now()) {
					t.Errorf("server %q does not take new users", id)
				}
			}
			if pool.Lookup(f.a.ID) != f.a || pool.Lookup(f.b.ID) != f.b {
				t.Error("the other servers were replaced")
			}
			// The new server appears in both views.
			var servers []confView
			_ = json.Unmarshal(f.do("GET", path, "").body, &servers)
			if len(servers) != 3+len(tt.ids) {
				t.Errorf("GET servers lists %d servers", len(servers))
			}
			if !strings.Contains(f.logText(), "api: server added") {
				t.Errorf("no log line: %q", f.logText())
			}
		})
	}

	t.Run("down and drain take effect before the first request", func(t *testing.T) {
		f := newFixture(t, true)
		f.do("POST", path, `{"server":"10.0.0.10:80","down":true}`)
		f.do("POST", path, `{"server":"10.0.0.11:80","drain":true}`)
		if got := f.peerState(3); got != "down" {
			t.Errorf("state %q, want down", got)
		}
		if got := f.peerState(4); got != "draining" {
			t.Errorf("state %q, want draining", got)
		}
	})
}

func contains(list []*upstream.Server, s *upstream.Server) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestPatchServer(t *testing.T) {
	const path = "/9/http/upstreams/backend/servers/"
	conf0 := func(weight int, down bool, drain string) string {
		return fmt.Sprintf(`{"id":0,"server":"10.0.0.1:80","weight":%d,"max_conns":0,"max_fails":1,"fail_timeout":"10s","slow_start":"0s","route":"","backup":false,"down":%v%s}`, weight, down, drain)
	}
	tests := []struct {
		name, body string
		want       string
		rebuilt    bool   // a new pool is swapped in
		state      string // server 0's state afterwards
	}{
		{"weight", `{"weight":2}`, conf0(2, false, ""), true, "up"},
		{"same weight: no rebuild", `{"weight":5}`, conf0(5, false, ""), false, "up"},
		{"down", `{"down":true}`, conf0(5, true, ""), false, "down"},
		{"drain", `{"drain":true}`, conf0(5, false, `,"drain":true`), false, "draining"},
		{"weight and drain", `{"weight":1,"drain":true}`, conf0(1, false, `,"drain":true`), true, "draining"},
		{"empty", `{}`, conf0(5, false, ""), false, "up"},
		{"the whole object as GET gave it, as nginx-plus-go-client sends it",
			`{"id":0,"server":"10.0.0.1:80","weight":7,"max_conns":0,"max_fails":1,"fail_timeout":"10s","slow_start":"0s","route":"","backup":false,"down":false}`,
			conf0(7, false, ""), true, "up"},
		{"the address without its port", `{"server":"10.0.0.1","weight":5}`, conf0(5, false, ""), false, "up"},
		{"the name as written", `{"server":"app-01.internal:80","down":false}`, conf0(5, false, ""), false, "up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, true)
			before := f.backend.Pool()
			r := f.do("PATCH", path+"0", tt.body)
			if r.status != http.StatusOK || !jsonEqual(t, r.body, tt.want) {
				t.Fatalf("PATCH: %d\n%s\nwant\n%s", r.status, indent(r.body), indent([]byte(tt.want)))
			}
			pool := f.backend.Pool()
			if rebuilt := pool != before; rebuilt != tt.rebuilt {
				t.Errorf("pool rebuilt: %v, want %v", rebuilt, tt.rebuilt)
			}
			if got := f.peerState(0); got != tt.state {
				t.Errorf("state %q, want %q", got, tt.state)
			}
			if r := f.do("GET", path+"0", ""); !jsonEqual(t, r.body, tt.want) {
				t.Errorf("GET after PATCH:\n%s", indent(r.body))
			}
			// Users of every server keep resolving to the same server:
			// IDs and server objects survive the change.
			for _, s := range []*upstream.Server{f.a, f.b, f.c} {
				if pool.Lookup(s.ID) != s || pool.WasRemoved(s.ID) {
					t.Errorf("cookie %q no longer resolves to its server", s.ID)
				}
			}
			if f.b.Weight != 1 || f.b.Down() || f.b.Draining() || f.c.Weight != 1 {
				t.Error("another server changed")
			}
		})
	}

	t.Run("undrain and up again", func(t *testing.T) {
		f := newFixture(t, true)
		f.do("PATCH", path+"0", `{"drain":true,"down":true}`)
		if got := f.peerState(0); got != "down" {
			t.Fatalf("state %q, want down", got)
		}
		f.do("PATCH", path+"0", `{"down":false}`)
		if got := f.peerState(0); got != "draining" {
			t.Fatalf("state %q, want draining", got)
		}
		r := f.do("PATCH", path+"0", `{"drain":false}`)
		if got := f.peerState(0); got != "up" || !jsonEqual(t, r.body, conf0(5, false, "")) {
			t.Fatalf("state %q after drain:false; %s", got, r.body)
		}
		logs := f.logText()
		for _, want := range []string{"drain=true", "down=true", "down=false", "drain=false"} {
			if !strings.Contains(logs, want) {
				t.Errorf("log lacks %q: %s", want, logs)
			}
		}
	})

	t.Run("weights visible in the status view", func(t *testing.T) {
		f := newFixture(t, true)
		f.do("PATCH", path+"2", `{"weight":4}`)
		var v struct{ Peers []struct{ Weight int } }
		_ = json.Unmarshal(f.do("GET", "/9/http/upstreams/backend", "").body, &v)
		if len(v.Peers) != 3 || v.Peers[0].Weight != 5 || v.Peers[1].Weight != 1 || v.Peers[2].Weight != 4 {
			t.Errorf("weights %+v", v.Peers)
		}
	})
}

func TestDeleteServer(t *testing.T) {
	const path = "/9/http/upstreams/backend/servers/"
	f := newFixture(t, true)
	r := f.do("DELETE", path+"1", "")
	want := `[
	  {"id":0,"server":"10.0.0.1:80","weight":5,"max_conns":0,"max_fails":1,"fail_timeout":"10s","slow_start":"0s","route":"","backup":false,"down":false},
	  {"id":2,"server":"[2001:db8::3]:80","weight":1,"max_conns":0,"max_fails":1,"fail_timeout":"10s","slow_start":"0s","route":"","backup":true,"down":false}
	]`
	if r.status != http.StatusOK || !jsonEqual(t, r.body, want) {
		t.Fatalf("DELETE: %d\n%s", r.status, indent(r.body))
	}
	pool := f.backend.Pool()
	if pool.Lookup("b") != nil || !pool.WasRemoved("b") {
		t.Error(`the removed server's cookie "b" does not read as removed`)
	}
	if pool.Lookup(f.a.ID) != f.a || pool.WasRemoved(f.a.ID) {
		t.Error("an untouched server's cookie no longer resolves")
	}
	checkError(t, f.do("GET", path+"1", ""), 404, "UpstreamServerNotFound", `server with ID "1" does not exist`)
	checkError(t, f.do("DELETE", path+"1", ""), 404, "UpstreamServerNotFound", `server with ID "1" does not exist`)
	if got := f.peerState(1); got != "absent" {
		t.Errorf("the status view still shows server 1: %q", got)
	}

	// Adding it back: a new API number (never reused), and its cookie
	// resolves again.
	r = f.do("POST", "/9/http/upstreams/backend/servers", `{"server":"10.0.0.2:8080","route":"b"}`)
	if r.status != http.StatusCreated || !strings.Contains(string(r.body), `"id":3`) {
		t.Fatalf("POST again: %d %s", r.status, r.body)
	}
	if pool := f.backend.Pool(); pool.Lookup("b") == nil || pool.WasRemoved("b") {
		t.Error("the re-added server's cookie does not resolve")
	}

	// Every server can go; the upstream then has none.
	for _, id := range []string{"0", "2", "3"} {
		if r := f.do("DELETE", path+id, ""); r.status != 200 {
			t.Fatalf("DELETE %s: %d %s", id, r.status, r.body)
		}
	}
	if r := f.do("GET", "/9/http/upstreams/backend/servers", ""); string(r.body) != "[]" {
		t.Errorf("servers of an empty upstream: %s", r.body)
	}
	if r := f.do("GET", "/9/http/upstreams/backend", ""); !strings.Contains(string(r.body), `"peers":[]`) {
		t.Errorf("status of an empty upstream: %s", r.body)
	}
}

// Pinned requests per second come from two reads at least a second apart.
func TestPinnedRate(t *testing.T) {
	f := newFixture(t, false)
	rate := func() (float64, string) {
		var v struct {
			Peers []struct {
				Limpet struct {
					DrainingPinned struct {
						Requests          int64
						RequestsPerSecond float64 `json:"requests_per_second"`
						LastSeen          string  `json:"last_seen"`
					} `json:"draining_pinned"`
				}
			}
		}
		_ = json.Unmarshal(f.do("GET", "/9/http/upstreams/backend", "").body, &v)
		p := v.Peers[0].Limpet.DrainingPinned
		return p.RequestsPerSecond, p.LastSeen
	}
	pin := func(n int) {
		for range n {
			f.a.RecordPinned(f.clock.Now())
		}
	}
	steps := []struct {
		advance  time.Duration
		pinned   int
		want     float64
		lastSeen string
	}{
		{0, 0, 0, "2026-11-26T19:40:01.512Z"}, // first read: no rate yet
		{2 * time.Second, 10, 5, "2026-11-26T19:40:08.512Z"},
		{500 * time.Millisecond, 30, 5, "2026-11-26T19:40:09.012Z"}, // too soon: the last rate
		{1500 * time.Millisecond, 10, 20, "2026-11-26T19:40:10.512Z"},
		{4 * time.Second, 0, 0, "2026-11-26T19:40:10.512Z"},
		{3 * time.Second, 1, 0.333, "2026-11-26T19:40:17.512Z"},
	}
	for i, st := range steps {
		f.clock.advance(st.advance)
		pin(st.pinned)
		if got, seen := rate(); got != st.want || seen != st.lastSeen {
			t.Errorf("step %d: rate %v, last_seen %q; want %v, %q", i, got, seen, st.want, st.lastSeen)
		}
	}
}

// Reads during writes see consistent servers, under -race, while the
// request path uses the servers.
func TestConcurrentReadsAndWrites(t *testing.T) {
	f := newFixture(t, true)
	const path = "/9/http/upstreams/backend/servers"
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failures sync.Map
	fail := func(what string) { failures.Store(what, true) }

	// The request path: pick from the current pool, count, pin.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, s := range f.backend.Pool().All() {
				if s.AcceptsNew(time.Now()) {
					s.Begin()
					s.RecordResponse(200)
					s.RecordPinned(time.Now())
					s.End()
				}
			}
		}
	}()
	for _, p := range []string{"/9/http/upstreams", "/9/http/upstreams/backend", path, path + "/0"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := f.do("GET", p, "")
				if r.status != 200 || !json.Valid(r.body) {
					fail(fmt.Sprintf("GET %s: %d %s", p, r.status, r.body))
				}
			}
		}()
	}
	for i := range 40 {
		for _, w := range []struct{ method, path, body string }{
			{"PATCH", path + "/0", fmt.Sprintf(`{"weight":%d}`, i%7+1)},
			{"PATCH", path + "/1", `{"drain":true}`},
			{"PATCH", path + "/1", `{"drain":false,"down":true}`},
			{"PATCH", path + "/1", `{"down":false}`},
			{"POST", path, `{"server":"10.0.9.9:80"}`},
		} {
			if r := f.do(w.method, w.path, w.body); r.status >= 300 {
				t.Fatalf("%s %s: %d %s", w.method, w.path, r.status, r.body)
			}
		}
		// Remove what was just added.
		var servers []confView
		_ = json.Unmarshal(f.do("GET", path, "").body, &servers)
		for _, s := range servers {
			if s.Server == "10.0.9.9:80" {
				if r := f.do("DELETE", fmt.Sprintf("%s/%d", path, s.ID), ""); r.status != 200 {
					t.Fatalf("DELETE: %d %s", r.status, r.body)
				}
			}
		}
	}
	close(stop)
	wg.Wait()
	failures.Range(func(k, _ any) bool {
		t.Error(k)
		return true
	})
	var last confView
	_ = json.Unmarshal(f.do("GET", path+"/0", "").body, &last)
	if last.Weight != 39%7+1 {
		t.Errorf("weight %d after the last PATCH, want %d", last.Weight, 39%7+1)
	}
}
