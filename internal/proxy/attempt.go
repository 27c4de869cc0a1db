package proxy

import (
	"time"

	"github.com/limpet-lb/limpet/internal/upstream"
)

// attempt tracks the servers one request has tried, so that a retry never
// picks a server twice.
type attempt struct {
	now   time.Time
	tried [4]*upstream.Server // most requests try one server; no allocation up to four
	more  []*upstream.Server
}

func (a *attempt) add(s *upstream.Server) {
	for i := range a.tried {
		if a.tried[i] == nil {
			a.tried[i] = s
			return
		}
	}
	a.more = append(a.more, s)
}

// skip reports whether the balancer must pass over s: not taking new
// users (down, failed, unhealthy, draining), at its max_conns, or already
// tried by this request.
func (a *attempt) skip(s *upstream.Server) bool {
	if !s.AcceptsNew(a.now) || s.Full() {
		return true
	}
	return a.triedAlready(s)
}

// triedAlready reports whether this request has tried s.
func (a *attempt) triedAlready(s *upstream.Server) bool {
	for _, t := range a.tried {
		if t == s {
			return true
		}
	}
	for _, t := range a.more {
		if t == s {
			return true
		}
	}
	return false
}
