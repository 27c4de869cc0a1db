package limit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/limpet-lb/limpet/internal/vars"
)

// maxReqKey is the longest key limit_req accounts, nginx's: a longer one
// is logged and not limited.
const maxReqKey = 65535

// NoDelay is the delay threshold of `nodelay`: no excess within the
// burst is delayed (nginx's NGX_MAX_INT_T_VALUE / 1000).
const NoDelay = math.MaxInt64 / 1000

// reqState is the leaky bucket of one key.
type reqState struct {
	// excess is the requests beyond the rate, in thousandths.
	excess int64
	// last is the millisecond of the last accounted request, on the
	// zone's clock.
	last int64
	// pins counts requests between the first and second step of a check
	// over several zones (see Requests.Check): a pinned state is never
	// freed.
	pins int
}

// RequestZone is a limit_req_zone: the leaky buckets of every key, all
// draining at one rate.
type RequestZone struct {
	name string
	key  *vars.Template
	// rate is in thousandths of a request per second, nginx's unit.
	rate  int64
	epoch time.Time
	t     *table[reqState]
}

// NewRequestZone returns the zone name, with its key, size in bytes and
// rate in thousandths of a request per second (nginx's unit: 10r/s is
// 10000). epoch is the zone's time zero, from the clock its limiters use.
func NewRequestZone(name string, key *vars.Template, size, rate int64, epoch time.Time) (*RequestZone, error) {
	if rate <= 0 {
		return nil, fmt.Errorf("limit_req_zone %q: invalid rate %d", name, rate)
	}
	return &RequestZone{name: name, key: key, rate: rate, epoch: epoch, t: newTable[reqState](size)}, nil
}

// Name returns the zone's name.
func (z *RequestZone) Name() string { return z.name }

// WithKey returns the zone with its states shared and its key replaced:
// a reload keeps what a zone counts while compiling its key against the
// new configuration's variables. Both zones count in the same states.
func (z *RequestZone) WithKey(key *vars.Template) *RequestZone {
	nz := *z
	nz.key = key
	return &nz
}

// Len returns the number of states the zone holds.
func (z *RequestZone) Len() int {
	n := 0
	for i := range z.t.shards {
		sh := &z.t.shards[i]
		sh.mu.Lock()
		n += sh.len()
		sh.mu.Unlock()
	}
	return n
}

// msec returns now on the zone's millisecond clock.
func (z *RequestZone) msec(now time.Time) int64 {
	return now.Sub(z.epoch).Milliseconds()
}

// elapsed is nginx's time since a state's last request: a clock that
// went back by more than a minute counts as 1ms, by less as none.
func elapsed(now, last int64) int64 {
	ms := now - last
	switch {
	case ms < -60000:
		return 1
	case ms < 0:
		return 0
	}
	return ms
}

// drained returns what the rate drains from a bucket in ms milliseconds,
// in thousandths of a request; it saturates instead of overflowing after
// a long idle time.
func (z *RequestZone) drained(ms int64) int64 {
	const most = math.MaxInt64 / 4 // far more than any excess, and safe to subtract from one
	if ms > 0 && z.rate > most/ms {
		return most
	}
	return z.rate * ms / 1000
}

// charge returns a state's excess after one more request at now, and
// the milliseconds since its last. As in nginx, the request is added
// before the result is floored at zero, so a request after the bucket
// drained for longer than one request's worth comes to an excess of 0.
func (z *RequestZone) charge(st *reqState, now int64) (excess, ms int64) {
	ms = elapsed(now, st.last)
	// st.excess is at least -1000 and drained at most MaxInt64/4: no
	// overflow.
	excess = st.excess - z.drained(ms) + 1000
	if excess < 0 {
		excess = 0
	}
	return excess, ms
}

// lookupResult is the first step's answer for one zone.
type lookupResult uint8

const (
	lookupNone   lookupResult = iota // no zone applied: every key empty
	lookupOK                         // accounted (the last zone)
	lookupPinned                     // within burst, pinned for the second step
	lookupBusy                       // beyond burst
	lookupFull                       // no room for the key's state
)

// lookup is nginx's ngx_http_limit_req_lookup for one zone: it finds or
// makes key's state and compares its excess after this request with
// burst. The last zone of a check accounts the request at once (account);
// the others only pin the state, and the second step accounts them.
func (z *RequestZone) lookup(key []byte, now, burst int64, account bool) (lookupResult, int64, *entry[reqState]) {
	sh := z.t.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.get(key); e != nil {
		sh.touch(e)
		excess, ms := z.charge(&e.state, now)
		if excess > burst {
			return lookupBusy, excess, nil
		}
		if !account {
			e.state.pins++
			return lookupPinned, excess, e
		}
		e.state.excess = excess
		if ms != 0 {
			// nginx keeps last when no millisecond has passed.
			e.state.last = now
		}
		return lookupOK, excess, nil
	}
	if !z.makeRoom(sh, len(key), now) {
		return lookupFull, 0, nil
	}
	e := sh.insert(key)
	if account {
		e.state = reqState{last: now}
		return lookupOK, 0, nil
	}
	// nginx starts a pinned state with no last request, so the second
	// step finds it drained: an excess of minus one request charged now
	// comes to the same zero.
	e.state = reqState{excess: -1000, last: now, pins: 1}
	return lookupPinned, 0, e
}

// makeRoom frees states for a new key of keyLen bytes, as nginx's
// ngx_http_limit_req_expire does: up to two of the oldest states if they
// are idle for a minute and drained; then, if the key still does not
// fit, the oldest states by force (nginx frees one; keys differ in
// length here, so as many as it takes). Pinned states stop the search:
// the recency order puts them in front of every state freed. It reports
// whether the key fits. The caller holds sh.mu.
func (z *RequestZone) makeRoom(sh *shard[reqState], keyLen int, now int64) bool {
	if !sh.canFit(keyLen) {
		return false
	}
	z.expireIdle(sh, now)
	for !sh.fits(keyLen) {
		e := sh.oldest()
		if e == nil || e.state.pins > 0 {
			return false
		}
		sh.remove(e)
		z.expireIdle(sh, now)
	}
	return true
}

// expireIdle frees up to two of the oldest states that are idle for a
// minute and drained.
func (z *RequestZone) expireIdle(sh *shard[reqState], now int64) {
	for range 2 {
		e := sh.oldest()
		if e == nil || e.state.pins > 0 {
			return
		}
		ms := now - e.state.last
		if ms < 0 {
			ms = -ms
		}
		if ms < 60000 || e.state.excess-z.drained(ms) > 0 {
			return
		}
		sh.remove(e)
	}
}

// settle is the second step for a pinned state: it accounts the request
// and unpins the state, returning the excess.
func (z *RequestZone) settle(e *entry[reqState], now int64) int64 {
	sh := e.sh
	sh.mu.Lock()
	excess, ms := z.charge(&e.state, now)
	if ms != 0 {
		e.state.last = now
	}
	e.state.excess = excess
	e.state.pins--
	sh.mu.Unlock()
	return excess
}

// unpin releases a pinned state without accounting the request: the
// request was rejected by a later zone, and rejects are not counted.
func unpin(e *entry[reqState]) {
	sh := e.sh
	sh.mu.Lock()
	e.state.pins--
	sh.mu.Unlock()
}

// Rule is one limit_req line: its zone, and burst and delay threshold in
// requests (NoDelay for `nodelay`).
type Rule struct {
	Zone  *RequestZone
	Burst int64
	Delay int64
}

// rule is a Rule in thousandths, nginx's unit.
type rule struct {
	zone         *RequestZone
	burst, delay int64
}

// RequestOptions are a location's limit_req settings.
type RequestOptions struct {
	Options
	// Status answers a rejected request (limit_req_status, 400 to 599).
	Status int
	// Level is limit_req_log_level's; delays are logged one level lower.
	Level slog.Level
	// DryRun is limit_req_dry_run: account and log, never delay or reject.
	DryRun bool
}

// Requests is the limit_req of one location: every rule applies to every
// request. It is safe for concurrent use.
type Requests struct {
	rules      []rule
	status     int
	level      slog.Level
	delayLevel slog.Level
	dryRun     bool
	log        *slog.Logger
	now        func() time.Time
}

// maxRules bounds the limit_req lines of one location, so a check keeps
// its pinned states in an array on the stack.
const maxRules = 16

// NewRequests compiles a location's limit_req rules.
func NewRequests(rules []Rule, o RequestOptions) (*Requests, error) {
	if len(rules) == 0 {
		return nil, errors.New("limit_req: no rules")
	}
	if len(rules) > maxRules {
		return nil, fmt.Errorf("limit_req: more than %d zones in one location", maxRules)
	}
	l := &Requests{
		status:     o.Status,
		level:      o.Level,
		delayLevel: lessSevere(o.Level),
		dryRun:     o.DryRun,
		log:        o.logger(),
		now:        o.clock(),
	}
	for _, r := range rules {
		if r.Zone == nil {
			return nil, errors.New("limit_req: rule without a zone")
		}
		delay := r.Delay
		if delay > NoDelay {
			delay = NoDelay
		}
		l.rules = append(l.rules, rule{zone: r.Zone, burst: r.Burst * 1000, delay: delay * 1000})
	}
	return l, nil
}

// Check accounts one request in every zone and decides, as nginx's
// ngx_http_limit_req_handler does. Zones are looked up in order; all but
// the last only pin the key's state, so that a request rejected by a
// later zone is counted in none. The last accounts at once, and then the
// pinned ones are accounted; the delay is the longest any zone asks for.
// An empty key skips its zone. It does not allocate unless it logs or a
// key is new to its zone.
func (l *Requests) Check(vr *vars.Request) Decision {
	now := l.now()
	var pinned [maxRules]*entry[reqState]
	var buf [64]byte
	res := lookupNone
	excess := int64(0)
	n := 0
	for ; n < len(l.rules); n++ {
		r := &l.rules[n]
		key := r.zone.key.Append(buf[:0], vr)
		if len(key) == 0 {
			continue
		}
		if len(key) > maxReqKey {
			l.log.Error(fmt.Sprintf("the value of the %q key is more than %d bytes: %q", r.zone.key.String(), maxReqKey, printableKey(key)), requestAttrs(vr)...)
			continue
		}
		var e *entry[reqState]
		res, excess, e = r.zone.lookup(key, r.zone.msec(now), r.burst, n == len(l.rules)-1)
		if res != lookupPinned {
			break
		}
		pinned[n] = e
	}
	switch res {
	case lookupNone:
		return Decision{}
	case lookupBusy, lookupFull:
		zone := l.rules[n].zone
		if res == lookupBusy {
			dry := ""
			if l.dryRun {
				dry = ", dry run"
			}
			l.log.Log(context.Background(), l.level,
				fmt.Sprintf("limiting requests%s, excess: %s by zone %q", dry, formatExcess(excess), zone.name), requestAttrs(vr)...)
		} else {
			l.log.Error(fmt.Sprintf("could not allocate node in limit_req zone %q", zone.name), requestAttrs(vr)...)
		}
		for _, e := range pinned[:n] {
			if e != nil {
				unpin(e)
			}
		}
		if l.dryRun {
			return Decision{Outcome: RejectedDryRun}
		}
		return Decision{Outcome: Rejected, Status: l.status}
	case lookupPinned:
		// The last zones' keys were empty: nothing accounted yet.
		excess = 0
		n = len(l.rules) - 1
	}
	delay, excess, zone := l.account(pinned[:n], n, excess, now)
	if delay == 0 {
		return Decision{Outcome: Passed}
	}
	dry := ""
	if l.dryRun {
		dry = ", dry run"
	}
	l.log.Log(context.Background(), l.delayLevel,
		fmt.Sprintf("delaying request%s, excess: %s, by zone %q", dry, formatExcess(excess), zone.name), requestAttrs(vr)...)
	if l.dryRun {
		return Decision{Outcome: DelayedDryRun}
	}
	if delay > maxDelayMs {
		delay = maxDelayMs
	}
	return Decision{Outcome: Delayed, Delay: time.Duration(delay) * time.Millisecond}
}

// maxDelayMs keeps a delay (a huge burst at a tiny rate) within a
// time.Duration.
const maxDelayMs = math.MaxInt64 / int64(time.Millisecond)

// account is nginx's ngx_http_limit_req_account: the delay the rule at
// index last asks for with the excess it gave, then each pinned state
// accounted, keeping the longest delay and the excess and zone that ask
// for it. Delays are in milliseconds.
func (l *Requests) account(pinned []*entry[reqState], last int, excess int64, now time.Time) (delay, maxExcess int64, zone *RequestZone) {
	r := &l.rules[last]
	zone, maxExcess = r.zone, excess
	if excess > r.delay {
		delay = (excess - r.delay) * 1000 / r.zone.rate
	}
	for i := len(pinned) - 1; i >= 0; i-- {
		e := pinned[i]
		if e == nil {
			continue
		}
		r := &l.rules[i]
		ex := r.zone.settle(e, r.zone.msec(now))
		if ex <= r.delay {
			continue
		}
		if d := (ex - r.delay) * 1000 / r.zone.rate; d > delay {
			delay, maxExcess, zone = d, ex, r.zone
		}
	}
	return delay, maxExcess, zone
}
