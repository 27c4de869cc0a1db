package runtime

import (
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/limit"
)

// This file turns limit_req_zone and limit_conn_zone into live zones,
// one per directive, shared by every location that names them, and a
// level's limit_req and limit_conn into its limiters.

// limitZones are the live zones of a configuration.
type limitZones struct {
	req  map[*config.LimitReqZone]*limit.RequestZone
	conn map[*config.LimitConnZone]*limit.ConnZone
}

// newLimitZones builds every zone of the plan's configuration; a key that
// does not compile is an error at its zone's directive. A zone prev has
// with the same definition (name, key, size, rate) is taken over with
// what it counts, as nginx keeps a shared zone across a reload. Its key is
// compiled again all the same, against this configuration's variables:
// the key's text may be the same while the variables it names moved to
// other slots, or a map of that name now says something else.
func (p *plan) newLimitZones(prev *plan) error {
	cfg := p.cfg
	z := limitZones{
		req:  make(map[*config.LimitReqZone]*limit.RequestZone, len(cfg.LimitReqZones)),
		conn: make(map[*config.LimitConnZone]*limit.ConnZone, len(cfg.LimitConnZones)),
	}
	epoch := p.rt.clock()()
	for _, cz := range cfg.LimitReqZones {
		key, err := p.vars.Compile(cz.Key)
		if err != nil {
			return &config.Error{Pos: cz.Pos, Msg: err.Error()}
		}
		if lz := prev.sameReqZone(cz); lz != nil {
			z.req[cz] = lz.WithKey(key)
			continue
		}
		lz, err := limit.NewRequestZone(cz.Name, key, cz.Size, cz.Rate, epoch)
		if err != nil {
			return &config.Error{Pos: cz.Pos, Msg: err.Error()}
		}
		z.req[cz] = lz
	}
	for _, cz := range cfg.LimitConnZones {
		key, err := p.vars.Compile(cz.Key)
		if err != nil {
			return &config.Error{Pos: cz.Pos, Msg: err.Error()}
		}
		if lz := prev.sameConnZone(cz); lz != nil {
			z.conn[cz] = lz.WithKey(key)
			continue
		}
		z.conn[cz] = limit.NewConnZone(cz.Name, key, cz.Size)
	}
	p.zones = z
	return nil
}

// sameReqZone returns p's limit_req zone defined as cz is, or nil; p may
// be nil.
func (p *plan) sameReqZone(cz *config.LimitReqZone) *limit.RequestZone {
	if p == nil {
		return nil
	}
	for old, lz := range p.zones.req {
		if old.Name == cz.Name && old.Key == cz.Key && old.Size == cz.Size && old.Rate == cz.Rate {
			return lz
		}
	}
	return nil
}

// sameConnZone returns p's limit_conn zone defined as cz is, or nil; p
// may be nil.
func (p *plan) sameConnZone(cz *config.LimitConnZone) *limit.ConnZone {
	if p == nil {
		return nil
	}
	for old, lz := range p.zones.conn {
		if old.Name == cz.Name && old.Key == cz.Key && old.Size == cz.Size {
			return lz
		}
	}
	return nil
}

// limits compiles a level's limit_req and limit_conn; either is nil when
// the level has none, so the request path skips it.
func (p *plan) limits(l config.Limits) (*limit.Requests, *limit.Conns, error) {
	var reqs *limit.Requests
	var conns *limit.Conns
	opts := limit.Options{Log: p.rt.log, Now: p.rt.opts.Now}
	if len(l.Req) > 0 {
		rules := make([]limit.Rule, 0, len(l.Req))
		for _, lr := range l.Req {
			delay := int64(lr.Delay)
			if lr.NoDelay {
				delay = limit.NoDelay
			}
			rules = append(rules, limit.Rule{Zone: p.zones.req[lr.Zone], Burst: int64(lr.Burst), Delay: delay})
		}
		level, err := limit.ParseLevel(l.ReqLogLevel)
		if err != nil {
			return nil, nil, &config.Error{Pos: l.Req[0].Pos, Msg: err.Error()}
		}
		reqs, err = limit.NewRequests(rules, limit.RequestOptions{Options: opts, Status: l.ReqStatus, Level: level, DryRun: l.ReqDryRun})
		if err != nil {
			return nil, nil, &config.Error{Pos: l.Req[0].Pos, Msg: err.Error()}
		}
	}
	if len(l.Conn) > 0 {
		rules := make([]limit.ConnRule, 0, len(l.Conn))
		for _, lc := range l.Conn {
			rules = append(rules, limit.ConnRule{Zone: p.zones.conn[lc.Zone], Max: lc.Conn})
		}
		level, err := limit.ParseLevel(l.ConnLogLevel)
		if err != nil {
			return nil, nil, &config.Error{Pos: l.Conn[0].Pos, Msg: err.Error()}
		}
		conns, err = limit.NewConns(rules, limit.ConnOptions{Options: opts, Status: l.ConnStatus, Level: level, DryRun: l.ConnDryRun})
		if err != nil {
			return nil, nil, &config.Error{Pos: l.Conn[0].Pos, Msg: err.Error()}
		}
	}
	return reqs, conns, nil
}
