package runtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/discovery"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/proxy"
	"github.com/limpet-lb/limpet/internal/upstream"
	"github.com/limpet-lb/limpet/internal/uptls"
)

// maxDynamicTargets bounds the upstreams one location with variables in
// proxy_pass makes on the fly: beyond it, the one least recently used
// goes, its idle connections closed (and those unused for dynamicIdle go
// as soon as another is made).
const maxDynamicTargets = 64

// dynamicIdle is how long a target made on the fly is kept unused: the
// next one stored after that drops it, with its idle connections.
const dynamicIdle = 10 * time.Minute

// ipTTL is how long the target of an IP address holds: its address never
// changes, so only eviction ends it.
const ipTTL = 100 * 365 * 24 * time.Hour

// targets finds the upstream of a proxy_pass with variables: the
// upstream blocks by name, each with this location's transport built
// when the plan is, and for other hosts an upstream made on the fly per
// "host:port", its name resolved through the location's resolver and
// kept for the answer's TTL (the resolver's valid= if set). Those
// upstreams are not in the API: nginx's are not either.
type targets struct {
	// named are the upstream blocks by scheme and lower-cased name
	// ("http" and "https" when the URL's scheme is a variable).
	named    map[[2]string]namedTarget
	res      *discovery.Resolver // nil without a resolver
	timeout  time.Duration       // resolver_timeout
	newTrans func(scheme, host string) proxy.Transport
	now      func() time.Time

	// cache maps "host:port" to its *dynTarget: read without a lock.
	cache sync.Map
	mu    sync.Mutex // serialises additions to cache and evictions; guards n
	n     int
}

type namedTarget struct {
	u  *live.Upstream
	tr http.RoundTripper
}

// dynTarget is an upstream made on the fly.
type dynTarget struct {
	u       *live.Upstream
	tr      proxy.Transport
	addrs   []string
	expires time.Time
	used    atomic.Int64 // unix nanoseconds of its latest use
}

var _ proxy.Targets = (*targets)(nil)

// dynamicTargets builds the Targets of a location: env.Dynamic.
func (p *plan) dynamicTargets(l *config.Location, t proxy.Timeouts, c *uptls.Client, name string, prev *plan) (proxy.Targets, error) {
	pp := l.ProxyPass
	ts := &targets{named: make(map[[2]string]namedTarget, 2*len(p.upstreams)), timeout: pp.ResolverTimeout, now: time.Now}
	if p.rt.opts.Now != nil {
		ts.now = p.rt.opts.Now
	}
	schemes := []string{"http", "https"}
	if pp.Scheme != "" {
		schemes = []string{pp.Scheme}
	}
	for cu, u := range p.upstreams {
		for _, scheme := range schemes {
			var tr http.RoundTripper
			if scheme == "https" {
				n := name
				if n == "" {
					n = u.Name
				}
				tr = p.tlsTransportFor(u, t, c, n, prev)
			} else {
				tr = p.transportFor(u, t, prev)
			}
			ts.named[[2]string{scheme, strings.ToLower(cu.Name)}] = namedTarget{u: u, tr: tr}
		}
	}
	ts.newTrans = func(scheme, host string) proxy.Transport {
		if scheme == "http" {
			return proxy.NewTransport(t, 0)
		}
		n := name
		if n == "" {
			n = host
		}
		return proxy.NewTLSTransport(t, 0, c, n)
	}
	if r := pp.Resolver; r != nil {
		ts.res = discovery.NewResolver(discovery.Config{Servers: r.Addrs, Timeout: pp.ResolverTimeout, Valid: r.Valid, IPv4: r.IPv4, IPv6: r.IPv6})
	}
	p.dynamic = append(p.dynamic, ts)
	return ts, nil
}

// Target implements proxy.Targets.
func (ts *targets) Target(ctx context.Context, scheme, host, port string) (*live.Upstream, http.RoundTripper, bool, error) {
	// Host names are the same in any case: one cache entry for all.
	host = strings.ToLower(host)
	if port == "" {
		if nt, ok := ts.named[[2]string{scheme, host}]; ok {
			return nt.u, nt.tr, false, nil
		}
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	key := scheme + "://" + net.JoinHostPort(host, port)
	now := ts.now()
	var old *dynTarget
	if v, ok := ts.cache.Load(key); ok {
		old = v.(*dynTarget)
		if now.Before(old.expires) {
			old.used.Store(now.UnixNano())
			return old.u, old.tr, true, nil
		}
	}
	addrs, ttl, err := ts.resolve(ctx, host, port)
	if err != nil {
		return nil, nil, true, err
	}
	u, tr := ts.store(key, scheme, host, old, addrs, now.Add(ttl), now)
	return u, tr, true, nil
}

// resolve returns the addresses of host:port and how long they hold.
func (ts *targets) resolve(ctx context.Context, host, port string) ([]string, time.Duration, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []string{net.JoinHostPort(ip.String(), port)}, ipTTL, nil
	}
	if ts.res == nil {
		return nil, 0, fmt.Errorf("no resolver defined to resolve %s", host)
	}
	ctx, cancel := context.WithTimeout(ctx, ts.timeout)
	defer cancel()
	ans, err := ts.res.LookupHost(ctx, host)
	if err != nil {
		var le *discovery.LookupError
		if errors.As(err, &le) {
			return nil, 0, le
		}
		return nil, 0, fmt.Errorf("%s could not be resolved (%v)", host, err)
	}
	if len(ans.Addrs) == 0 {
		return nil, 0, &discovery.LookupError{Name: host, Code: discovery.CodeNotFound}
	}
	addrs := make([]string, 0, len(ans.Addrs))
	for _, a := range ans.Addrs {
		addrs = append(addrs, net.JoinHostPort(a.IP.String(), port))
	}
	slices.Sort(addrs)
	return addrs, ans.TTL, nil
}

// store records the target of key, keeping old's upstream (and so its
// servers' failure counts) when the addresses did not change, and its
// transport in any case; it evicts the least recently used target when
// the cache is full.
func (ts *targets) store(key, scheme, host string, old *dynTarget, addrs []string, expires, now time.Time) (*live.Upstream, http.RoundTripper) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if v, ok := ts.cache.Load(key); ok && v.(*dynTarget) != old {
		// Another request stored it meanwhile.
		cur := v.(*dynTarget)
		return cur.u, cur.tr
	}
	t := &dynTarget{addrs: addrs, expires: expires}
	t.used.Store(now.UnixNano())
	if old != nil {
		t.tr = old.tr
		if slices.Equal(old.addrs, addrs) {
			t.u = old.u
		}
	} else {
		t.tr = ts.newTrans(scheme, host)
		ts.n++
	}
	if t.u == nil {
		name := key[len(scheme)+3:] // host:port, as nginx names it
		servers := make([]*upstream.Server, 0, len(addrs))
		for _, a := range addrs {
			servers = append(servers, &upstream.Server{ID: upstream.IDFor(a, ""), Name: name, Addr: a, Weight: 1})
		}
		t.u = live.New(name, live.Policy{}, servers)
	}
	ts.cache.Store(key, t)
	ts.sweepLocked(key, now)
	if ts.n > maxDynamicTargets {
		ts.evictLocked(key)
	}
	return t.u, t.tr
}

// sweepLocked drops the targets other than keep unused for dynamicIdle.
func (ts *targets) sweepLocked(keep string, now time.Time) {
	limit := now.Add(-dynamicIdle).UnixNano()
	ts.cache.Range(func(k, v any) bool {
		if k.(string) != keep && v.(*dynTarget).used.Load() < limit {
			if _, ok := ts.cache.LoadAndDelete(k); ok {
				v.(*dynTarget).tr.CloseIdleConnections()
				ts.n--
			}
		}
		return true
	})
}

// evictLocked drops the least recently used target other than keep.
func (ts *targets) evictLocked(keep string) {
	var victim string
	var oldest int64
	ts.cache.Range(func(k, v any) bool {
		if k.(string) == keep {
			return true
		}
		if u := v.(*dynTarget).used.Load(); victim == "" || u < oldest {
			victim, oldest = k.(string), u
		}
		return true
	})
	if v, ok := ts.cache.LoadAndDelete(victim); ok {
		v.(*dynTarget).tr.CloseIdleConnections()
		ts.n--
	}
}

// closeIdle closes the idle connections of every target made on the fly.
func (ts *targets) closeIdle() {
	ts.cache.Range(func(_, v any) bool {
		v.(*dynTarget).tr.CloseIdleConnections()
		return true
	})
}
