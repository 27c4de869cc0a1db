package runtime

import (
	"time"

	"github.com/limpet-lb/limpet/internal/accesslog"
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/proxy"
)

// logBuffering returns the buffer size and flush interval of the access
// log at path: those of the first of its access_log lines that has
// buffer= (the configuration refuses lines of one path that disagree),
// else limpet's defaults.
func logBuffering(cfg *config.Config, path string) (int, time.Duration) {
	var found *config.AccessLog
	check := func(list []config.AccessLog) {
		for i := range list {
			if found == nil && list[i].Path == path && list[i].Buffer > 0 {
				found = &list[i]
			}
		}
	}
	var walk func([]*config.Location)
	walk = func(locs []*config.Location) {
		for _, l := range locs {
			check(l.Proxy.AccessLogs)
			walk(l.Locations)
		}
	}
	for _, s := range cfg.Servers {
		check(s.Proxy.AccessLogs)
		walk(s.Locations)
	}
	if found == nil {
		return accesslog.DefaultBuffer, accesslog.DefaultFlush
	}
	return found.Buffer, found.Flush
}

// keepaliveEnvelope returns the most lenient keepalive_requests and
// keepalive_time of the handlers that share a socket, which its
// connections apply, and tells each handler, so that its stricter
// locations end connections themselves.
func keepaliveEnvelope(handlers []*proxy.Handler) (int, time.Duration) {
	var requests int
	var age time.Duration
	for _, h := range handlers {
		r, a := h.KeepaliveEnvelope()
		requests, age = max(requests, r), max(age, a)
	}
	for _, h := range handlers {
		h.LimitKeepalive(requests, age)
	}
	return requests, age
}
