// Package statuszone keeps the counters of NGINX Plus's `status_zone
// NAME` (ngx_http_api_module's server_zones and location_zones): per
// zone, the requests, the responses by class and by code, the requests
// that ended without a response, the bytes received and sent, and the
// requests being processed.
//
// The proxy counts into a Zone with atomics only, so the request path
// takes no lock; the Registry, which the runtime keeps across reloads,
// hands out the same Zone for the same kind and name, so the counters of
// a zone a new configuration still names go on counting, and lists the
// zones the configuration in effect names, for the API and the metrics.
package statuszone

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Kind tells a server zone (status_zone in a server block) from a
// location zone (in a location); NGINX Plus keeps the two apart, and so
// may one name be both.
type Kind uint8

// The kinds of zone.
const (
	Server Kind = iota
	Location
)

// String returns the kind as the NGINX Plus API names its lists'
// entries: "server" or "location".
func (k Kind) String() string {
	if k == Location {
		return "location"
	}
	return "server"
}

// minCode and maxCode bound the statuses counted by code; others count
// only in their class (or not at all outside 100 to 599).
const (
	minCode = 100
	maxCode = 599
)

// Zone is the counters of one status zone. Every method is safe for
// concurrent use.
type Zone struct {
	// Name and Kind identify the zone.
	Name string
	Kind Kind

	processing atomic.Int64
	requests   atomic.Int64
	discarded  atomic.Int64
	received   atomic.Int64
	sent       atomic.Int64
	classes    [5]atomic.Int64
	codes      [maxCode - minCode + 1]atomic.Int64
}

// Begin counts a request the zone starts to serve.
func (z *Zone) Begin() {
	z.requests.Add(1)
	z.processing.Add(1)
}

// End counts the end of a request Begin counted: the status sent (0 when
// none was: the request is "discarded", as NGINX Plus says), and the
// body bytes received from the client and sent to it.
func (z *Zone) End(status int, received, sent int64) {
	z.processing.Add(-1)
	z.received.Add(received)
	z.sent.Add(sent)
	if status < minCode || status > maxCode {
		z.discarded.Add(1)
		return
	}
	z.classes[status/100-1].Add(1)
	z.codes[status-minCode].Add(1)
}

// Stats is a zone's counters read at one time.
type Stats struct {
	Name       string
	Kind       Kind
	Processing int64
	Requests   int64
	// Responses are by class, "1xx" at 0 to "5xx" at 4; Codes by status,
	// only those seen.
	Responses [5]int64
	Codes     map[int]int64
	Discarded int64
	// Received and Sent are body bytes, header fields not counted.
	Received, Sent int64
}

// Stats reads the zone's counters.
func (z *Zone) Stats() Stats {
	s := Stats{Name: z.Name, Kind: z.Kind, Processing: z.processing.Load(), Requests: z.requests.Load(),
		Discarded: z.discarded.Load(), Received: z.received.Load(), Sent: z.sent.Load()}
	for i := range z.classes {
		s.Responses[i] = z.classes[i].Load()
	}
	for i := range z.codes {
		if n := z.codes[i].Load(); n > 0 {
			if s.Codes == nil {
				s.Codes = make(map[int]int64)
			}
			s.Codes[minCode+i] = n
		}
	}
	return s
}

type key struct {
	kind Kind
	name string
}

// Registry holds the zones, kept across configurations.
type Registry struct {
	// mu guards zones and active; the request path never takes it.
	mu     sync.Mutex
	zones  map[key]*Zone
	active []*Zone
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{zones: make(map[key]*Zone)} }

// Zone returns the zone of that kind and name, the same one every time.
func (r *Registry) Zone(kind Kind, name string) *Zone {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := key{kind, name}
	z := r.zones[k]
	if z == nil {
		z = &Zone{Name: name, Kind: kind}
		r.zones[k] = z
	}
	return z
}

// SetActive makes zones the ones the configuration in effect names;
// those no longer named are forgotten (a later configuration that names
// one again starts it from zero, as a reloaded NGINX Plus does).
func (r *Registry) SetActive(zones []*Zone) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := make(map[key]*Zone, len(zones))
	for _, z := range zones {
		keep[key{z.Kind, z.Name}] = z
	}
	for k := range r.zones {
		if keep[k] == nil {
			delete(r.zones, k)
		}
	}
	r.active = r.active[:0]
	for _, z := range keep {
		r.active = append(r.active, z)
	}
	slices.SortFunc(r.active, func(a, b *Zone) int {
		if a.Kind != b.Kind {
			return int(a.Kind) - int(b.Kind)
		}
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
}

// Active returns the zones of the configuration in effect, server zones
// first, each kind by name.
func (r *Registry) Active() []*Zone {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.active)
}

// Names returns the names of the active zones of kind, in order: what
// the API lists as its server_zones or location_zones.
func (r *Registry) Names(kind Kind) []string {
	var out []string
	for _, z := range r.Active() {
		if z.Kind == kind {
			out = append(out, z.Name)
		}
	}
	return out
}
