package runtime

import (
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/limpet-lb/limpet/internal/config"
)

// The metrics endpoint parses as Prometheus text, and its counters match
// the traffic sent through limpet.
func TestMetricsMatchTraffic(t *testing.T) {
	app1, _ := healthyBackend(t, "app-01")
	app2, _ := healthyBackend(t, "app-02")
	conf := strings.Replace(dashboardConf, "location /dashboard/ { dashboard; }", "location = /metrics { metrics; }", 1)
	lb := startLimpet(t, conf, "{{app1}}", app1.addr(), "{{app2}}", app2.addr())

	user := newClient(t)
	for range 10 { // 1 new user, then 9 hits
		get(t, user, lb.url+"/")
	}
	for range 4 { // 4 more new users
		get(t, newClient(t), lb.url+"/")
	}
	get(t, newClient(t), lb.url+"/", "Cookie", "SERVERID=forged")

	res, err := http.Get(lb.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("the metrics do not parse as Prometheus text: %v", err)
	}
	sum := func(name string, match map[string]string) float64 {
		f := families[name]
		if f == nil {
			t.Fatalf("no metric %s", name)
		}
		var total float64
	metrics:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if want, ok := match[l.GetName()]; ok && want != l.GetValue() {
					continue metrics
				}
			}
			total += value(m)
		}
		return total
	}
	if got := sum("limpet_upstream_requests_total", map[string]string{"upstream": "backend", "code_class": "2xx"}); got != 15 {
		t.Errorf("requests counted %v, want 15", got)
	}
	decisions := map[string]float64{"hit": 9, "new/no_cookie": 5, "new/invalid_cookie": 1}
	for label, want := range decisions {
		outcome, reason, _ := strings.Cut(label, "/")
		if got := sum("limpet_sticky_decisions_total", map[string]string{"upstream": "backend", "outcome": outcome, "reason": reason}); got != want {
			t.Errorf("sticky %s counted %v, want %v", label, got, want)
		}
	}
	if got := sum("limpet_upstream_server_state", map[string]string{"upstream": "backend", "state": "up"}); got != 2 {
		t.Errorf("servers up: %v, want 2", got)
	}
	// The scrape's own connection at least; the clients' idle ones may
	// be open too.
	if got := sum("limpet_client_connections", nil); got < 1 || got > 7 {
		t.Errorf("client connections: %v, want 1 to 7", got)
	}
	if got := sum("limpet_client_connections_limit", nil); got != config.DefaultWorkerConnections {
		t.Errorf("client connections limit: %v, want %d", got, config.DefaultWorkerConnections)
	}
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return m.GetUntyped().GetValue()
}
