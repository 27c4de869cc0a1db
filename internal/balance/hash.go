package balance

import (
	"cmp"
	"encoding/binary"
	"hash/crc32"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/limpet-lb/limpet/internal/upstream"
)

// Hash is nginx's `hash KEY` and `hash KEY consistent`
// (ngx_http_upstream_hash_module), computed exactly as nginx computes
// them so an upstream moved from nginx keeps its key-to-server mapping.
//
// The generic hash is compatible with Cache::Memcached: hash is the sum,
// over the iterations so far, of (crc32([REHASH] KEY) >> 16) & 0x7fff,
// where REHASH is the iteration number in decimal and is left out of the
// first; hash % total weight, walked through the servers by weight, names
// the server. An unusable server starts the next iteration. Adding or
// removing a server remaps most keys.
//
// The consistent hash is ketama, compatible with Cache::Memcached::Fast:
// each server puts 160 points per unit of weight on a ring of crc32
// values, and a key goes to the first point at or after crc32(KEY). Adding
// or removing a server moves only about 1/N of the keys. An unusable
// server's points are passed over in ring order, so its keys spread over
// its neighbours.
//
// Both fall back to round-robin for an empty key, an upstream of one
// server, and after 21 unusable results (nginx's `++tries > 20`).
type Hash struct {
	rr         *RoundRobin // servers, weights, and the fallback
	consistent bool

	// points is the ketama ring, sorted by hash with one point per hash
	// value (nil unless consistent).
	points []chashPoint
	// groups lists, per distinct server name, the indexes of the servers
	// with that name: a name that resolved to several addresses is one
	// node of the ring, as in nginx, whose points name a server string
	// rather than an address.
	groups [][]int32
}

// chashPoint is one point of the ketama ring.
type chashPoint struct {
	hash  uint32
	group int32 // index into Hash.groups
}

var _ Balancer = (*Hash)(nil)

// NewHash returns a balancer over servers that hashes Request.Key, with
// nginx's generic hash or, if consistent, its ketama consistent hash. The
// servers must not change for the balancer's lifetime. A weight below 1
// counts as 1. The ketama ring is built here, 160 points per unit of
// weight, so construction costs O(points·log points) once and Pick a
// binary search.
func NewHash(servers []*upstream.Server, consistent bool) *Hash {
	h := &Hash{rr: NewRoundRobin(servers), consistent: consistent}
	if consistent {
		h.buildRing()
	}
	return h
}

// buildRing is ngx_http_upstream_update_chash. For each server, in order:
// its name as written is split into host and port, base = crc32(HOST \0
// PORT), and its 160·weight points are crc32(HOST \0 PORT PREV), PREV
// being the previous point's hash as 4 little-endian bytes (0 for the
// first). The points are sorted by hash and, of several with one hash,
// only the first is kept. nginx's qsort leaves the order of such a tie
// unspecified; a stable sort keeps the earlier server's point, so a
// collision (rare: about one per 10^5 points) resolves the same way on
// every build.
func (h *Hash) buildRing() {
	rr := h.rr
	groupOf := make(map[string]int32, len(rr.servers))
	h.points = make([]chashPoint, 0, 160*rr.total)
	for i, s := range rr.servers {
		name := serverName(s)
		g, ok := groupOf[name]
		if !ok {
			g = int32(len(h.groups))
			groupOf[name] = g
			h.groups = append(h.groups, nil)
		}
		h.groups[g] = append(h.groups[g], int32(i))

		host, port := splitHostPort(name)
		base := crc32.ChecksumIEEE([]byte(host))
		base = crc32.Update(base, crc32.IEEETable, []byte{0})
		base = crc32.Update(base, crc32.IEEETable, []byte(port))
		var prev [4]byte // nginx's prev_hash union, little-endian on every host
		for range 160 * rr.weights[i] {
			p := crc32.Update(base, crc32.IEEETable, prev[:])
			h.points = append(h.points, chashPoint{hash: p, group: g})
			binary.LittleEndian.PutUint32(prev[:], p)
		}
	}
	slices.SortStableFunc(h.points, func(a, b chashPoint) int { return cmp.Compare(a.hash, b.hash) })
	h.points = slices.CompactFunc(h.points, func(a, b chashPoint) bool { return a.hash == b.hash })
	h.points = slices.Clip(h.points)
}

// rehashCRC[n] is the crc32 of n in decimal, and 0 (the crc32 of
// nothing) for n = 0: the prefixes of the generic hash's iterations,
// computed once so that Pick passes crc32 only the key.
var rehashCRC = func() (t [maxTries + 1]uint32) {
	for n := 1; n < len(t); n++ {
		t[n] = crc32.ChecksumIEEE(strconv.AppendInt(nil, int64(n), 10))
	}
	return t
}()

// stringBytes returns the bytes of s without copying them, for crc32,
// which only reads its input and keeps no reference to it. Converting
// with []byte(s) would copy the key to the heap on every Pick: the slice
// escapes through crc32's indirect call, so the compiler cannot keep the
// copy on the stack. The result must never be written to.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// serverName is the string a server's ring points are derived from: the
// address as written in the configuration (nginx's peer->server), or the
// resolved address if no name was recorded.
func serverName(s *upstream.Server) string {
	if s.Name != "" {
		return s.Name
	}
	return s.Addr
}

// splitHostPort splits a server name as ngx_http_upstream_update_chash
// does, which is not net.SplitHostPort: "unix:PATH" is host PATH with no
// port; otherwise the port is the run of digits after the last ':' if the
// name ends in one, and the host is everything before that ':', IPv6
// brackets included ("[::1]:80" is host "[::1]", port "80"); a name that
// does not end in ":digits" is all host.
func splitHostPort(name string) (host, port string) {
	if len(name) >= 5 && strings.EqualFold(name[:5], "unix:") {
		return name[5:], ""
	}
	for j := len(name) - 1; j >= 0; j-- {
		c := name[j]
		if c == ':' {
			return name[:j], name[j+1:]
		}
		if c < '0' || c > '9' {
			break
		}
	}
	return name, ""
}

// Pick returns the server Request.Key hashes to, or the next one nginx's
// rehashing (generic) or ring walk (consistent) reaches if skip excludes
// it, or nil when skip excludes every server. skip may be called with the
// balancer's lock held, so it must be cheap and must not call back into
// the balancer.
func (h *Hash) Pick(r *Request, skip func(*upstream.Server) bool) *upstream.Server {
	if skip == nil {
		skip = skipNone
	}
	// nginx falls back to round-robin for an empty key and for a single
	// server, where there is nothing to spread.
	if len(h.rr.servers) < 2 || r == nil || r.Key == "" {
		return h.rr.Pick(nil, skip)
	}
	if h.consistent {
		return h.pickConsistent(r.Key, skip)
	}
	return h.pickGeneric(r.Key, skip)
}

// pickGeneric is ngx_http_upstream_get_hash_peer.
func (h *Hash) pickGeneric(key string, skip func(*upstream.Server) bool) *upstream.Server {
	rr := h.rr
	var hash uint32 // nginx's uint32_t hp->hash: the sum wraps as it does there
	for rehash := 0; ; rehash++ {
		// crc32 of the decimal rehash number (of nothing the first
		// time), continued over the key: crc32([REHASH] KEY).
		c := crc32.Update(rehashCRC[rehash], crc32.IEEETable, stringBytes(key))
		hash += (c >> 16) & 0x7fff
		if s := rr.servers[walk(rr.weights, int64(hash)%rr.total)]; !skip(s) {
			return s
		}
		// rehash counts the failed iterations, as nginx's tries does.
		if rehash+1 > maxTries {
			return rr.Pick(nil, skip)
		}
	}
}

// pickConsistent is ngx_http_upstream_init_chash_peer and
// ngx_http_upstream_get_chash_peer: from the first point at or after
// crc32(KEY), wrapping past the end, take the point's server if usable;
// if the point's name stands for several servers, the usable ones share
// by smooth round-robin, as in nginx.
func (h *Hash) pickConsistent(key string, skip func(*upstream.Server) bool) *upstream.Server {
	rr := h.rr
	c := crc32.ChecksumIEEE(stringBytes(key))
	start, _ := slices.BinarySearchFunc(h.points, c, func(p chashPoint, c uint32) int { return cmp.Compare(p.hash, c) })
	for tries := 0; ; {
		members := h.groups[h.points[(start+tries)%len(h.points)].group]
		if len(members) == 1 {
			// One server: smooth round-robin over it would add and
			// take back the same weight, so skip the lock.
			if s := rr.servers[members[0]]; !skip(s) {
				return s
			}
		} else if s := rr.pickAmong(members, skip); s != nil {
			return s
		}
		if tries++; tries > maxTries || tries >= len(h.points) {
			return rr.Pick(nil, skip)
		}
	}
}
