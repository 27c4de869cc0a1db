package metrics

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/sticky"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// seriesKey is the label pair of a server's per-request series.
type seriesKey struct{ upstream, server string }

// children are the per-request metric children of one server of one
// upstream (or of an upstream's requests that no server could take),
// resolved once so that observing a request builds no label values.
type children struct {
	// up is the upstream the children were made for: a server seen
	// through another *live.Upstream (a reload) is resolved again.
	up  *live.Upstream
	key seriesKey

	duration prometheus.Observer
	codes    [len(codeClasses)]prometheus.Counter
	retried  prometheus.Counter
	retries  prometheus.Counter
}

// ObserveRequest records a request proxied to up: its latency and status
// class under the server that answered last (server "none" when no server
// could be tried), and its retries. The persistence decision is not
// needed: the upstream counts decisions itself and the scrape reads them.
// After a server's first request it takes no lock and allocates nothing.
func (m *Metrics) ObserveRequest(up *live.Upstream, server *upstream.Server, status int, took time.Duration, _ sticky.Decision, attempts int) {
	if up == nil {
		return
	}
	c := m.children(up, server)
	c.duration.Observe(took.Seconds())
	if i := status/100 - 1; i >= 0 && i < len(c.codes) {
		c.codes[i].Inc()
	}
	if attempts > 1 {
		c.retried.Inc()
		c.retries.Add(float64(attempts - 1))
	}
}

// children returns the metric children of server in up, creating them on
// first use.
func (m *Metrics) children(up *live.Upstream, server *upstream.Server) *children {
	// Both keys are pointers, so storing them in an interface does not
	// allocate; a *upstream.Server belongs to one upstream at a time.
	var key any = up
	if server != nil {
		key = server
	}
	if v, ok := m.cache.Load(key); ok {
		if c := v.(*children); c.up == up {
			return c
		}
	}
	label := noServer
	if server != nil {
		label = serverLabelsOf(up.Pool().All())[server]
		if label == "" { // removed while the request ran
			label = server.Addr
		}
	}
	k := seriesKey{up.Name, label}
	// The series is recorded under mu together with the creation of its
	// children, so a concurrent scrape either sees it and can delete it,
	// or runs before the children exist.
	m.mu.Lock()
	defer m.mu.Unlock()
	m.series[k] = true
	c := &children{
		up:       up,
		key:      k,
		duration: m.duration.WithLabelValues(k.upstream, k.server),
		retried:  m.retried.WithLabelValues(k.upstream),
		retries:  m.retries.WithLabelValues(k.upstream),
	}
	for i, class := range codeClasses {
		c.codes[i] = m.requests.WithLabelValues(k.upstream, k.server, class)
	}
	m.cache.Store(key, c)
	return c
}

// serverLabelsOf returns the server label of each of an upstream's
// servers: its resolved address, or, for a further server with the same
// address in the same upstream (the same address listed twice), the
// address followed by "#" and its API number, so that no two servers
// share a series.
func serverLabelsOf(servers []*upstream.Server) map[*upstream.Server]string {
	labels := make(map[*upstream.Server]string, len(servers))
	seen := make(map[string]bool, len(servers))
	for _, s := range servers {
		l := s.Addr
		if seen[l] {
			l = fmt.Sprintf("%s#%d", s.Addr, s.APIID)
		}
		seen[l] = true
		labels[s] = l
	}
	return labels
}
