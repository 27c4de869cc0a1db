package runtime

import (
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrapeZones returns the limpet_zone_* samples of lb's metrics, keyed
// by the metric's name and its labels ("name{zone=a,kind=server}").
func scrapeZones(t *testing.T, url string) map[string]float64 {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("the metrics do not parse: %v", err)
	}
	out := make(map[string]float64)
	for name, f := range families {
		if !strings.HasPrefix(name, "limpet_zone_") {
			continue
		}
		for _, m := range f.GetMetric() {
			out[name+labelString(m)] = value(m)
		}
	}
	return out
}

func labelString(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// TestStatusZones: status_zone in a server and in a location counts the
// requests, responses by class and code, and body bytes, visible in
// /metrics; the counters go on across a reload that keeps the zone, and
// a zone the new configuration drops is gone.
func TestStatusZones(t *testing.T) {
	app := newBackend(t, "app")
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/missing" {
			w.WriteHeader(http.StatusNotFound)
		}
		_, _ = w.Write([]byte("12345"))
	})
	const conf = `
upstream app { server {{app}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    status_zone site;
    location / { proxy_pass http://app; }
    location /api/ { status_zone {{api}}; proxy_pass http://app; }
    location = /metrics { metrics; }
}`
	lb := startLimpet(t, conf, "{{app}}", app.addr(), "{{api}}", "api")
	c := newClient(t)
	get(t, c, lb.url+"/")
	get(t, c, lb.url+"/api/x")
	get(t, c, lb.url+"/api/missing")
	req, _ := http.NewRequest(http.MethodPost, lb.url+"/api/post", strings.NewReader("a body of 19 bytes."))
	do(t, c, req)

	got := scrapeZones(t, lb.url+"/metrics")
	want := map[string]float64{
		// The server's zone counts all its requests; the scrape itself
		// is counted in flight and as a request, its response not yet.
		"limpet_zone_requests_total{kind=server,zone=site}":                    5,
		"limpet_zone_processing_requests{kind=server,zone=site}":               1,
		"limpet_zone_responses_total{code_class=2xx,kind=server,zone=site}":    3,
		"limpet_zone_responses_total{code_class=4xx,kind=server,zone=site}":    1,
		"limpet_zone_responses_by_code_total{code=200,kind=server,zone=site}":  3,
		"limpet_zone_responses_by_code_total{code=404,kind=server,zone=site}":  1,
		"limpet_zone_sent_bytes_total{kind=server,zone=site}":                  20,
		"limpet_zone_received_bytes_total{kind=server,zone=site}":              19,
		"limpet_zone_requests_total{kind=location,zone=api}":                   3,
		"limpet_zone_processing_requests{kind=location,zone=api}":              0,
		"limpet_zone_responses_total{code_class=2xx,kind=location,zone=api}":   2,
		"limpet_zone_responses_by_code_total{code=404,kind=location,zone=api}": 1,
		"limpet_zone_received_bytes_total{kind=location,zone=api}":             19,
		"limpet_zone_sent_bytes_total{kind=location,zone=api}":                 15,
		"limpet_zone_discarded_requests_total{kind=location,zone=api}":         0,
		"limpet_zone_responses_total{code_class=5xx,kind=location,zone=api}":   0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}

	// A reload that keeps "site" and renames the location's zone.
	if err := lb.reload(t, conf, "{{app}}", app.addr(), "{{api}}", "api2"); err != nil {
		t.Fatal(err)
	}
	get(t, c, lb.url+"/api/x")
	got = scrapeZones(t, lb.url+"/metrics")
	if v := got["limpet_zone_requests_total{kind=server,zone=site}"]; v != 7 {
		t.Errorf("site after the reload: %v requests, want 7", v)
	}
	if v := got["limpet_zone_requests_total{kind=location,zone=api2}"]; v != 1 {
		t.Errorf("api2: %v requests, want 1", v)
	}
	if _, ok := got["limpet_zone_requests_total{kind=location,zone=api}"]; ok {
		t.Error("the dropped zone api is still exported")
	}
}
