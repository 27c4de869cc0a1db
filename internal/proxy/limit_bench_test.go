package proxy

import (
	"log/slog"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/limit"
	"github.com/limpet-lb/limpet/internal/vars"
)

// BenchmarkStickyHitPathLimited is BenchmarkStickyHitPath with a
// limit_req (whose rate the benchmark never reaches) and a limit_conn per
// client address: what limiting adds to a request that passes both.
func BenchmarkStickyHitPathLimited(b *testing.B) {
	const zones = `limit_req_zone $binary_remote_addr zone=one:10m rate=1000000000r/s;
limit_conn_zone $binary_remote_addr zone=addr:10m;
limit_req zone=one burst=1000 nodelay;
limit_conn addr 100;
`
	benchmarkStickyHit(b, "off", zones, benchLimits(b))
}

// benchLimits compiles limit directives as the runtime does, with one
// live zone per configured zone.
func benchLimits(b *testing.B) func(config.Limits) (*limit.Requests, *limit.Conns, error) {
	reqZones := map[*config.LimitReqZone]*limit.RequestZone{}
	connZones := map[*config.LimitConnZone]*limit.ConnZone{}
	log := slog.New(slog.DiscardHandler)
	return func(l config.Limits) (*limit.Requests, *limit.Conns, error) {
		var reqs *limit.Requests
		var conns *limit.Conns
		var err error
		if len(l.Req) > 0 {
			var rules []limit.Rule
			for _, lr := range l.Req {
				z := reqZones[lr.Zone]
				if z == nil {
					if z, err = limit.NewRequestZone(lr.Zone.Name, vars.MustCompile(lr.Zone.Key), lr.Zone.Size, lr.Zone.Rate, time.Now()); err != nil {
						return nil, nil, err
					}
					reqZones[lr.Zone] = z
				}
				rules = append(rules, limit.Rule{Zone: z, Burst: int64(lr.Burst), Delay: limit.NoDelay})
			}
			if reqs, err = limit.NewRequests(rules, limit.RequestOptions{Options: limit.Options{Log: log}, Status: l.ReqStatus}); err != nil {
				return nil, nil, err
			}
		}
		if len(l.Conn) > 0 {
			var rules []limit.ConnRule
			for _, lc := range l.Conn {
				z := connZones[lc.Zone]
				if z == nil {
					z = limit.NewConnZone(lc.Zone.Name, vars.MustCompile(lc.Zone.Key), lc.Zone.Size)
					connZones[lc.Zone] = z
				}
				rules = append(rules, limit.ConnRule{Zone: z, Max: lc.Conn})
			}
			if conns, err = limit.NewConns(rules, limit.ConnOptions{Options: limit.Options{Log: log}, Status: l.ConnStatus}); err != nil {
				return nil, nil, err
			}
		}
		return reqs, conns, nil
	}
}
