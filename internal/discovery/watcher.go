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
	Route       string
	Backup      bool
	Down        bool
	Drain       bool
}

// Key identifies the source across reloads, for Known: the same name,
// service, port and kind (primary or backup) find the same servers.
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

// Endpoint is one server a source found: what Known keeps of it.
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

// Known is what a Watcher knows: the endpoints of each source, by
// Source.Key. A Watcher seeded with the Known of the one it replaces (a
// reload) serves those servers from its start, without waiting for DNS.
type Known map[string][]Endpoint

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
	// Seed is the Known of the Watcher this one replaces, or nil.
	Seed Known
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
	// goroutines change and Known reads.
	mu      sync.Mutex
	sources []*sourceState

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

// New returns a Watcher of o's sources, holding the servers of o.Seed.
// Nothing runs before Start.
func New(o Options) *Watcher {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.MinRefresh <= 0 {
		o.MinRefresh = time.Second
	}
	w := &Watcher{o: o}
	for i := range o.Sources {
		st := &sourceState{src: o.Sources[i], servers: map[string]*upstream.Server{}}
		for _, e := range o.Seed[st.src.Key()] {
			if _, dup := st.servers[e.Addr]; dup {
				continue
			}
			st.endpoints = append(st.endpoints, e)
			st.servers[e.Addr] = st.newServer(e)
		}
		w.sources = append(w.sources, st)
	}
	return w
}

// Servers returns the servers made of the seed, in order. A caller that
// builds the upstream's first server list includes them, so that they
// serve from the first request; Start adds those it did not include.
func (w *Watcher) Servers() []*upstream.Server {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*upstream.Server
	for _, st := range w.sources {
		for _, e := range st.endpoints {
			out = append(out, st.servers[e.Addr])
		}
	}
	return out
}

// Known returns the endpoints each source has now.
func (w *Watcher) Known() Known {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := make(Known, len(w.sources))
	for _, st := range w.sources {
		k[st.src.Key()] = slices.Clone(st.endpoints)
	}
	return k
}

// Start adds the seeded servers the upstream lacks and starts resolving
// every source at once, then again as each answer expires.
func (w *Watcher) Start() {
	// Read before Update: apply takes w.mu and then the upstream's lock,
	// so w.mu is never taken under the upstream's.
	seeded := w.Servers()
	if err := w.o.Upstream.Update(func(cur []*upstream.Server) ([]*upstream.Server, error) {
		next := cur
		for _, s := range seeded {
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
	switch {
	case next == stateNotFound && st.state != stateNotFound:
		log.Error(w.failure(src, err))
	case next == stateOK && (st.state == stateFailed || st.state == stateNotFound):
		log.Info(src.Host + " was resolved again")
	}
	st.state = next
	ev.Added, ev.Removed = w.apply(st, w.endpointsOf(src, ans))
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
// added. Servers of other lines, or added by the API, are not touched.
func (w *Watcher) apply(st *sourceState, want []Endpoint) (added, removed []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	wanted := make(map[string]Endpoint, len(want))
	for _, e := range want {
		wanted[e.Addr] = e
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
			} else if weight := st.weight(e); weight != s.Weight {
				s.Weight = weight
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
	}
	s.SetDown(src.Down)
	s.SetDraining(src.Drain)
	return s
}
