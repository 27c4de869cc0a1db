package metrics

import (
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/limpet-lb/limpet/internal/balance"
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/sticky"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// stickyConfig is `sticky cookie srv;`.
var stickyConfig = config.StickyCookie{Name: "srv"}

// t0 is the tests' fixed clock.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return t0 }

// fakeUpstreams is the runtime's side of Upstreams.
type fakeUpstreams struct {
	mu  sync.Mutex // guards ups
	ups map[string]*live.Upstream
}

func newFakeUpstreams(ups ...*live.Upstream) *fakeUpstreams {
	f := &fakeUpstreams{ups: map[string]*live.Upstream{}}
	for _, u := range ups {
		f.ups[u.Name] = u
	}
	return f
}

func (f *fakeUpstreams) Names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.ups))
}

func (f *fakeUpstreams) Upstream(name string) *live.Upstream {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ups[name]
}

func (f *fakeUpstreams) remove(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.ups, name)
}

func newServer(addr string) *upstream.Server {
	return &upstream.Server{ID: upstream.IDFor(addr, ""), Name: addr, Addr: addr, Weight: 1}
}

func roundRobin(primary, backup []*upstream.Server) (balance.Balancer, balance.Balancer) {
	var b balance.Balancer
	if len(backup) > 0 {
		b = balance.NewRoundRobin(backup)
	}
	return balance.NewRoundRobin(primary), b
}

func newUpstream(name string, servers ...*upstream.Server) *live.Upstream {
	return live.New(name, live.Policy{}, servers)
}

// scrape fetches the metrics over real TCP and parses them.
func scrape(t testing.TB, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(res.Body)
		t.Fatalf("scrape: status %d: %s", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("scrape: Content-Type %q, want text/plain", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("scrape: parse: %v", err)
	}
	return families
}

// labels is a metric's label set, written "k=v,k=v" in test tables.
func labelsOf(m *dto.Metric) map[string]string {
	l := make(map[string]string, len(m.GetLabel()))
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

func parseLabels(s string) map[string]string {
	l := map[string]string{}
	if s == "" {
		return l
	}
	for kv := range strings.SplitSeq(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		l[k] = v
	}
	return l
}

// find returns the metric of family name whose labels are exactly want.
func find(families map[string]*dto.MetricFamily, name, want string) *dto.Metric {
	f := families[name]
	if f == nil {
		return nil
	}
	wl := parseLabels(want)
	for _, m := range f.GetMetric() {
		got := labelsOf(m)
		for k, v := range wl {
			if _, ok := got[k]; !ok && v == "" {
				got[k] = "" // the text format drops empty label values
			}
		}
		if maps.Equal(got, wl) {
			return m
		}
	}
	return nil
}

// value returns the value of a counter, gauge or untyped metric.
func value(t testing.TB, families map[string]*dto.MetricFamily, name, labels string) float64 {
	t.Helper()
	m := find(families, name, labels)
	if m == nil {
		t.Fatalf("no %s{%s} in the scrape; have %s", name, labels, series(families, name))
	}
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	}
	return m.GetUntyped().GetValue()
}

// series lists the label sets of a family, for failure messages.
func series(families map[string]*dto.MetricFamily, name string) string {
	var out []string
	for _, m := range families[name].GetMetric() {
		var kv []string
		for _, p := range m.GetLabel() {
			kv = append(kv, p.GetName()+"="+p.GetValue())
		}
		out = append(out, "{"+strings.Join(kv, ",")+"}")
	}
	return strings.Join(out, " ")
}

// limpetSeries counts the series of limpet's own families (histogram
// buckets counted once per histogram).
func limpetSeries(families map[string]*dto.MetricFamily) int {
	n := 0
	for name, f := range families {
		if strings.HasPrefix(name, "limpet_") {
			n += len(f.GetMetric())
		}
	}
	return n
}

func TestServerMetricsReadTheServersAtomics(t *testing.T) {
	a, b, c := newServer("10.0.0.1:80"), newServer("10.0.0.2:80"), newServer("10.0.0.3:80")
	a.Name = "app1.internal:80"
	a.MaxFails, a.FailTimeout = 1, 30*time.Second
	c.Backup = true
	c.Weight = 5
	up := newUpstream("app", a, b, c)
	m := New(newFakeUpstreams(up), clock)

	// a: three attempts, one still running; answers 200, 200, 503; one
	// failure made it unavailable 4s ago; two health checks, the last
	// one failed.
	for range 3 {
		a.Begin()
	}
	a.End()
	a.End()
	a.RecordResponse(200)
	a.RecordResponse(200)
	a.RecordResponse(503)
	a.RecordFailure(t0.Add(-4 * time.Second))
	a.RecordCheck(true)
	a.RecordCheck(false)
	a.RecordSelected(t0.Add(-5 * time.Second))
	// b: draining, its pinned users still around 2s ago.
	b.SetDraining(true)
	b.RecordPinned(t0.Add(-3 * time.Second))
	b.RecordPinned(t0.Add(-2 * time.Second))
	// c: unhealthy for 10s.
	c.SetHealth(upstream.HealthUnhealthy, t0.Add(-10*time.Second))

	f := scrape(t, m)
	const A, B, C = "upstream=app,server=10.0.0.1:80", "upstream=app,server=10.0.0.2:80", "upstream=app,server=10.0.0.3:80"
	tests := []struct {
		name, labels string
		want         float64
	}{
		{"limpet_upstream_server_info", A + ",name=app1.internal:80,id=" + a.ID + ",api_id=0,backup=false", 1},
		{"limpet_upstream_server_info", C + ",name=10.0.0.3:80,id=" + c.ID + ",api_id=2,backup=true", 1},
		{"limpet_upstream_server_weight", A, 1},
		{"limpet_upstream_server_weight", C, 5},
		{"limpet_upstream_server_active_requests", A, 1},
		{"limpet_upstream_server_active_requests", B, 0},
		{"limpet_upstream_server_requests_total", A, 3},
		{"limpet_upstream_server_responses_total", A + ",code_class=2xx", 2},
		{"limpet_upstream_server_responses_total", A + ",code_class=5xx", 1},
		{"limpet_upstream_server_responses_total", A + ",code_class=4xx", 0},
		{"limpet_upstream_server_fails_total", A, 1},
		{"limpet_upstream_server_unavailable_total", A, 1},
		{"limpet_upstream_server_health_checks_total", A, 2},
		{"limpet_upstream_server_health_check_fails_total", A, 1},
		{"limpet_upstream_server_health_check_last_passed", A, 0},
		{"limpet_upstream_server_downtime_seconds_total", A, 4},
		{"limpet_upstream_server_downtime_seconds_total", B, 0},
		{"limpet_upstream_server_downtime_seconds_total", C, 10},
		{"limpet_upstream_server_unhealthy_total", C, 1},
		{"limpet_upstream_server_last_selected_timestamp_seconds", A, float64(t0.Unix() - 5)},
		{"limpet_upstream_server_pinned_requests_total", B, 2},
		{"limpet_upstream_server_pinned_last_seen_timestamp_seconds", B, float64(t0.Unix() - 2)},

		{"limpet_upstream_server_state", A + ",state=unavail", 1},
		{"limpet_upstream_server_state", A + ",state=up", 0},
		{"limpet_upstream_server_state", B + ",state=draining", 1},
		{"limpet_upstream_server_state", B + ",state=up", 0},
		{"limpet_upstream_server_state", C + ",state=unhealthy", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name+"{"+tt.labels+"}", func(t *testing.T) {
			if got := value(t, f, tt.name, tt.labels); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("one state per server", func(t *testing.T) {
		sum := map[string]float64{}
		n := map[string]int{}
		for _, mt := range f["limpet_upstream_server_state"].GetMetric() {
			s := labelsOf(mt)["server"]
			sum[s] += mt.GetGauge().GetValue()
			n[s]++
		}
		for _, s := range []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"} {
			if sum[s] != 1 || n[s] != 6 {
				t.Errorf("server %s: %d state series summing to %v, want 6 summing to 1", s, n[s], sum[s])
			}
		}
	})
	t.Run("absent until known", func(t *testing.T) {
		for _, tt := range []struct{ name, labels string }{
			{"limpet_upstream_server_health_check_last_passed", B},
			{"limpet_upstream_server_health_check_last_passed", C},
			{"limpet_upstream_server_pinned_last_seen_timestamp_seconds", A},
			{"limpet_upstream_server_last_selected_timestamp_seconds", B},
		} {
			if find(f, tt.name, tt.labels) != nil {
				t.Errorf("%s{%s} present before any such event", tt.name, tt.labels)
			}
		}
	})
	t.Run("go and process collectors", func(t *testing.T) {
		for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
			if f[name] == nil {
				t.Errorf("no %s in the scrape", name)
			}
		}
	})
	t.Run("scrapes again at once", func(t *testing.T) {
		a.Begin()
		a.RecordResponse(404)
		f := scrape(t, m)
		if got := value(t, f, "limpet_upstream_server_requests_total", A); got != 4 {
			t.Errorf("requests after one more attempt: got %v, want 4", got)
		}
		if got := value(t, f, "limpet_upstream_server_responses_total", A+",code_class=4xx"); got != 1 {
			t.Errorf("4xx after a 404: got %v, want 1", got)
		}
	})
}

func TestObserveRequest(t *testing.T) {
	a, b := newServer("10.0.0.1:80"), newServer("10.0.0.2:80")
	up := newUpstream("app", a, b)
	m := New(newFakeUpstreams(up), clock)
	hit := sticky.Decision{Outcome: sticky.Hit, Server: a}

	m.ObserveRequest(up, a, 200, 30*time.Millisecond, hit, 1)
	m.ObserveRequest(up, a, 204, 40*time.Millisecond, sticky.Decision{}, 1)
	m.ObserveRequest(up, a, 502, 2*time.Second, hit, 3) // two retries, then a 502 from a
	m.ObserveRequest(up, b, 499, 5*time.Millisecond, sticky.Decision{}, 2)
	m.ObserveRequest(up, nil, 502, time.Millisecond, sticky.Decision{}, 0) // no live upstreams

	f := scrape(t, m)
	const A, B, none = "upstream=app,server=10.0.0.1:80", "upstream=app,server=10.0.0.2:80", "upstream=app,server=none"
	counters := []struct {
		name, labels string
		want         float64
	}{
		{"limpet_upstream_requests_total", A + ",code_class=2xx", 2},
		{"limpet_upstream_requests_total", A + ",code_class=5xx", 1},
		{"limpet_upstream_requests_total", A + ",code_class=4xx", 0},
		{"limpet_upstream_requests_total", B + ",code_class=4xx", 1},
		{"limpet_upstream_requests_total", none + ",code_class=5xx", 1},
		{"limpet_upstream_retried_requests_total", "upstream=app", 2},
		{"limpet_upstream_retries_total", "upstream=app", 3},
	}
	for _, tt := range counters {
		if got := value(t, f, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s{%s}: got %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}

	histograms := []struct {
		labels string
		count  uint64
		sum    float64
		le     map[float64]uint64 // cumulative bucket counts
	}{
		{A, 3, 2.07, map[float64]uint64{0.025: 0, 0.05: 2, 1: 2, 2.5: 3, 60: 3}},
		{B, 1, 0.005, map[float64]uint64{0.0025: 0, 0.005: 1}},
		{none, 1, 0.001, map[float64]uint64{0.001: 1}},
	}
	for _, tt := range histograms {
		mt := find(f, "limpet_upstream_request_duration_seconds", tt.labels)
		if mt == nil {
			t.Fatalf("no latency histogram for {%s}", tt.labels)
		}
		h := mt.GetHistogram()
		if h.GetSampleCount() != tt.count || math.Abs(h.GetSampleSum()-tt.sum) > 1e-9 {
			t.Errorf("{%s}: count %d sum %v, want %d and %v", tt.labels, h.GetSampleCount(), h.GetSampleSum(), tt.count, tt.sum)
		}
		buckets := map[float64]uint64{}
		for _, bk := range h.GetBucket() {
			buckets[bk.GetUpperBound()] = bk.GetCumulativeCount()
		}
		for le, want := range tt.le {
			if got, ok := buckets[le]; !ok || got != want {
				t.Errorf("{%s} bucket le=%v: got %d (present %v), want %d", tt.labels, le, got, ok, want)
			}
		}
	}
}

func TestLabelCardinalityIsBounded(t *testing.T) {
	a, b := newServer("10.0.0.1:80"), newServer("10.0.0.2:80")
	up := live.New("app", live.Policy{Sticky: sticky.NewCookie(stickyConfig)}, []*upstream.Server{a, b})
	m := New(newFakeUpstreams(up), clock)
	decisions := []sticky.Decision{
		{}, {Outcome: sticky.Hit}, {Outcome: sticky.Hit, Reason: sticky.Draining},
		{Outcome: sticky.New, Reason: sticky.NoCookie}, {Outcome: sticky.New, Reason: sticky.InvalidCookie, CookieID: "forged"},
		{Outcome: sticky.Reassigned, Reason: sticky.ServerFailed},
	}
	observe := func(i int) {
		s := []*upstream.Server{a, b, nil}[i%3]
		m.ObserveRequest(up, s, 100+i%500, time.Duration(i)*time.Millisecond, decisions[i%len(decisions)], 1+i%4)
	}
	for i := range 3 {
		observe(i) // every server has been seen once
	}
	before := limpetSeries(scrape(t, m))
	for i := range 1000 {
		observe(i)
	}
	f := scrape(t, m)
	if after := limpetSeries(f); after != before {
		t.Errorf("1,000 observations of the same servers changed the series from %d to %d", before, after)
	}
	// Per server: info, weight, 6 states, active, requests, 5 response
	// classes, fails, unavailable, checks, check fails, unhealthy,
	// downtime, pinned = 22 (the timestamps and the last check result
	// are absent until known), plus 5 request classes and 1 histogram
	// observed = 28; per upstream: one series per sticky decision label,
	// retried, retries, and the "none" server's 5 classes and histogram.
	if want := 2*28 + len(sticky.Labels) + 8; before != want {
		t.Errorf("series: got %d, want %d", before, want)
	}
	if n := len(f["limpet_sticky_decisions_total"].GetMetric()); n != len(sticky.Labels) {
		t.Errorf("sticky decision series: got %d, want %d (one per label)", n, len(sticky.Labels))
	}
}

func TestServersAddedAndRemovedAtRunTime(t *testing.T) {
	a, b := newServer("10.0.0.1:80"), newServer("10.0.0.2:80")
	up := newUpstream("app", a, b)
	other := newUpstream("other", newServer("10.0.1.1:80"))
	ups := newFakeUpstreams(up, other)
	m := New(ups, clock)
	m.ObserveRequest(up, a, 200, time.Millisecond, sticky.Decision{}, 1)
	m.ObserveRequest(up, b, 200, time.Millisecond, sticky.Decision{}, 2)
	m.ObserveRequest(other, nil, 502, time.Millisecond, sticky.Decision{}, 0)
	scrape(t, m)

	c := newServer("10.0.0.3:80")
	if err := up.Update(func(cur []*upstream.Server) ([]*upstream.Server, error) {
		return []*upstream.Server{cur[0], c}, nil // b removed, c added
	}); err != nil {
		t.Fatal(err)
	}
	ups.remove("other")
	f := scrape(t, m)

	if got := value(t, f, "limpet_upstream_server_info", "upstream=app,server=10.0.0.3:80,name=10.0.0.3:80,id="+c.ID+",api_id=2,backup=false"); got != 1 {
		t.Errorf("added server's info: got %v", got)
	}
	if got := value(t, f, "limpet_upstream_requests_total", "upstream=app,server=10.0.0.1:80,code_class=2xx"); got != 1 {
		t.Errorf("kept server's requests: got %v, want 1", got)
	}
	for name, fam := range f {
		for _, mt := range fam.GetMetric() {
			l := labelsOf(mt)
			if l["server"] == "10.0.0.2:80" || l["upstream"] == "other" {
				t.Errorf("%s%v still exported after its server or upstream was removed", name, l)
			}
		}
	}
	// The retry counters stay for the upstream that is still there.
	if got := value(t, f, "limpet_upstream_retried_requests_total", "upstream=app"); got != 1 {
		t.Errorf("retried requests of app: got %v, want 1", got)
	}

	// A request that ends after its server was removed does not bring
	// the server back for good.
	m.ObserveRequest(up, b, 200, time.Millisecond, sticky.Decision{}, 1)
	f = scrape(t, m)
	if mt := find(f, "limpet_upstream_request_duration_seconds", "upstream=app,server=10.0.0.2:80"); mt != nil {
		t.Errorf("removed server's histogram is back after a late request")
	}
	if _, ok := m.cache.Load(b); ok {
		t.Errorf("removed server still cached after a scrape")
	}
}

func TestReloadKeepsCountersOfTheSameServers(t *testing.T) {
	a := newServer("10.0.0.1:80")
	up := newUpstream("app", a)
	ups := newFakeUpstreams(up)
	m := New(ups, clock)
	m.ObserveRequest(up, a, 200, time.Millisecond, sticky.Decision{}, 1)
	scrape(t, m)

	// A reload builds a new *live.Upstream of the same name and server.
	up2 := newUpstream("app", a)
	ups.mu.Lock()
	ups.ups["app"] = up2
	ups.mu.Unlock()
	m.ObserveRequest(up2, a, 200, time.Millisecond, sticky.Decision{}, 1)
	f := scrape(t, m)
	if got := value(t, f, "limpet_upstream_requests_total", "upstream=app,server=10.0.0.1:80,code_class=2xx"); got != 2 {
		t.Errorf("requests across a reload: got %v, want 2", got)
	}
}

func TestSameAddressTwiceGetsDistinctSeries(t *testing.T) {
	a, b := newServer("10.0.0.1:80"), newServer("10.0.0.1:80")
	up := newUpstream("app", a, b)
	m := New(newFakeUpstreams(up), clock)
	m.ObserveRequest(up, b, 200, time.Millisecond, sticky.Decision{}, 1)
	f := scrape(t, m)
	for _, labels := range []string{"upstream=app,server=10.0.0.1:80", "upstream=app,server=10.0.0.1:80#1"} {
		if got := value(t, f, "limpet_upstream_server_weight", labels); got != 1 {
			t.Errorf("weight{%s}: got %v", labels, got)
		}
	}
	if got := value(t, f, "limpet_upstream_requests_total", "upstream=app,server=10.0.0.1:80#1,code_class=2xx"); got != 1 {
		t.Errorf("requests of the second server: got %v, want 1", got)
	}
}

func TestCollectorIsConsistentAndLintClean(t *testing.T) {
	a := newServer("10.0.0.1:80")
	up := live.New("app", live.Policy{Sticky: sticky.NewCookie(stickyConfig)}, []*upstream.Server{a})
	a.RecordCheck(true)
	a.RecordPinned(t0)
	a.RecordSelected(t0)
	m := New(newFakeUpstreams(up), clock)
	m.ObserveRequest(up, a, 200, time.Millisecond, sticky.Decision{}, 2)

	// A pedantic registry checks that every metric collected was
	// described, and that no two series collide.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister((*collector)(m))
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("pedantic gather: %v", err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	// Every family is limpet's.
	families, _ := reg.Gather()
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "limpet_") {
			t.Errorf("metric %s lacks the limpet_ prefix", f.GetName())
		}
	}
}

func TestConcurrentObserveScrapeAndUpdate(t *testing.T) {
	servers := []*upstream.Server{newServer("10.0.0.1:80"), newServer("10.0.0.2:80"), newServer("10.0.0.3:80")}
	up := newUpstream("app", servers...)
	m := New(newFakeUpstreams(up), clock)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 5000 {
				m.ObserveRequest(up, servers[(g+i)%3], 200, time.Millisecond, sticky.Decision{}, 1)
			}
		})
	}
	wg.Go(func() {
		for i := range 500 {
			_ = up.Update(func([]*upstream.Server) ([]*upstream.Server, error) {
				return servers[:1+i%3], nil
			})
		}
	})
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	scrape(t, m)
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			scrape(t, m)
		}
	}
	// Settle on the first server: nothing of the others remains after a
	// scrape.
	_ = up.Update(func([]*upstream.Server) ([]*upstream.Server, error) { return servers[:1], nil })
	f := scrape(t, m)
	for name, fam := range f {
		for _, mt := range fam.GetMetric() {
			if s, ok := labelsOf(mt)["server"]; ok && s != "10.0.0.1:80" && s != noServer {
				t.Errorf("%s{server=%q} left after the server was removed", name, s)
			}
		}
	}
}

func BenchmarkObserveRequest(b *testing.B) {
	s := newServer("10.0.0.1:80")
	up := newUpstream("app", s)
	m := New(newFakeUpstreams(up), clock)
	dec := sticky.Decision{Outcome: sticky.Hit, Server: s}
	m.ObserveRequest(up, s, 200, time.Millisecond, dec, 1)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.ObserveRequest(up, s, 200, time.Duration(i%1000)*time.Microsecond, dec, 1+i%2)
	}
}

func BenchmarkObserveRequestParallel(b *testing.B) {
	servers := make([]*upstream.Server, 8)
	for i := range servers {
		servers[i] = newServer(fmt.Sprintf("10.0.0.%d:80", i+1))
	}
	up := newUpstream("app", servers...)
	m := New(newFakeUpstreams(up), clock)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.ObserveRequest(up, servers[i%len(servers)], 200, time.Millisecond, sticky.Decision{}, 1)
			i++
		}
	})
}
