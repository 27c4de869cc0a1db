package api

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// upstreamView is NGINX Plus's "HTTP Upstream" object.
type upstreamView struct {
	Peers []peerView `json:"peers"`
	// Keepalive is the number of idle keepalive connections; limpet's
	// transport does not count them per upstream: always 0.
	Keepalive int `json:"keepalive"`
	// Zombies are removed servers still serving requests; limpet does not
	// track removed servers: always 0.
	Zombies int `json:"zombies"`
	// Zone is the upstream's name: limpet needs no shared memory zone.
	Zone string `json:"zone"`
	// Queue is present when the upstream has a `queue`, as in NGINX Plus.
	Queue  *queueView    `json:"queue,omitempty"`
	Limpet upstreamExtra `json:"limpet"`
}

// queueView is NGINX Plus's upstream "queue" object.
type queueView struct {
	// Size is the number of requests in the queue now.
	Size int64 `json:"size"`
	// MaxSize is the most requests the queue holds (`queue N`).
	MaxSize int `json:"max_size"`
	// Overflows counts requests refused because the queue was full.
	Overflows int64 `json:"overflows"`
}

// upstreamExtra is limpet's data about an upstream.
type upstreamExtra struct {
	// Sticky counts requests by persistence decision ("hit",
	// "new/no_cookie", "reassigned/server_down", ...), every label present.
	Sticky map[string]int64 `json:"sticky"`
}

// peerView is NGINX Plus's "HTTP Upstream Server" status object.
type peerView struct {
	ID     int    `json:"id"`
	Server string `json:"server"`
	Name   string `json:"name"`
	Backup bool   `json:"backup"`
	Weight int    `json:"weight"`
	State  string `json:"state"`
	Active int64  `json:"active"`
	// MaxConns is the server's max_conns, left out when it has none, as
	// NGINX Plus does.
	MaxConns int `json:"max_conns,omitempty"`
	// Requests is the number of attempts sent to the server.
	Requests  int64         `json:"requests"`
	Responses responsesView `json:"responses"`
	// Sent and Received are bytes; limpet does not count them per server
	// yet: always 0.
	Sent         int64            `json:"sent"`
	Received     int64            `json:"received"`
	Fails        int64            `json:"fails"`
	Unavail      int64            `json:"unavail"`
	HealthChecks healthChecksView `json:"health_checks"`
	// Downtime is in milliseconds.
	Downtime  int64     `json:"downtime"`
	Downstart string    `json:"downstart,omitempty"`
	Selected  string    `json:"selected,omitempty"`
	Limpet    peerExtra `json:"limpet"`
}

// responsesView counts responses by status class. NGINX Plus adds
// "codes", a count per status; limpet counts classes only and leaves it
// out rather than print an empty object that would read as "none".
type responsesView struct {
	R1xx  int64 `json:"1xx"`
	R2xx  int64 `json:"2xx"`
	R3xx  int64 `json:"3xx"`
	R4xx  int64 `json:"4xx"`
	R5xx  int64 `json:"5xx"`
	Total int64 `json:"total"`
}

type healthChecksView struct {
	Checks    int64 `json:"checks"`
	Fails     int64 `json:"fails"`
	Unhealthy int64 `json:"unhealthy"`
	// LastPassed is left out before the first check.
	LastPassed *bool `json:"last_passed,omitempty"`
}

// peerExtra is limpet's data about a server.
type peerExtra struct {
	// ID is the server's stable identity: the value of its sticky
	// cookie.
	ID string `json:"id"`
	// Drain tells whether the server is draining, which "state" hides
	// when the server is also down, unhealthy or unavailable.
	Drain          bool       `json:"drain"`
	DrainingPinned pinnedView `json:"draining_pinned"`
}

// pinnedView describes the requests of users pinned to a server (sticky
// hits), so an operator draining it sees whether its users are still
// around.
type pinnedView struct {
	Requests int64 `json:"requests"`
	// RequestsPerSecond is measured between two reads of the API at
	// least a second apart (see rates).
	RequestsPerSecond float64 `json:"requests_per_second"`
	LastSeen          string  `json:"last_seen,omitempty"`
}

// confView is NGINX Plus's "HTTP Upstream Server" configuration object,
// as GET, POST, PATCH and DELETE of /servers answer it.
type confView struct {
	ID     int    `json:"id"`
	Server string `json:"server"`
	Weight int    `json:"weight"`
	// MaxConns is max_conns, 0 for no bound.
	MaxConns    int    `json:"max_conns"`
	MaxFails    int    `json:"max_fails"`
	FailTimeout string `json:"fail_timeout"`
	SlowStart   string `json:"slow_start"`
	Route       string `json:"route"`
	Backup      bool   `json:"backup"`
	Down        bool   `json:"down"`
	// Drain is present, true, while the server drains.
	Drain bool `json:"drain,omitempty"`
}

// conf returns the configuration view of s. It reads Weight and Backup,
// so it runs under the upstream's lock (View or Update).
func conf(s *upstream.Server) confView {
	return confView{
		ID:          s.APIID,
		Server:      s.Addr,
		Weight:      s.Weight,
		MaxConns:    s.MaxConns,
		MaxFails:    s.MaxFails,
		FailTimeout: formatSeconds(s.FailTimeout),
		SlowStart:   formatSeconds(s.SlowStart),
		Route:       s.Route,
		Backup:      s.Backup,
		Down:        s.Down(),
		Drain:       s.Draining(),
	}
}

// confs returns the configuration views of servers, under the lock.
func confs(servers []*upstream.Server) []confView {
	v := make([]confView, 0, len(servers))
	for _, s := range servers {
		v = append(v, conf(s))
	}
	return v
}

// formatSeconds writes a time as nginx stores fail_timeout and slow_start:
// in seconds ("10s"), or milliseconds when it is not a whole second.
func formatSeconds(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// formatTime writes a time as NGINX Plus does: ISO 8601 in UTC with
// milliseconds, "2026-11-26T19:40:01.512Z".
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// status returns the status view of u at now.
func (h *handler) status(u *live.Upstream, now time.Time) upstreamView {
	// Weight and Backup are read under the upstream's lock, the counters
	// (atomics) after it is released.
	type fixed struct {
		s      *upstream.Server
		weight int
		backup bool
	}
	var servers []fixed
	u.View(func(all []*upstream.Server) {
		for _, s := range all {
			servers = append(servers, fixed{s, s.Weight, s.Backup})
		}
	})
	v := upstreamView{Peers: make([]peerView, 0, len(servers)), Zone: u.Name, Limpet: upstreamExtra{Sticky: u.Outcomes()}}
	if n := u.Load().QueueSize; n > 0 {
		v.Queue = &queueView{Size: u.Queue().Size(), MaxSize: n, Overflows: u.Queue().Overflows()}
	}
	snaps := make([]upstream.Snapshot, len(servers))
	ptrs := make([]*upstream.Server, len(servers))
	for i, f := range servers {
		ptrs[i] = f.s
		snaps[i] = f.s.Snapshot(now)
	}
	perSec := h.rates.update(u.Name, ptrs, snaps, now)
	for i, f := range servers {
		s, snap := f.s, snaps[i]
		p := peerView{
			ID:       s.APIID,
			Server:   s.Addr,
			Name:     s.Name,
			Backup:   f.backup,
			Weight:   f.weight,
			State:    s.State(now),
			Active:   snap.Active,
			MaxConns: s.MaxConns,
			Requests: snap.Requests,
			Responses: responsesView{
				R1xx: snap.Responses[0], R2xx: snap.Responses[1], R3xx: snap.Responses[2],
				R4xx: snap.Responses[3], R5xx: snap.Responses[4],
			},
			Fails:   snap.Fails,
			Unavail: snap.Unavail,
			HealthChecks: healthChecksView{
				Checks: snap.Checks, Fails: snap.CheckFails, Unhealthy: snap.Unhealthy,
				LastPassed: snap.LastCheckPassed,
			},
			Downtime:  snap.Downtime.Milliseconds(),
			Downstart: formatTime(snap.DownStart),
			Selected:  formatTime(snap.Selected),
			Limpet: peerExtra{ID: s.ID, Drain: s.Draining(), DrainingPinned: pinnedView{
				Requests:          snap.Pinned,
				RequestsPerSecond: perSec[i],
				LastSeen:          formatTime(snap.PinnedLast),
			}},
		}
		for _, n := range snap.Responses {
			p.Responses.Total += n
		}
		v.Peers = append(v.Peers, p)
	}
	return v
}

// getUpstreams answers GET /9/http/upstreams: every upstream's status,
// keyed by name, in configuration order.
func (h *handler) getUpstreams(*http.Request) (int, any, *apiError) {
	now := h.o.Now()
	var b bytes.Buffer
	b.WriteByte('{')
	for _, name := range h.ups.Names() {
		u := h.ups.Upstream(name)
		if u == nil {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(name)
		v, err := json.Marshal(h.status(u, now))
		if err != nil {
			return 0, nil, &apiError{http.StatusInternalServerError, err.Error(), "InternalError"}
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return http.StatusOK, json.RawMessage(b.Bytes()), nil
}

// getUpstream answers GET /9/http/upstreams/NAME.
func (h *handler) getUpstream(u *live.Upstream, _ *http.Request) (int, any, *apiError) {
	return http.StatusOK, h.status(u, h.o.Now()), nil
}

// getServers answers GET /9/http/upstreams/NAME/servers.
func (h *handler) getServers(u *live.Upstream, _ *http.Request) (int, any, *apiError) {
	var v []confView
	u.View(func(all []*upstream.Server) { v = confs(all) })
	return http.StatusOK, v, nil
}

// getServer answers GET /9/http/upstreams/NAME/servers/ID.
func (h *handler) getServer(u *live.Upstream, id int, _ *http.Request) (int, any, *apiError) {
	var v confView
	found := false
	u.View(func(all []*upstream.Server) {
		if s := byAPIID(all, id); s != nil {
			v, found = conf(s), true
		}
	})
	if !found {
		return 0, nil, errServerNotFound(id)
	}
	return http.StatusOK, v, nil
}

// byAPIID returns the server numbered id among servers, or nil.
func byAPIID(servers []*upstream.Server, id int) *upstream.Server {
	for _, s := range servers {
		if s.APIID == id {
			return s
		}
	}
	return nil
}

// minRateInterval is the shortest time between the two samples a rate is
// computed from; reads closer together reuse the last rate, so a dashboard
// and a script polling at once do not make it jump.
const minRateInterval = time.Second

// rates measures the pinned requests per second of each server from the
// counters seen at successive reads of the API: no ticker runs, and with
// an injected clock the rates are deterministic.
type rates struct {
	// mu guards last: by upstream name, the sample of each server at the
	// last read. A read replaces its upstream's map, so removed servers
	// are forgotten.
	mu   sync.Mutex
	last map[string]map[*upstream.Server]sample
}

// sample is a server's pinned-request counter at one time, and the rate
// computed when it was taken.
type sample struct {
	at     time.Time
	pinned int64
	rate   float64
}

// update records the pinned-request counters of servers at now and returns
// their rates: 0 at the first read, then the increase over the time since
// the previous sample, once that is at least minRateInterval.
func (rt *rates) update(name string, servers []*upstream.Server, snaps []upstream.Snapshot, now time.Time) []float64 {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	old := rt.last[name]
	next := make(map[*upstream.Server]sample, len(servers))
	out := make([]float64, len(servers))
	for i, s := range servers {
		cur := sample{at: now, pinned: snaps[i].Pinned}
		if prev, ok := old[s]; ok {
			elapsed := now.Sub(prev.at)
			if elapsed < minRateInterval {
				cur = prev
			} else {
				r := float64(cur.pinned-prev.pinned) / elapsed.Seconds()
				cur.rate = math.Round(max(r, 0)*1000) / 1000
			}
		}
		next[s] = cur
		out[i] = cur.rate
	}
	rt.last[name] = next
	return out
}
