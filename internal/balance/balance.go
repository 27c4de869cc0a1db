// Package balance holds limpet's load-balancing methods, one per file, each
// behind the same small Balancer interface: smooth weighted round-robin
// (roundrobin.go), least connections (leastconn.go), random with optional
// power of two choices (random.go), nginx's ip_hash (iphash.go) and generic
// or ketama-consistent hashing (hash.go).
//
// A balancer only chooses among servers for a request that has no
// persistence yet; keeping a user on its server is the sticky package's job,
// above every balancer, so no algorithm here knows about cookies.
package balance

import (
	"net/netip"

	"github.com/limpet-lb/limpet/internal/upstream"
)

// Request is what a balancer may look at to choose a server.
type Request struct {
	// ClientIP is the client's address, used by ip_hash.
	ClientIP netip.Addr
	// Key is the evaluated `hash` key, used by hash.
	Key string
}

// Balancer picks a server for a request.
type Balancer interface {
	// Pick returns a server for which skip returns false, or nil when
	// there is none. skip reports servers that are unavailable or already
	// tried by this request. Pick is safe for concurrent use.
	Pick(r *Request, skip func(*upstream.Server) bool) *upstream.Server
}
