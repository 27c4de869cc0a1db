package config

import (
	"slices"
	"strings"
)

// This file holds request and connection limiting:
// ngx_http_limit_req_module (limit_req_zone, limit_req and its settings)
// and ngx_http_limit_conn_module (limit_conn_zone, limit_conn and its
// settings). Zones are defined at http level and may be used before they
// are defined, as nginx's shared memory zones may; each level's limits are
// merged from http to server to location as nginx merges them.

// minZoneSize is nginx's smallest zone: eight pages of 4 KiB.
const minZoneSize = 8 * 4096

// Defaults of the limit settings, nginx's.
const (
	defaultLimitStatus   = 503
	defaultLimitLogLevel = "error"
)

// maxLimitReq and maxLimitConn bound the limit_req and limit_conn lines
// of one level: limpet's limiters keep a request's states in fixed
// arrays (internal/limit's maxRules and maxHeld). nginx has no bound.
const (
	maxLimitReq  = 16
	maxLimitConn = 8
)

// limitLogLevels are the levels limit_req_log_level and
// limit_conn_log_level accept, nginx's list.
var limitLogLevels = []string{"info", "notice", "warn", "error"}

// zoneKind tells the two modules' zones apart: nginx keeps them in one
// namespace of shared memory zones, tagged by module.
type zoneKind string

const (
	reqZone  zoneKind = "limit_req"
	connZone zoneKind = "limit_conn"
)

// limitConf is the limiting of one level (http, server or location), as
// written there.
type limitConf struct {
	// req and conn are this level's limit_req and limit_conn lines; nil
	// when it has none. As in nginx, a level with any line of a module
	// inherits none of the outer level's lines of that module.
	req         []LimitReq
	reqNames    []string // zones of req, for the duplicate check
	reqStatus   setting[int]
	reqLogLevel setting[string]
	reqDryRun   setting[bool]

	conn         []LimitConn
	connNames    []string // zones of conn, for the duplicate check
	connStatus   setting[int]
	connLogLevel setting[string]
	connDryRun   setting[bool]
}

// inherit fills what this level left unset from parent, which must be
// merged already.
func (l *limitConf) inherit(parent *limitConf) {
	if l.req == nil {
		l.req = parent.req
	}
	if l.conn == nil {
		l.conn = parent.conn
	}
	l.reqStatus.inherit(parent.reqStatus)
	l.reqLogLevel.inherit(parent.reqLogLevel)
	l.reqDryRun.inherit(parent.reqDryRun)
	l.connStatus.inherit(parent.connStatus)
	l.connLogLevel.inherit(parent.connLogLevel)
	l.connDryRun.inherit(parent.connDryRun)
}

// effective returns the merged limits with defaults filled in. The lists
// are shared between levels that inherit them; nothing changes them once
// the tree is read.
func (l *limitConf) effective() Limits {
	return Limits{
		Req:          l.req,
		ReqStatus:    l.reqStatus.or(defaultLimitStatus),
		ReqLogLevel:  l.reqLogLevel.or(defaultLimitLogLevel),
		ReqDryRun:    l.reqDryRun.or(false),
		Conn:         l.conn,
		ConnStatus:   l.connStatus.or(defaultLimitStatus),
		ConnLogLevel: l.connLogLevel.or(defaultLimitLogLevel),
		ConnDryRun:   l.connDryRun.or(false),
	}
}

// zoneUse is a limit_req or limit_conn naming a zone, resolved once the
// whole tree is read, since a zone may be defined after its first use.
type zoneUse struct {
	d    *Directive
	kind zoneKind
	name string
	// set points the use at its zone.
	set func(req *LimitReqZone, conn *LimitConnZone)
}

// claimZone records that name is a zone of kind, refusing a name another
// module's zone already has, in nginx's words.
func (b *builder) claimZone(d *Directive, name string, kind zoneKind) error {
	if b.zoneKinds == nil {
		b.zoneKinds = make(map[string]zoneKind)
	}
	if k, ok := b.zoneKinds[name]; ok && k != kind {
		return d.errorf("the shared memory zone %q is already declared for a different use", name)
	}
	b.zoneKinds[name] = kind
	return nil
}

// parseZoneParam reads `zone=NAME:SIZE` as limit_req_zone and
// limit_conn_zone do, with nginx's errors.
func parseZoneParam(d *Directive, p string) (name string, size int64, err error) {
	rest := p[len("zone="):]
	name, sz, ok := strings.Cut(rest, ":")
	if !ok {
		return "", 0, d.errorf("invalid zone size %q", p)
	}
	size, ok = parseSize(sz)
	if !ok {
		return "", 0, d.errorf("invalid zone size %q", p)
	}
	if size < minZoneSize {
		return "", 0, d.errorf("zone %q is too small", p)
	}
	return name, size, nil
}

// zoneRedefined is nginx's error for a zone defined twice: the size
// conflict when the sizes differ, else "already bound".
func zoneRedefined(d *Directive, name string, size, prevSize int64, prevKey string) error {
	if size != prevSize {
		return d.errorf("the size %d of shared memory zone %q conflicts with already declared size %d", size, name, prevSize)
	}
	return d.errorf("%s %q is already bound to key %q", d.Name, name, prevKey)
}

// limitReqZone handles `limit_req_zone KEY zone=NAME:SIZE rate=RATE
// [sync];`. RATE is Nr/s or Nr/m (a bare N is per second); nginx's rate,
// when no rate= is given, is 1r/s.
func (b *builder) limitReqZone(d *Directive, s *scope) error {
	z := &LimitReqZone{Pos: d.Pos(), Key: d.Args[0], Rate: 1000}
	if len(d.Args) == 4 && !slices.Contains(d.Args, "sync") {
		// Only NGINX Plus's sync makes a fourth argument.
		return d.errorf("invalid number of arguments in %q directive", d.Name)
	}
	for _, p := range d.Args[1:] {
		switch {
		case strings.HasPrefix(p, "zone="):
			name, size, err := parseZoneParam(d, p)
			if err != nil {
				return err
			}
			z.Name, z.Size = name, size
		case strings.HasPrefix(p, "rate="):
			rate, ok := parseRate(p[len("rate="):])
			if !ok {
				return d.errorf("invalid rate %q", p)
			}
			z.Rate = rate
		case p == "sync":
			// NGINX Plus shares the zone's state with the other members
			// of a zone_sync cluster. limpet has no such cluster: taking
			// the word would promise a limit across instances that each
			// instance would in fact apply on its own.
			return d.errorf("parameter \"sync\" is not supported: limpet does not synchronise zones between instances")
		default:
			return d.invalidParam(p)
		}
	}
	if z.Name == "" {
		return d.errorf("%q must have \"zone\" parameter", d.Name)
	}
	if err := b.claimZone(d, z.Name, reqZone); err != nil {
		return err
	}
	if prev, exists := b.reqZones[z.Name]; exists {
		return zoneRedefined(d, z.Name, z.Size, prev.Size, prev.Key)
	}
	if b.reqZones == nil {
		b.reqZones = make(map[string]*LimitReqZone)
	}
	b.reqZones[z.Name] = z
	b.cfg.LimitReqZones = append(b.cfg.LimitReqZones, z)
	return nil
}

// parseRate reads RATE of rate=RATE as nginx does: digits, then "r/s",
// "r/m" or nothing (per second). It returns nginx's internal unit,
// thousandths of a request per second, so "1r/m" is 16 (1000/60 rounded
// down, as nginx rounds it).
func parseRate(v string) (int64, bool) {
	scale := int64(1)
	switch {
	case strings.HasSuffix(v, "r/s"):
		v = v[:len(v)-3]
	case strings.HasSuffix(v, "r/m"):
		v, scale = v[:len(v)-3], 60
	}
	n, ok := parseInt(v)
	if !ok || n <= 0 {
		return 0, false
	}
	return int64(n) * 1000 / scale, true
}

// limitConnZone handles `limit_conn_zone KEY zone=NAME:SIZE;`.
func (b *builder) limitConnZone(d *Directive, s *scope) error {
	z := &LimitConnZone{Pos: d.Pos(), Key: d.Args[0]}
	p := d.Args[1]
	if !strings.HasPrefix(p, "zone=") {
		return d.invalidParam(p)
	}
	name, size, err := parseZoneParam(d, p)
	if err != nil {
		return err
	}
	z.Name, z.Size = name, size
	if z.Name == "" {
		return d.errorf("%q must have \"zone\" parameter", d.Name)
	}
	if err := b.claimZone(d, z.Name, connZone); err != nil {
		return err
	}
	if prev, exists := b.connZones[z.Name]; exists {
		return zoneRedefined(d, z.Name, z.Size, prev.Size, prev.Key)
	}
	if b.connZones == nil {
		b.connZones = make(map[string]*LimitConnZone)
	}
	b.connZones[z.Name] = z
	b.cfg.LimitConnZones = append(b.cfg.LimitConnZones, z)
	return nil
}

// limitReq handles `limit_req zone=NAME [burst=N] [nodelay | delay=N];`.
// Several lines may stand at one level, each with its own zone. As in
// nginx, of nodelay and delay= the last written wins.
func (b *builder) limitReq(d *Directive, s *scope) error {
	lr := LimitReq{Pos: d.Pos()}
	zone, hasZone := "", false
	for _, p := range d.Args {
		switch {
		case strings.HasPrefix(p, "zone="):
			zone, hasZone = p[len("zone="):], true
		case strings.HasPrefix(p, "burst="):
			n, ok := parseInt(p[len("burst="):])
			if !ok || n <= 0 {
				return d.errorf("invalid burst value %q", p)
			}
			lr.Burst = n
		case strings.HasPrefix(p, "delay="):
			n, ok := parseInt(p[len("delay="):])
			if !ok || n <= 0 {
				return d.errorf("invalid delay value %q", p)
			}
			lr.Delay, lr.NoDelay = n, false
		case p == "nodelay":
			lr.Delay, lr.NoDelay = 0, true
		default:
			return d.invalidParam(p)
		}
	}
	if !hasZone {
		return d.errorf("%q must have \"zone\" parameter", d.Name)
	}
	if err := b.claimZone(d, zone, reqZone); err != nil {
		return err
	}
	lc := s.limits
	for _, other := range lc.reqNames {
		if other == zone {
			return d.duplicate()
		}
	}
	if len(lc.req) == maxLimitReq {
		return d.errorf("too many %q directives at one level, at most %d", d.Name, maxLimitReq)
	}
	lc.reqNames = append(lc.reqNames, zone)
	lc.req = append(lc.req, lr)
	list, i := &lc.req, len(lc.req)-1
	b.zoneUses = append(b.zoneUses, zoneUse{d: d, kind: reqZone, name: zone, set: func(z *LimitReqZone, _ *LimitConnZone) {
		(*list)[i].Zone = z
	}})
	return nil
}

// limitConn handles `limit_conn ZONE NUMBER;`, NUMBER between 1 and
// 65535. Several lines may stand at one level, each with its own zone.
func (b *builder) limitConn(d *Directive, s *scope) error {
	zone := d.Args[0]
	if err := b.claimZone(d, zone, connZone); err != nil {
		return err
	}
	lc := s.limits
	for _, other := range lc.connNames {
		if other == zone {
			return d.duplicate()
		}
	}
	n, ok := parseInt(d.Args[1])
	if !ok || n <= 0 {
		return d.errorf("invalid number of connections %q", d.Args[1])
	}
	if n > 65535 {
		return d.errorf("connection limit must be less 65536")
	}
	if len(lc.conn) == maxLimitConn {
		return d.errorf("too many %q directives at one level, at most %d", d.Name, maxLimitConn)
	}
	lc.connNames = append(lc.connNames, zone)
	lc.conn = append(lc.conn, LimitConn{Pos: d.Pos(), Conn: n})
	list, i := &lc.conn, len(lc.conn)-1
	b.zoneUses = append(b.zoneUses, zoneUse{d: d, kind: connZone, name: zone, set: func(_ *LimitReqZone, z *LimitConnZone) {
		(*list)[i].Zone = z
	}})
	return nil
}

// resolveZones points every limit_req and limit_conn at its zone. A zone
// used and never defined is nginx's "zero size shared memory zone",
// reported here at the directive that uses it.
func (b *builder) resolveZones() error {
	for _, u := range b.zoneUses {
		switch u.kind {
		case reqZone:
			z := b.reqZones[u.name]
			if z == nil {
				return u.d.errorf("zero size shared memory zone %q", u.name)
			}
			u.set(z, nil)
		case connZone:
			z := b.connZones[u.name]
			if z == nil {
				return u.d.errorf("zero size shared memory zone %q", u.name)
			}
			u.set(nil, z)
		}
	}
	return nil
}

// limitStatus handles limit_req_status and limit_conn_status: a code
// between 400 and 599, default 503.
func (b *builder) limitStatus(d *Directive, s *scope) error {
	f := &s.limits.reqStatus
	if d.Name == "limit_conn_status" {
		f = &s.limits.connStatus
	}
	if f.set {
		return d.duplicate()
	}
	n, ok := parseInt(d.Args[0])
	if !ok {
		return d.errorf("%q directive invalid number", d.Name)
	}
	if n < 400 || n > 599 {
		return d.errorf("value must be between 400 and 599")
	}
	*f = setting[int]{v: n, set: true}
	return nil
}

// limitLogLevel handles limit_req_log_level and limit_conn_log_level:
// info, notice, warn or error (compared without case), default error.
func (b *builder) limitLogLevel(d *Directive, s *scope) error {
	f := &s.limits.reqLogLevel
	if d.Name == "limit_conn_log_level" {
		f = &s.limits.connLogLevel
	}
	if f.set {
		return d.duplicate()
	}
	for _, l := range limitLogLevels {
		if strings.EqualFold(l, d.Args[0]) {
			*f = setting[string]{v: l, set: true}
			return nil
		}
	}
	return d.errorf("invalid value %q", d.Args[0])
}

// limitDryRun handles limit_req_dry_run and limit_conn_dry_run: on or
// off, default off.
func (b *builder) limitDryRun(d *Directive, s *scope) error {
	f := &s.limits.reqDryRun
	if d.Name == "limit_conn_dry_run" {
		f = &s.limits.connDryRun
	}
	if f.set {
		return d.duplicate()
	}
	*f = setting[bool]{v: strings.EqualFold(d.Args[0], "on"), set: true}
	return nil
}
