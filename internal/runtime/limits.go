package runtime

import (
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/limit"
	"github.com/limpet-lb/limpet/internal/vars"
)

// This file turns limit_req_zone and limit_conn_zone into live zones,
// one per directive, shared by every location that names them, and a
// level's limit_req and limit_conn into its limiters.

// limitZones are the live zones of a configuration.
type limitZones struct {
	req  map[*config.LimitReqZone]*limit.RequestZone
	conn map[*config.LimitConnZone]*limit.ConnZone
}

// newLimitZones builds every zone of cfg; a key that does not compile is
// an error at its zone's directive.
func (rt *Runtime) newLimitZones(cfg *config.Config) error {
	z := limitZones{
		req:  make(map[*config.LimitReqZone]*limit.RequestZone, len(cfg.LimitReqZones)),
		conn: make(map[*config.LimitConnZone]*limit.ConnZone, len(cfg.LimitConnZones)),
	}
	epoch := rt.clock()()
	for _, cz := range cfg.LimitReqZones {
		key, err := vars.Compile(cz.Key)
		if err != nil {
			return &config.Error{Pos: cz.Pos, Msg: err.Error()}
		}
		lz, err := limit.NewRequestZone(cz.Name, key, cz.Size, cz.Rate, epoch)
		if err != nil {
			return &config.Error{Pos: cz.Pos, Msg: err.Error()}
		}
		z.req[cz] = lz
	}
	for _, cz := range cfg.LimitConnZones {
		key, err := vars.Compile(cz.Key)
		if err != nil {
			return &config.Error{Pos: cz.Pos, Msg: err.Error()}
		}
		z.conn[cz] = limit.NewConnZone(cz.Name, key, cz.Size)
	}
	rt.zones = z
	return nil
}

// clock returns the runtime's clock.
func (rt *Runtime) clock() func() time.Time {
	if rt.opts.Now != nil {
		return rt.opts.Now
	}
	return time.Now
}

// limits compiles a level's limit_req and limit_conn; either is nil when
// the level has none, so the request path skips it.
func (rt *Runtime) limits(l config.Limits) (*limit.Requests, *limit.Conns, error) {
	var reqs *limit.Requests
	var conns *limit.Conns
	opts := limit.Options{Log: rt.log, Now: rt.opts.Now}
	if len(l.Req) > 0 {
		rules := make([]limit.Rule, 0, len(l.Req))
		for _, lr := range l.Req {
			delay := int64(lr.Delay)
			if lr.NoDelay {
				delay = limit.NoDelay
			}
			rules = append(rules, limit.Rule{Zone: rt.zones.req[lr.Zone], Burst: int64(lr.Burst), Delay: delay})
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
			rules = append(rules, limit.ConnRule{Zone: rt.zones.conn[lc.Zone], Max: lc.Conn})
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
