package discovery

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// Lookuper is what a Watcher asks: a *Resolver, or any other source of
// DNS answers with the same meaning (NotFound errors included).
type Lookuper interface {
	LookupHost(ctx context.Context, name string) (Answer, error)
	LookupSRV(ctx context.Context, name string) (Answer, error)
}

var _ Lookuper = (*Resolver)(nil)

// Source is one `server NAME resolve [service=NAME]` line: the name to
// resolve and the parameters every server found takes.
type Source struct {
	// Written is the line's address as written ("app.example:8080"), the
	// Name of the servers an A or AAAA lookup finds.
	Written string
	// Host is the name to resolve; Port the port of its addresses (not
	// used with Service, whose SRV records carry the port).
	Host string
	Port int
	// Service is the service= parameter, or "" for A and AAAA lookups.
	Service string
	// The parameters of the line, as upstream.Server has them. Weight is
	// also the weight of SRV servers when it is not 1; at 1 (the
	// default) the SRV record's weight is used, as in nginx.
	Weight      int
	MaxFails    int
	FailTimeout time.Duration
	SlowStart   time.Duration
	MaxConns    int
	Route       string
	Backup      bool
	Down        bool
	Drain       bool
}

// Key identifies the source across reloads: a line of the same name,
// service, port and kind (primary or backup) takes over the servers the
// previous configuration's line found.
func (s *Source) Key() string {
	k := s.Host + "|" + s.Service + "|" + strconv.Itoa(s.Port)
	if s.Backup {
		k += "|backup"
	}
	return k
}

// queryName is the name the source looks up.
func (s *Source) queryName() string {
	if s.Service != "" {
		return ServiceName(s.Service, s.Host)
	}
	return s.Host
}

// Endpoint is one server a source found.
type Endpoint struct {
	// Addr is "ip:port", the server's identity.
	Addr string
	// Target is the SRV record's target, "" for A and AAAA.
	Target string
	// Weight is the SRV record's weight (0 for A and AAAA); Backup is
	// set for SRV records of a lower priority than the best one.
	Weight int
	Backup bool
}

// Event reports one lookup of a source and what it changed.
type Event struct {
	Upstream string
	Source   *Source
	// Err is the lookup's error, or nil. A NotFound error is an answer
	// (the name has no addresses, and its servers are removed); any other
	// kept the last known servers (Kept).
	Err  error
	Kept bool
	// Added and Removed are the addresses that came and went; Addrs all
	// the source's addresses after the event.
	Added, Removed, Addrs []string
}

// Options configure a Watcher. Upstream, Lookup and Sources are required.
type Options struct {
	// Upstream is the live upstream whose servers the Watcher changes.
	Upstream *live.Upstream
	// Lookup answers the queries, normally a *Resolver.
	Lookup Lookuper
	// Sources are the upstream's resolve lines.
	Sources []Source
	// Timeout is the resolver_timeout: after a failed lookup the next
	// one comes max(Timeout, MinRefresh) later, as in nginx.
	Timeout time.Duration
	// NoBackup is set for balancing methods without backup servers
	// (hash, ip_hash, random): SRV records of a lower priority are then
	// left out rather than made backup servers, as nginx does.
	NoBackup bool
	// Previous is the Watcher this one replaces (a reload), or nil: the
	// servers it found for sources this one has too are taken over (see
	// TakeOver), so they serve without waiting for DNS.
	Previous *Watcher
	// Log receives the changes and the failures (once per transition);
	// nil means slog.Default().
	Log *slog.Logger
	// MinRefresh is the shortest time between two lookups of a name,
	// whatever its TTL; 1s (nginx's) if 0.
	MinRefresh time.Duration
	// OnEvent, if set, is called after each lookup has been applied, from
	// the source's goroutine. Tests wait on it.
	OnEvent func(Event)
}

// Watcher keeps an upstream's resolve servers in step with DNS: one
// goroutine per source, from Start to Close.
type Watcher struct {
	o Options

	// mu guards sources' endpoints and servers, which the sources'
	// goroutines change and TakeOver reads, and taken. It is taken before
	// the upstream's lock, never under it while goroutines run.
	mu      sync.Mutex
	sources []*sourceState
	// taken are the servers TakeOver returned; tookOver tells it ran.
	taken    []*upstream.Server
	tookOver bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
}

// sourceState is one source's run-time state.
type sourceState struct {
	src Source
	// endpoints are the last applied addresses; servers the servers
	// made of them, by address (guarded by Watcher.mu).
	endpoints []Endpoint
	servers   map[string]*upstream.Server
	// state is the outcome of the last lookup, for logging transitions;
	// touched only by the source's goroutine.
	state lookupState
}

type lookupState int

const (
	stateNew      lookupState = iota // no lookup yet
	stateOK                          // the last lookup found addresses
	stateNotFound                    // the name has no addresses
	stateFailed                      // the last lookup failed; servers kept
)

// New returns a Watcher of o's sources. Nothing runs before Start.
func New(o Options) *Watcher {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.MinRefresh <= 0 {
		o.MinRefresh = time.Second
	}
	w := &Watcher{o: o}
	for i := range o.Sources {
		w.sources = append(w.sources, &sourceState{src: o.Sources[i], servers: map[string]*upstream.Server{}})
	}
	return w
}

// TakeOver returns the servers the Watcher starts with: those Previous
// found for sources this Watcher has too (same Key). A server is kept
// itself when the parameters a live server cannot change (its name,
// max_fails, fail_timeout, slow_start, max_conns, route, backup) are the
// same,
// with the line's new weight; otherwise a new server inherits its state.
// `down` and `drain` follow the line when the line changed them, and keep
// what the API set otherwise, as a reload treats other servers.
//
// Call it once Previous is closed and before Start, from inside the
// function given to the upstream's Reconfigure that builds the new server
// list, so that the reload keeps the servers without a gap and changes
// their weights under the upstream's lock. Start calls it (under the
// lock) if no one did. Later calls return the same servers.
func (w *Watcher) TakeOver() []*upstream.Server {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.tookOver {
		return w.taken
	}
	w.tookOver = true
	prev := w.o.Previous
	if prev == nil {
		return nil
	}
	prev.mu.Lock()
	defer prev.mu.Unlock()
	byKey := make(map[string][]*sourceState)
	for _, ps := range prev.sources {
		byKey[ps.src.Key()] = append(byKey[ps.src.Key()], ps)
	}
	for _, st := range w.sources {
		olds := byKey[st.src.Key()]
		if len(olds) == 0 {
			continue
		}
		ps := olds[0]
		byKey[st.src.Key()] = olds[1:] // a second identical line takes the second
		for _, e := range ps.endpoints {
			old := ps.servers[e.Addr]
			if old == nil || e.Backup && (st.src.Backup || w.o.NoBackup) {
				continue
			}
			s := old
			switch fresh := st.newServer(e); {
			case fresh.ID != old.ID:
				// A new route= is a new identity: nothing to inherit.
				s = fresh
			case !sameFixed(old, fresh):
				fresh.Inherit(old)
				s = fresh
			case ps.weight(e) != st.weight(e):
				s.Weight = st.weight(e)
			}
			if ps.src.Down != st.src.Down {
				s.SetDown(st.src.Down)
			}
			if ps.src.Drain != st.src.Drain {
				s.SetDraining(st.src.Drain)
			}
			st.endpoints = append(st.endpoints, e)
			st.servers[e.Addr] = s
			w.taken = append(w.taken, s)
		}
	}
	return w.taken
}

// sameFixed reports whether a live server has the parameters of fresh
// that cannot change on a published server.
func sameFixed(s, fresh *upstream.Server) bool {
	return s.Name == fresh.Name && s.MaxFails == fresh.MaxFails && s.FailTimeout == fresh.FailTimeout &&
		s.SlowStart == fresh.SlowStart && s.Route == fresh.Route && s.Backup == fresh.Backup && s.MaxConns == fresh.MaxConns
}

// Start adds the servers taken over from Previous that the upstream
// lacks and starts resolving every source at once, then again as each
// answer expires.
func (w *Watcher) Start() {
	if err := w.o.Upstream.Update(func(cur []*upstream.Server) ([]*upstream.Server, error) {
		next := cur
		// Under the upstream's lock, but no goroutine of w runs yet.
		for _, s := range w.TakeOver() {
			if !slices.Contains(cur, s) {
				next = append(next, s)
			}
		}
		if len(next) == len(cur) {
			return nil, errUnchanged
		}
		return next, nil
	}); err != nil && !errors.Is(err, errUnchanged) {
		w.o.Log.Error("resolve: adding known servers", "upstream", w.o.Upstream.Name, "error", err.Error())
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	for _, st := range w.sources {
		w.wg.Go(func() { w.run(ctx, st) })
	}
}

// Close stops every goroutine of the Watcher and waits for them; a
// lookup under way is abandoned. The servers stay in the upstream.
func (w *Watcher) Close() {
	w.closed.Do(func() {
		if w.cancel != nil {
			w.cancel()
		}
		w.wg.Wait()
	})
}

// errUnchanged ends an Update that has nothing to change, so that no new
// snapshot (and no new balancer state) is made.
var errUnchanged = errors.New("unchanged")

// run resolves one source until ctx ends.
func (w *Watcher) run(ctx context.Context, st *sourceState) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		wait := w.resolve(ctx, st)
		if ctx.Err() != nil {
			return
		}
		timer.Reset(wait)
	}
}

// resolve looks the source up once, applies the answer and returns when
// to look again.
func (w *Watcher) resolve(ctx context.Context, st *sourceState) time.Duration {
	src := &st.src
	name := src.queryName()
	var ans Answer
	var err error
	if src.Service != "" {
		ans, err = w.o.Lookup.LookupSRV(ctx, name)
	} else {
		ans, err = w.o.Lookup.LookupHost(ctx, name)
	}
	if ctx.Err() != nil {
		return 0
	}
	ev := Event{Upstream: w.o.Upstream.Name, Source: src, Err: err}
	log := w.o.Log.With("upstream", w.o.Upstream.Name)
	if err != nil && !NotFound(err) {
		if st.state != stateFailed {
			log.Error(w.failure(src, err))
		}
		st.state = stateFailed
		ev.Kept = true
		ev.Addrs = addrsOf(w.endpoints(st))
		w.emit(ev)
		return max(w.o.Timeout, w.o.MinRefresh)
	}
	next := stateOK
	if err != nil {
		next = stateNotFound
	}
	// Applied before anything is logged, so a line read in the log
	// describes servers already in place.
	ev.Added, ev.Removed = w.apply(st, w.endpointsOf(src, ans))
	switch {
	case next == stateNotFound && st.state != stateNotFound:
		log.Error(w.failure(src, err))
	case next == stateOK && (st.state == stateFailed || st.state == stateNotFound):
		log.Info(src.Host + " was resolved again")
	}
	st.state = next
	for _, a := range ev.Added {
		log.Info("upstream server added", "server", a, "name", src.Host)
	}
	for _, a := range ev.Removed {
		log.Info("upstream server removed", "server", a, "name", src.Host)
	}
	ev.Addrs = addrsOf(w.endpoints(st))
	w.emit(ev)
	return max(ans.TTL, w.o.MinRefresh)
}

// failure words a failed lookup as nginx logs it.
func (w *Watcher) failure(src *Source, err error) string {
	var le *LookupError
	if src.Service != "" && errors.As(err, &le) {
		return "service " + src.Service + " of " + src.Host + " could not be resolved (" + strconv.Itoa(le.Code) + ": " + le.Text() + ")"
	}
	return err.Error()
}

func (w *Watcher) emit(ev Event) {
	if w.o.OnEvent != nil {
		w.o.OnEvent(ev)
	}
}

func (w *Watcher) endpoints(st *sourceState) []Endpoint {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(st.endpoints)
}

func addrsOf(es []Endpoint) []string {
	out := make([]string, 0, len(es))
	for _, e := range es {
		out = append(out, e.Addr)
	}
	return out
}

// endpointsOf turns an answer into the source's endpoints: for SRV, the
// records of the best (lowest) priority serve as the line says, the
// others as backup servers of a primary line, or not at all for a backup
// line or a method without backups, as in nginx.
func (w *Watcher) endpointsOf(src *Source, ans Answer) []Endpoint {
	best := -1
	for _, a := range ans.Addrs {
		if best < 0 || a.Priority < best {
			best = a.Priority
		}
	}
	seen := map[string]bool{}
	var out []Endpoint
	for _, a := range ans.Addrs {
		e := Endpoint{Addr: hostPort(a.IP, src.Port)}
		if src.Service != "" {
			e = Endpoint{Addr: hostPort(a.IP, a.Port), Target: a.Target, Weight: a.Weight}
			if a.Priority != best {
				if src.Backup || w.o.NoBackup {
					continue
				}
				e.Backup = true
			}
		}
		if seen[e.Addr] {
			continue
		}
		seen[e.Addr] = true
		out = append(out, e)
	}
	return out
}

// apply makes the source's servers in the upstream those of want, in one
// Update: servers of addresses that stay are kept (a weight change is
// made in place, a change between primary and backup by a new server that
// inherits the old one's state), the others removed, and new addresses
// added. A weight or state the API gave a server stays until DNS changes
// it. Servers of other lines, or added by the API, are not touched.
func (w *Watcher) apply(st *sourceState, want []Endpoint) (added, removed []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	wanted := make(map[string]Endpoint, len(want))
	for _, e := range want {
		wanted[e.Addr] = e
	}
	before := make(map[string]Endpoint, len(st.endpoints))
	for _, e := range st.endpoints {
		before[e.Addr] = e
	}
	servers := make(map[string]*upstream.Server, len(want))
	err := w.o.Upstream.Update(func(cur []*upstream.Server) ([]*upstream.Server, error) {
		added, removed = nil, nil
		clear(servers)
		next := make([]*upstream.Server, 0, len(cur)+len(want))
		changed := false
		for _, s := range cur {
			if st.servers[s.Addr] != s {
				next = append(next, s)
				continue
			}
			e, ok := wanted[s.Addr]
			if !ok {
				removed = append(removed, s.Addr)
				changed = true
				continue
			}
			if backup := st.src.Backup || e.Backup; backup != s.Backup {
				// Backup is read on the request path without a
				// lock: a new server takes the old one's place.
				ns := st.newServer(e)
				ns.Inherit(s)
				s = ns
				changed = true
			} else if prev, ok := before[e.Addr]; (!ok || st.weight(prev) != st.weight(e)) && st.weight(e) != s.Weight {
				// Only a weight DNS changed is applied: one the API
				// set stays until the records say otherwise.
				s.Weight = st.weight(e)
				changed = true
			}
			servers[s.Addr] = s
			next = append(next, s)
		}
		for _, e := range want {
			if servers[e.Addr] != nil {
				continue
			}
			s := st.newServer(e)
			servers[e.Addr] = s
			next = append(next, s)
			added = append(added, e.Addr)
			changed = true
		}
		if !changed {
			return nil, errUnchanged
		}
		return next, nil
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		w.o.Log.Error("resolve: updating servers", "upstream", w.o.Upstream.Name, "error", err.Error())
		return nil, nil
	}
	st.endpoints = want
	st.servers = servers
	return added, removed
}

// weight is the weight of an endpoint's server: the line's, or for SRV
// the record's when the line's is 1 (nginx's rule).
func (st *sourceState) weight(e Endpoint) int {
	if st.src.Service != "" && st.src.Weight == 1 && e.Weight > 0 {
		return e.Weight
	}
	return st.src.Weight
}

// newServer makes the server of an endpoint, with the line's parameters.
// Its identity is its address (or the line's route=), so a user pinned to
// it stays when a later answer names the address again.
func (st *sourceState) newServer(e Endpoint) *upstream.Server {
	src := &st.src
	name := src.Written
	if e.Target != "" {
		name = e.Target
	}
	s := &upstream.Server{
		ID:          upstream.IDFor(e.Addr, src.Route),
		Name:        name,
		Addr:        e.Addr,
		Weight:      st.weight(e),
		MaxFails:    src.MaxFails,
		FailTimeout: src.FailTimeout,
		Backup:      src.Backup || e.Backup,
		Route:       src.Route,
		SlowStart:   src.SlowStart,
		MaxConns:    src.MaxConns,
	}
	s.SetDown(src.Down)
	s.SetDraining(src.Drain)
	return s
}
