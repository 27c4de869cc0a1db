// Package sticky is where limpet decides, for every request, whether it
// keeps its user on the server it had (persistence) and, when it does not,
// why. Keeping all of it here, above the balancing algorithms, means every
// algorithm gets persistence for free and every persistence break is
// explained with one vocabulary: the access log, and later the metrics, the
// API and the dashboard all print the same Outcome and Reason.
package sticky

import "github.com/limpet-lb/limpet/internal/upstream"

// Outcome says whether a request stayed with its user's server.
type Outcome uint8

// The outcomes of a persistence decision.
const (
	// None: the upstream has no persistence configured.
	None Outcome = iota
	// Hit: the request went to the server its cookie named.
	Hit
	// New: the request had no usable persistence and was balanced.
	New
	// Reassigned: the request's server could not serve it, so the user
	// was moved to another server (and told so with a new cookie).
	Reassigned
)

var outcomeNames = [...]string{None: "-", Hit: "hit", New: "new", Reassigned: "reassigned"}

// String returns the outcome as it appears in logs: "hit", "new",
// "reassigned", or "-" when the upstream has no persistence.
func (o Outcome) String() string { return outcomeNames[o] }

// Reason says why a request was not a plain hit.
type Reason uint8

// The reasons behind New and Reassigned outcomes.
const (
	// NoReason accompanies Hit and None.
	NoReason Reason = iota
	// NoCookie: the request carried no persistence cookie.
	NoCookie
	// InvalidCookie: the cookie's value is malformed or names no server
	// of the upstream (forged, or the server was removed from the
	// configuration).
	InvalidCookie
	// Expired: the cookie carries its expiry (enforce_expiry) and arrived
	// after it.
	Expired
	// ServerDown: the cookie's server is marked down (configuration or
	// API).
	ServerDown
	// ServerUnavailable: the cookie's server is skipped after max_fails
	// failures within fail_timeout (nginx's "unavail").
	ServerUnavailable
	// ServerUnhealthy: the cookie's server fails its active health checks
	// (or a mandatory check has not passed yet).
	ServerUnhealthy
	// ServerFailed: the cookie's server failed while serving this very
	// request, and the request was retried on another server.
	ServerFailed
	// ServerRemoved: the cookie's server was removed from the upstream
	// while limpet runs (runtime API).
	ServerRemoved
	// Draining accompanies Hit: the user's server is draining and keeps
	// its pinned users.
	Draining
	// ServerFull: the cookie's server is at its max_conns, so the request
	// went to another server, as NGINX Plus does when "the designated
	// server cannot process a request". The user's cookie then names the
	// server that answered.
	ServerFull
)

var reasonNames = [...]string{
	NoReason:          "",
	NoCookie:          "no_cookie",
	InvalidCookie:     "invalid_cookie",
	Expired:           "expired",
	ServerDown:        "server_down",
	ServerUnavailable: "server_unavailable",
	ServerUnhealthy:   "server_unhealthy",
	ServerFailed:      "server_failed",
	ServerRemoved:     "server_removed",
	Draining:          "draining",
	ServerFull:        "server_full",
}

// Labels lists every label a decision can have, for metrics that must
// declare their label values up front and for documentation.
var Labels = []string{
	"hit", "hit/draining",
	"new/no_cookie", "new/invalid_cookie", "new/expired",
	"reassigned/server_down", "reassigned/server_unavailable", "reassigned/server_unhealthy",
	"reassigned/server_failed", "reassigned/server_removed", "reassigned/server_full",
}

// String returns the reason as it appears in logs, for example "no_cookie".
func (r Reason) String() string { return reasonNames[r] }

// labels holds every "outcome/reason" string, built once so that logging a
// decision never allocates.
var labels = func() map[[2]uint8]string {
	m := make(map[[2]uint8]string)
	for o := range outcomeNames {
		for r := range reasonNames {
			l := outcomeNames[o]
			if reasonNames[r] != "" {
				l += "/" + reasonNames[r]
			}
			m[[2]uint8{uint8(o), uint8(r)}] = l
		}
	}
	return m
}()

// Decision is the persistence decision for one request.
type Decision struct {
	// Server is the server the request must go to, or nil when the
	// balancer has to choose one.
	Server  *upstream.Server
	Outcome Outcome
	Reason  Reason
	// CookieID is the server ID the request's cookie named, "" if none.
	CookieID string
}

// labelIndex maps a decision to its place in Labels.
var labelIndex = func() map[[2]uint8]int {
	m := make(map[[2]uint8]int, len(Labels))
	for k, l := range labels {
		for i, want := range Labels {
			if l == want {
				m[k] = i
			}
		}
	}
	return m
}()

// Index returns the decision's place in Labels, or -1 when the upstream
// has no persistence, so counters can be kept in a fixed array.
func (d Decision) Index() int {
	if i, ok := labelIndex[[2]uint8{uint8(d.Outcome), uint8(d.Reason)}]; ok {
		return i
	}
	return -1
}

// Label returns "outcome/reason" ("hit", "new/no_cookie",
// "reassigned/server_down", "-"), the one spelling used everywhere.
func (d Decision) Label() string { return labels[[2]uint8{uint8(d.Outcome), uint8(d.Reason)}] }

// Failed records that server failed while serving the request: if it was
// the user's pinned server, the user is being reassigned because of it.
func (d *Decision) Failed(server *upstream.Server) {
	if d.Outcome == Hit && d.Server == server {
		d.Outcome, d.Reason = Reassigned, ServerFailed
	}
	d.Server = nil
}

// Full records that server, chosen for the request, turned out to be at
// its max_conns (another request took its last slot since Decide looked):
// if it was the user's pinned server, the user is reassigned because of it.
func (d *Decision) Full(server *upstream.Server) {
	if d.Outcome == Hit && d.Server == server {
		d.Outcome, d.Reason = Reassigned, ServerFull
	}
	d.Server = nil
}

// NeedsCookie reports whether the response must carry a new persistence
// cookie naming the server that answered: the user had none, had a useless
// one, or had one for another server. It decides alone under assign_only;
// otherwise every response carries the cookie (Cookie.Sends).
func (d *Decision) NeedsCookie(answered *upstream.Server) bool {
	return d.Outcome != None && answered != nil && answered.ID != d.CookieID
}
