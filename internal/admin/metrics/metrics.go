// Package metrics exports limpet's state to Prometheus.
//
// Most of what an operator wants to graph is already counted by the proxy
// in atomics on each upstream.Server (requests, responses by class,
// failures, health checks, downtime, requests in flight) and on each
// live.Upstream (persistence decisions). Those are not counted twice:
// a custom collector reads the same atomics at scrape time that the
// runtime API reads, so the API, the dashboard and Prometheus never
// disagree, and the request path pays nothing for them. Servers added or
// removed at run time appear or disappear at the next scrape.
//
// Only what exists nowhere else is observed per request, through
// proxy.Observer: the latency histogram, the status class sent to the
// client, and retries. ObserveRequest looks up the metric children of a
// server in a sync.Map keyed by the server's pointer, so the hot path
// neither allocates nor builds label values.
//
// Cardinality is bounded by construction: every label is an upstream name,
// a server address, a status class ("1xx" to "5xx"), one of the six server
// states, or a persistence outcome and reason from sticky.Labels. Nothing
// is labelled by client, cookie, URI or time. Series of servers that are
// no longer configured are deleted at the next scrape.
//
// This file declares every metric limpet exports.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/limpet-lb/limpet/internal/live"
)

// Upstreams is what the metrics read: the live upstreams by name. The
// runtime implements it; both methods must be safe for concurrent use, and
// Upstream returns nil for a name that is gone.
type Upstreams interface {
	// Names returns the names of the current upstreams.
	Names() []string
	// Upstream returns the live upstream of that name, or nil.
	Upstream(name string) *live.Upstream
}

// Metrics observes proxied requests and serves limpet's metrics. Create
// it once with New and keep it across configuration reloads, so that the
// per-request counters stay monotonic.
type Metrics struct {
	ups     Upstreams
	now     func() time.Time
	reg     *prometheus.Registry
	handler http.Handler

	// Observed per request (observe.go).
	duration *prometheus.HistogramVec // {upstream, server}
	requests *prometheus.CounterVec   // {upstream, server, code_class}
	retried  *prometheus.CounterVec   // {upstream}
	retries  *prometheus.CounterVec   // {upstream}

	// cache maps a *upstream.Server (or, for requests no server could
	// take, its *live.Upstream) to its *children, so ObserveRequest
	// resolves no labels. Entries of servers that are gone are pruned
	// at scrape time.
	cache sync.Map

	// mu guards series: the label pairs that have per-request children,
	// so a scrape can delete those of servers that are gone. It is taken
	// only when a server is first observed and at scrape time.
	mu     sync.Mutex
	series map[seriesKey]bool
}

// Label names.
const (
	lUpstream  = "upstream"
	lServer    = "server"
	lCodeClass = "code_class"
	lState     = "state"
	lOutcome   = "outcome"
	lReason    = "reason"
)

// noServer is the server label of requests for which no server could be
// tried (nginx's "no live upstreams"): a server address never reads so.
const noServer = "none"

// codeClasses are the values of the code_class label, by status/100 - 1.
var codeClasses = [5]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// latencyBuckets (seconds) span a fast cache hit to nginx's default
// proxy_read_timeout of 60s.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// Metrics read from the servers' and upstreams' atomics at scrape time
// (collect.go). Every one but the sticky decisions is labelled by upstream
// name and server address.
var (
	serverLabels = []string{lUpstream, lServer}

	descInfo = prometheus.NewDesc("limpet_upstream_server_info",
		"A server of an upstream: its name as configured, its stable ID (the sticky cookie value), its number in the runtime API, and whether it is a backup. Always 1.",
		[]string{lUpstream, lServer, "name", "id", "api_id", "backup"}, nil)
	descWeight = prometheus.NewDesc("limpet_upstream_server_weight",
		"The configured weight of the server.", serverLabels, nil)
	descState = prometheus.NewDesc("limpet_upstream_server_state",
		`The server's current state: 1 for the state it is in, 0 for the others ("up", "draining", "down", "unavail", "checking", "unhealthy", as in the NGINX Plus API).`,
		[]string{lUpstream, lServer, lState}, nil)
	descActive = prometheus.NewDesc("limpet_upstream_server_active_requests",
		"Requests in flight to the server.", serverLabels, nil)
	descAttempts = prometheus.NewDesc("limpet_upstream_server_requests_total",
		"Attempts sent to the server, retries included (the NGINX Plus API's peer \"requests\").", serverLabels, nil)
	descResponses = prometheus.NewDesc("limpet_upstream_server_responses_total",
		"Responses received from the server, by status class.", []string{lUpstream, lServer, lCodeClass}, nil)
	descFails = prometheus.NewDesc("limpet_upstream_server_fails_total",
		"Failed attempts to the server (errors, timeouts, and statuses listed in proxy_next_upstream).", serverLabels, nil)
	descUnavail = prometheus.NewDesc("limpet_upstream_server_unavailable_total",
		"Times the server became unavailable after max_fails failures within fail_timeout.", serverLabels, nil)
	descChecks = prometheus.NewDesc("limpet_upstream_server_health_checks_total",
		"Active health checks made on the server.", serverLabels, nil)
	descCheckFails = prometheus.NewDesc("limpet_upstream_server_health_check_fails_total",
		"Active health checks of the server that failed.", serverLabels, nil)
	descUnhealthy = prometheus.NewDesc("limpet_upstream_server_unhealthy_total",
		"Times the server became unhealthy.", serverLabels, nil)
	descLastCheck = prometheus.NewDesc("limpet_upstream_server_health_check_last_passed",
		"1 if the server's last active health check passed, 0 if it failed; absent before the first check.", serverLabels, nil)
	descDowntime = prometheus.NewDesc("limpet_upstream_server_downtime_seconds_total",
		"Time the server spent unavailable, unhealthy or checking, the running period included.", serverLabels, nil)
	descSelected = prometheus.NewDesc("limpet_upstream_server_last_selected_timestamp_seconds",
		"When the server was last chosen for a request, in seconds since the Unix epoch; absent if never.", serverLabels, nil)
	descPinned = prometheus.NewDesc("limpet_upstream_server_pinned_requests_total",
		"Requests of users pinned to the server by persistence (sticky hits), draining or not.", serverLabels, nil)
	descPinnedLast = prometheus.NewDesc("limpet_upstream_server_pinned_last_seen_timestamp_seconds",
		"When a user pinned to the server last sent a request, in seconds since the Unix epoch; absent if never. Tells when a draining server can be stopped.", serverLabels, nil)

	descMaxConns = prometheus.NewDesc("limpet_upstream_server_max_conns",
		"The server's max_conns: the most requests in flight to it at once; absent when it has no bound.", serverLabels, nil)

	descQueueSize = prometheus.NewDesc("limpet_upstream_queue_size",
		"Requests waiting in the upstream's queue (queue N) for a server at its max_conns to free a slot; absent without a queue.", []string{lUpstream}, nil)
	descQueueMax = prometheus.NewDesc("limpet_upstream_queue_max_size",
		"The most requests the upstream's queue holds (queue N); absent without a queue.", []string{lUpstream}, nil)
	descQueueOverflows = prometheus.NewDesc("limpet_upstream_queue_overflows_total",
		"Requests answered 502 at once because the upstream's queue was full; absent without a queue.", []string{lUpstream}, nil)

	descSticky = prometheus.NewDesc("limpet_sticky_decisions_total",
		`Persistence decisions of an upstream with sticky cookies. outcome is "hit", "new" or "reassigned"; reason says why a request was not a plain hit ("no_cookie", "invalid_cookie", "expired", "server_down", "server_unavailable", "server_unhealthy", "server_failed", "server_removed", "server_full"), or "draining" for hits on a draining server, and is empty for plain hits.`,
		[]string{lUpstream, lOutcome, lReason}, nil)

	scrapeDescs = []*prometheus.Desc{
		descInfo, descWeight, descState, descActive, descAttempts, descResponses, descFails,
		descUnavail, descChecks, descCheckFails, descUnhealthy, descLastCheck, descDowntime,
		descSelected, descPinned, descPinnedLast, descMaxConns, descQueueSize, descQueueMax,
		descQueueOverflows, descSticky,
	}
)

// New returns the metrics of the upstreams ups, reading server states and
// downtimes at now (time.Now if nil), with their own registry (not
// Prometheus's global one) holding also the Go runtime and process
// collectors.
func New(ups Upstreams, now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	m := &Metrics{
		ups:    ups,
		now:    now,
		reg:    prometheus.NewRegistry(),
		series: make(map[seriesKey]bool),

		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "limpet_upstream_request_duration_seconds",
			Help:    `Time to serve requests proxied to an upstream, retries included, by the server that answered last (server="none" when no server could be tried).`,
			Buckets: latencyBuckets,
		}, serverLabels),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "limpet_upstream_requests_total",
			Help: `Requests proxied to an upstream, by the server that answered last (server="none" when no server could be tried) and the class of the status sent to the client (limpet's own 502, 504 and 499 included).`,
		}, []string{lUpstream, lServer, lCodeClass}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "limpet_upstream_retried_requests_total",
			Help: "Requests proxied to an upstream that needed more than one attempt.",
		}, []string{lUpstream}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "limpet_upstream_retries_total",
			Help: "Attempts beyond the first made for requests proxied to an upstream (proxy_next_upstream).",
		}, []string{lUpstream}),
	}
	m.reg.MustRegister(
		(*collector)(m),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A failing collector (say, /proc unreadable) must not hide
		// limpet's own metrics.
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})
	return m
}

// ClientConnections exports the number of client connections open, read
// from active at scrape time, and the most allowed (worker_connections),
// from max. Call it once.
func (m *Metrics) ClientConnections(active, max func() int) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "limpet_client_connections",
			Help: "Client connections open now, over all listeners, idle ones included.",
		}, func() float64 { return float64(active()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "limpet_client_connections_limit",
			Help: "The most client connections limpet keeps open at once (worker_connections).",
		}, func() float64 { return float64(max()) }),
	)
}

// TLSHandshakeFailures exports the failed TLS handshakes of client
// connections, read from count at scrape time. Call it once.
func (m *Metrics) TLSHandshakeFailures(count func() int64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "limpet_tls_handshake_failures_total",
		Help: "TLS handshakes of client connections that failed (plain HTTP on a TLS port, timeouts, protocol or cipher mismatches, clients that left).",
	}, func() float64 { return float64(count()) }))
}

// Reloads exports the configuration reloads by result, read from counts
// at scrape time: limpet_reloads_total{result="ok"|"failed"}, where a
// failed reload is one whose configuration was refused (the old one went
// on serving). Call it once.
func (m *Metrics) Reloads(counts func() (ok, failed int64)) {
	m.reg.MustRegister(reloadCollector(counts))
}

// reloadCollector collects the reload counters.
type reloadCollector func() (ok, failed int64)

var descReloads = prometheus.NewDesc("limpet_reloads_total",
	"Configuration reloads, by result: ok, or failed (the configuration was refused and the old one kept serving).",
	[]string{"result"}, nil)

func (c reloadCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descReloads }

func (c reloadCollector) Collect(ch chan<- prometheus.Metric) {
	ok, failed := c()
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(ok), "ok")
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(failed), "failed")
}

// Handler returns the handler that serves the metrics in Prometheus's
// text format (or OpenMetrics, when the scraper asks for it).
func (m *Metrics) Handler() http.Handler { return m.handler }
