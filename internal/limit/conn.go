package limit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/limpet-lb/limpet/internal/vars"
)

// maxConnKey is the longest key limit_conn counts, nginx's: a longer one
// is logged and not limited.
const maxConnKey = 255

// connState is the number of requests of one key in flight.
type connState struct {
	n int
}

// ConnZone is a limit_conn_zone: the count of requests in flight of every
// key. A key whose count falls to zero is not freed at once, as nginx
// frees it, but kept aside, so the next request of the key (most often
// the next one on the same connection) does not allocate: only states at
// zero are in the shard's recency list, and the least recently released
// of them are freed when a new key needs room. A key with requests in
// flight is never freed, so the zone's size bounds the number of keys
// busy at once.
type ConnZone struct {
	name string
	key  *vars.Template
	t    *table[connState]
}

// NewConnZone returns the zone name, with its key and size in bytes.
func NewConnZone(name string, key *vars.Template, size int64) *ConnZone {
	return &ConnZone{name: name, key: key, t: newTable[connState](size)}
}

// Name returns the zone's name.
func (z *ConnZone) Name() string { return z.name }

// WithKey returns the zone with its states shared and its key replaced,
// as RequestZone.WithKey.
func (z *ConnZone) WithKey(key *vars.Template) *ConnZone {
	nz := *z
	nz.key = key
	return &nz
}

// Count returns the requests in flight of key, for tests and metrics.
func (z *ConnZone) Count(key string) int {
	sh := z.t.shardOf([]byte(key))
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.get([]byte(key)); e != nil {
		return e.state.n
	}
	return 0
}

// Busy returns the number of keys with requests in flight.
func (z *ConnZone) Busy() int {
	n := 0
	for i := range z.t.shards {
		sh := &z.t.shards[i]
		sh.mu.Lock()
		for _, e := range sh.m {
			if e.state.n > 0 {
				n++
			}
		}
		sh.mu.Unlock()
	}
	return n
}

// acquire counts one more request of key unless max are in flight
// already. full reports that the zone had no room for a new key.
func (z *ConnZone) acquire(key []byte, max int) (e *entry[connState], full bool) {
	sh := z.t.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.get(key); e != nil {
		if e.state.n >= max {
			return nil, false
		}
		if e.state.n == 0 {
			sh.unlink(e)
		}
		e.state.n++
		return e, false
	}
	if !sh.canFit(len(key)) {
		return nil, true
	}
	for !sh.fits(len(key)) {
		idle := sh.oldest()
		if idle == nil {
			return nil, true
		}
		sh.remove(idle)
	}
	e = sh.insert(key)
	sh.unlink(e)
	e.state.n = 1
	return e, false
}

// release gives back one request of e's key; at zero the state may be
// freed for a new key.
func release(e *entry[connState]) {
	sh := e.sh
	sh.mu.Lock()
	e.state.n--
	if e.state.n == 0 {
		sh.link(e)
	}
	sh.mu.Unlock()
}

// ConnRule is one limit_conn line: its zone and the number of requests
// of one key that may be in flight (1 to 65535).
type ConnRule struct {
	Zone *ConnZone
	Max  int
}

// ConnOptions are a location's limit_conn settings.
type ConnOptions struct {
	Options
	// Status answers a rejected request (limit_conn_status, 400 to 599).
	Status int
	// Level is limit_conn_log_level's.
	Level slog.Level
	// DryRun is limit_conn_dry_run: count and log, never reject.
	DryRun bool
}

// Conns is the limit_conn of one location: every rule applies to every
// request. It is safe for concurrent use.
type Conns struct {
	rules  []ConnRule
	status int
	level  slog.Level
	dryRun bool
	log    *slog.Logger
}

// NewConns compiles a location's limit_conn rules.
func NewConns(rules []ConnRule, o ConnOptions) (*Conns, error) {
	if len(rules) == 0 {
		return nil, errors.New("limit_conn: no rules")
	}
	if len(rules) > maxHeld {
		return nil, fmt.Errorf("limit_conn: more than %d zones in one location", maxHeld)
	}
	for _, r := range rules {
		if r.Zone == nil || r.Max <= 0 {
			return nil, errors.New("limit_conn: rule without a zone or a limit")
		}
	}
	return &Conns{rules: rules, status: o.Status, level: o.Level, dryRun: o.DryRun, log: o.logger()}, nil
}

// maxHeld bounds the limit_conn lines of one location, so the counts a
// request holds fit in Held without allocating.
const maxHeld = 8

// Held is the counts a request took; Release gives them back. The zero
// Held holds none.
type Held struct {
	n int
	e [maxHeld]*entry[connState]
}

// Release gives back every count held; it may be called once the request
// has ended, and does nothing on a second call.
func (h *Held) Release() {
	for i := range h.n {
		release(h.e[i])
		h.e[i] = nil
	}
	h.n = 0
}

// Acquire counts the request in every zone, as nginx's
// ngx_http_limit_conn_handler does: in order, a zone whose key is empty
// skipped; when a key has its limit in flight already, or a zone has no
// room for a new key, the counts taken so far are given back and the
// request is rejected. The outcome is Passed once any key was not empty.
// In a dry run, a request that would be rejected is served holding no
// count. What is held is in h, to be released when the request ends. It
// does not allocate unless it logs or a key is new to its zone.
func (l *Conns) Acquire(vr *vars.Request, h *Held) Decision {
	var buf [64]byte
	out := None
	for i := range l.rules {
		r := &l.rules[i]
		key := r.Zone.key.Append(buf[:0], vr)
		if len(key) == 0 {
			continue
		}
		if len(key) > maxConnKey {
			l.log.Error(fmt.Sprintf("the value of the %q key is more than %d bytes: %q", r.Zone.key.String(), maxConnKey, printableKey(key)), requestAttrs(vr)...)
			continue
		}
		out = Passed
		e, full := r.Zone.acquire(key, r.Max)
		if e == nil {
			if full {
				l.log.Error(fmt.Sprintf("could not allocate node in limit_conn_zone %q", r.Zone.name), requestAttrs(vr)...)
			} else {
				dry := ""
				if l.dryRun {
					dry = ", dry run,"
				}
				l.log.Log(context.Background(), l.level, fmt.Sprintf("limiting connections%s by zone %q", dry, r.Zone.name), requestAttrs(vr)...)
			}
			h.Release()
			if l.dryRun {
				return Decision{Outcome: RejectedDryRun}
			}
			return Decision{Outcome: Rejected, Status: l.status}
		}
		h.e[h.n] = e
		h.n++
	}
	return Decision{Outcome: out}
}
