package metrics

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// collector is the Prometheus side of Metrics: at every scrape it reads
// the servers' and upstreams' atomics and emits the per-request series of
// the servers that still exist.
type collector Metrics

// states are the values of the state label, in the NGINX Plus API's words.
var states = [...]string{
	upstream.StateUp, upstream.StateDraining, upstream.StateDown,
	upstream.StateUnavail, upstream.StateChecking, upstream.StateUnhealthy,
}

// Describe sends every descriptor the collector may emit.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range scrapeDescs {
		ch <- d
	}
	c.duration.Describe(ch)
	c.requests.Describe(ch)
	c.retried.Describe(ch)
	c.retries.Describe(ch)
}

// serverView is one server as a scrape sees it; weight, backup and apiID
// are read under the upstream's lock, as live.Upstream.View requires.
type serverView struct {
	s      *upstream.Server
	label  string
	weight int
	backup bool
	apiID  int
}

type upstreamView struct {
	up      *live.Upstream
	servers []serverView
}

// Collect emits the current metrics of every upstream and server.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := (*Metrics)(c)
	now := m.now()
	views := m.view()
	m.prune(views)

	m.duration.Collect(ch)
	m.requests.Collect(ch)
	m.retried.Collect(ch)
	m.retries.Collect(ch)

	for _, v := range views {
		name := v.up.Name
		for _, sv := range v.servers {
			collectServer(ch, name, sv, now)
		}
		if st := v.up.Load(); st.QueueSize > 0 {
			q := v.up.Queue()
			ch <- prometheus.MustNewConstMetric(descQueueSize, prometheus.GaugeValue, float64(q.Size()), name)
			ch <- prometheus.MustNewConstMetric(descQueueMax, prometheus.GaugeValue, float64(st.QueueSize), name)
			ch <- prometheus.MustNewConstMetric(descQueueOverflows, prometheus.CounterValue, float64(q.Overflows()), name)
		}
		if v.up.Load().Sticky == nil {
			continue
		}
		for label, n := range v.up.Outcomes() {
			outcome, reason, _ := strings.Cut(label, "/")
			ch <- prometheus.MustNewConstMetric(descSticky, prometheus.CounterValue, float64(n), name, outcome, reason)
		}
	}
}

// view takes a consistent look at the current upstreams and servers.
func (m *Metrics) view() []upstreamView {
	names := m.ups.Names()
	views := make([]upstreamView, 0, len(names))
	for _, name := range names {
		up := m.ups.Upstream(name)
		if up == nil {
			continue
		}
		v := upstreamView{up: up}
		up.View(func(servers []*upstream.Server) {
			labels := serverLabelsOf(servers)
			v.servers = make([]serverView, len(servers))
			for i, s := range servers {
				v.servers[i] = serverView{s: s, label: labels[s], weight: s.Weight, backup: s.Backup, apiID: s.APIID}
			}
		})
		views = append(views, v)
	}
	return views
}

// prune deletes the per-request series and cached children of servers
// and upstreams that are gone, so that they disappear from this scrape on.
func (m *Metrics) prune(views []upstreamView) {
	type owner struct {
		up  *live.Upstream
		key seriesKey
	}
	live := make(map[seriesKey]bool)
	liveUpstreams := make(map[string]bool, len(views))
	owners := make(map[any]owner)
	for _, v := range views {
		name := v.up.Name
		liveUpstreams[name] = true
		k := seriesKey{name, noServer}
		live[k] = true
		owners[v.up] = owner{v.up, k}
		for _, sv := range v.servers {
			k := seriesKey{name, sv.label}
			live[k] = true
			owners[sv.s] = owner{v.up, k}
		}
	}

	m.mu.Lock()
	for k := range m.series {
		if live[k] {
			continue
		}
		delete(m.series, k)
		m.duration.DeleteLabelValues(k.upstream, k.server)
		for _, class := range codeClasses {
			m.requests.DeleteLabelValues(k.upstream, k.server, class)
		}
		if !liveUpstreams[k.upstream] {
			m.retried.DeleteLabelValues(k.upstream)
			m.retries.DeleteLabelValues(k.upstream)
		}
	}
	m.mu.Unlock()

	m.cache.Range(func(key, value any) bool {
		c := value.(*children)
		if o, ok := owners[key]; !ok || o.up != c.up || o.key != c.key {
			m.cache.CompareAndDelete(key, value)
		}
		return true
	})
}

// collectServer emits the scrape-time metrics of one server.
func collectServer(ch chan<- prometheus.Metric, upstreamName string, sv serverView, now time.Time) {
	s := sv.s
	snap := s.Snapshot(now)
	state := s.State(now)
	lv := []string{upstreamName, sv.label}

	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, lv...)
	}

	ch <- prometheus.MustNewConstMetric(descInfo, prometheus.GaugeValue, 1,
		upstreamName, sv.label, s.Name, s.ID, strconv.Itoa(sv.apiID), strconv.FormatBool(sv.backup))
	gauge(descWeight, float64(sv.weight))
	for _, st := range states {
		v := 0.0
		if st == state {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, v, upstreamName, sv.label, st)
	}
	gauge(descActive, float64(snap.Active))
	counter(descAttempts, float64(snap.Requests))
	for i, class := range codeClasses {
		ch <- prometheus.MustNewConstMetric(descResponses, prometheus.CounterValue, float64(snap.Responses[i]), upstreamName, sv.label, class)
	}
	counter(descFails, float64(snap.Fails))
	counter(descUnavail, float64(snap.Unavail))
	counter(descChecks, float64(snap.Checks))
	counter(descCheckFails, float64(snap.CheckFails))
	counter(descUnhealthy, float64(snap.Unhealthy))
	if snap.LastCheckPassed != nil {
		v := 0.0
		if *snap.LastCheckPassed {
			v = 1
		}
		gauge(descLastCheck, v)
	}
	counter(descDowntime, snap.Downtime.Seconds())
	if !snap.Selected.IsZero() {
		gauge(descSelected, unixSeconds(snap.Selected))
	}
	if s.MaxConns > 0 {
		gauge(descMaxConns, float64(s.MaxConns))
	}
	counter(descPinned, float64(snap.Pinned))
	if !snap.PinnedLast.IsZero() {
		gauge(descPinnedLast, unixSeconds(snap.PinnedLast))
	}
}

// unixSeconds returns t in seconds since the Unix epoch.
func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
