package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/limpet-lb/limpet/internal/statuszone"
)

// The status zones' metrics (status_zone NAME in server and location
// blocks, NGINX Plus's server_zones and location_zones), read from the
// zones' atomics at scrape time. Labelled by zone name and kind
// ("server" or "location"), and for responses by class or by status
// code: bounded by the configuration and by the 500 possible codes.
var (
	zoneLabels = []string{"zone", "kind"}

	descZoneProcessing = prometheus.NewDesc("limpet_zone_processing_requests",
		"Requests of the status zone being processed now.", zoneLabels, nil)
	descZoneRequests = prometheus.NewDesc("limpet_zone_requests_total",
		"Requests the status zone received.", zoneLabels, nil)
	descZoneResponses = prometheus.NewDesc("limpet_zone_responses_total",
		"Responses the status zone sent, by status class.", []string{"zone", "kind", lCodeClass}, nil)
	descZoneCodes = prometheus.NewDesc("limpet_zone_responses_by_code_total",
		"Responses the status zone sent, by status code; codes not seen yet are absent.", []string{"zone", "kind", "code"}, nil)
	descZoneDiscarded = prometheus.NewDesc("limpet_zone_discarded_requests_total",
		"Requests of the status zone that ended without a response (the client left first).", zoneLabels, nil)
	descZoneReceived = prometheus.NewDesc("limpet_zone_received_bytes_total",
		"Request body bytes the status zone read from clients (header fields not counted).", zoneLabels, nil)
	descZoneSent = prometheus.NewDesc("limpet_zone_sent_bytes_total",
		"Response body bytes the status zone sent to clients (header fields not counted).", zoneLabels, nil)

	zoneDescs = []*prometheus.Desc{descZoneProcessing, descZoneRequests, descZoneResponses,
		descZoneCodes, descZoneDiscarded, descZoneReceived, descZoneSent}
)

// StatusZones exports the counters of the zones active returns, the
// status zones of the configuration in effect, read at scrape time. Call
// it once.
func (m *Metrics) StatusZones(active func() []*statuszone.Zone) {
	m.reg.MustRegister(zoneCollector(active))
}

// zoneCollector collects the status zones' counters.
type zoneCollector func() []*statuszone.Zone

func (c zoneCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range zoneDescs {
		ch <- d
	}
}

func (c zoneCollector) Collect(ch chan<- prometheus.Metric) {
	for _, z := range c() {
		s := z.Stats()
		name, kind := s.Name, s.Kind.String()
		ch <- prometheus.MustNewConstMetric(descZoneProcessing, prometheus.GaugeValue, float64(s.Processing), name, kind)
		ch <- prometheus.MustNewConstMetric(descZoneRequests, prometheus.CounterValue, float64(s.Requests), name, kind)
		for i, n := range s.Responses {
			ch <- prometheus.MustNewConstMetric(descZoneResponses, prometheus.CounterValue, float64(n), name, kind, codeClasses[i])
		}
		for code, n := range s.Codes {
			ch <- prometheus.MustNewConstMetric(descZoneCodes, prometheus.CounterValue, float64(n), name, kind, strconv.Itoa(code))
		}
		ch <- prometheus.MustNewConstMetric(descZoneDiscarded, prometheus.CounterValue, float64(s.Discarded), name, kind)
		ch <- prometheus.MustNewConstMetric(descZoneReceived, prometheus.CounterValue, float64(s.Received), name, kind)
		ch <- prometheus.MustNewConstMetric(descZoneSent, prometheus.CounterValue, float64(s.Sent), name, kind)
	}
}
