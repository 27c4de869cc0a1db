package balance

import (
	"github.com/limpet-lb/limpet/internal/upstream"
)

// IPHash is nginx's ip_hash (ngx_http_upstream_ip_hash_module), reproduced
// step for step so that an upstream moved from nginx to limpet sends every
// client to the server nginx sent it to:
//
//   - the hash starts at 89 and takes, for IPv4, the first three octets
//     (the whole /24 goes to one server) and, for IPv6, all 16 bytes, each
//     as hash = (hash*113 + byte) % 6271;
//   - hash % total weight, walked through the servers in configuration
//     order subtracting weights, names the server;
//   - if that server is unusable, the same bytes are folded into the hash
//     again and the walk repeated, so a down server's clients spread over
//     the others while everyone else stays put;
//   - after 21 unusable results (nginx's `++tries > 20`) it falls back to
//     round-robin.
//
// An IPv4-mapped IPv6 address counts as its IPv4 address: nginx listens on
// separate IPv4 and IPv6 sockets by default and so sees such clients as
// IPv4, while Go's dual-stack listeners report them mapped.
//
// nginx keeps the hash across the retries of one request; limpet starts
// each Pick afresh from 89, and since the servers the request already
// tried come back from skip, the walk passes over them and reaches the
// server nginx's retry would. Only the point where the 21-try limit
// sends the request to round-robin can differ.
type IPHash struct {
	rr *RoundRobin // servers, weights, and the fallback
}

var _ Balancer = (*IPHash)(nil)

// NewIPHash returns an ip_hash balancer over servers, which must not
// change for the balancer's lifetime. A weight below 1 counts as 1.
func NewIPHash(servers []*upstream.Server) *IPHash {
	return &IPHash{rr: NewRoundRobin(servers)}
}

// Pick returns the server the client address hashes to, or the next one
// nginx's rehashing reaches if skip excludes it, or nil when skip excludes
// every server. A request without a valid ClientIP, or an upstream with a
// single server, is served by round-robin, as nginx does. skip may be
// called with the fallback's lock held, so it must be cheap and must not
// call back into the balancer.
func (h *IPHash) Pick(r *Request, skip func(*upstream.Server) bool) *upstream.Server {
	if skip == nil {
		skip = skipNone
	}
	rr := h.rr
	if len(rr.servers) < 2 || r == nil || !r.ClientIP.IsValid() {
		return rr.Pick(nil, skip)
	}

	ip := r.ClientIP.Unmap()
	var b [16]byte
	n := 3
	if ip.Is4() {
		a := ip.As4()
		copy(b[:], a[:])
	} else {
		b = ip.As16()
		n = 16
	}

	hash := int64(ipHashSeed)
	for tries := 0; ; {
		hash = ipHashRound(hash, b[:n])
		if s := rr.servers[walk(rr.weights, hash%rr.total)]; !skip(s) {
			return s
		}
		if tries++; tries > maxTries {
			return rr.Pick(nil, skip)
		}
	}
}

// ipHashSeed is where nginx's ip_hash starts (iphp->hash = 89).
const ipHashSeed = 89

// ipHashRound folds the address bytes into hash once, as one iteration of
// nginx's ip_hash loop does; a rehash after an unusable server folds the
// same bytes in again.
func ipHashRound(hash int64, addr []byte) int64 {
	for _, octet := range addr {
		hash = (hash*113 + int64(octet)) % 6271
	}
	return hash
}

// walk returns the index of the server that w, in [0, total weight),
// lands on when the servers are laid end to end by weight: nginx's
// `while (w >= peer->weight) { w -= peer->weight; peer = peer->next; }`.
func walk(weights []int64, w int64) int {
	i := 0
	for w >= weights[i] {
		w -= weights[i]
		i++
	}
	return i
}
