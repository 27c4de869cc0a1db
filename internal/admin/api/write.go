package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// The defaults of a new server, nginx's.
const (
	defaultWeight      = 1
	defaultMaxFails    = 1
	defaultFailTimeout = 10 * time.Second
)

// addServer answers POST /9/http/upstreams/NAME/servers: it adds the
// server (one per address when the host name resolves to several, as the
// configuration does) and answers 201 with its configuration, or a list of
// them when there are several.
func (h *handler) addServer(u *live.Upstream, r *http.Request) (int, any, *apiError) {
	p, e := readParams(r)
	if e != nil {
		return 0, nil, e
	}
	switch {
	case p.server == nil:
		return 0, nil, badRequest("UpstreamConfFormatError", `missing "server" argument`)
	case p.id != nil:
		return 0, nil, badRequest("UpstreamConfFormatError", `invalid "id" value`)
	}
	written := *p.server
	host, port, msg := splitHostPort(written)
	if msg != "" {
		return 0, nil, badRequest("UpstreamBadAddress", fmt.Sprintf(`%s in upstream "%s"`, msg, written))
	}
	addrs, err := []string{host}, error(nil)
	if !upstream.IsUnix(host) {
		addrs, err = h.resolve(r.Context(), host)
	}
	if err != nil {
		return 0, nil, badRequest("UpstreamBadAddress", fmt.Sprintf(`host not found in upstream "%s"`, written))
	}

	if u.Load().NoBackup && deref(p.backup, false) {
		return 0, nil, badRequest("UpstreamNoBackup", "backup server is not allowed with the upstream's balancing method")
	}
	if u.Load().NoBackup && deref(p.slowStart, 0) > 0 {
		return 0, nil, badRequest("UpstreamBadSlowStart", "slow_start is not allowed with the upstream's balancing method")
	}
	route := deref(p.route, "")
	added := make([]*upstream.Server, 0, len(addrs))
	for _, a := range addrs {
		addr := a
		if port != "" {
			addr = net.JoinHostPort(a, port)
		}
		s := &upstream.Server{
			ID:          upstream.IDFor(addr, route),
			Name:        written,
			Addr:        addr,
			Weight:      deref(p.weight, defaultWeight),
			MaxConns:    deref(p.maxConns, 0),
			MaxFails:    deref(p.maxFails, defaultMaxFails),
			FailTimeout: deref(p.failTimeout, defaultFailTimeout),
			SlowStart:   deref(p.slowStart, 0),
			Backup:      deref(p.backup, false),
			Route:       route,
		}
		// Set before the server is published, so it never takes a
		// request it should not.
		s.SetDown(deref(p.down, false))
		s.SetDraining(deref(p.drain, false))
		added = append(added, s)
	}

	var views []confView
	err = u.Update(func(current []*upstream.Server) ([]*upstream.Server, error) {
		// A server's ID is its users' cookie value: two servers with
		// one ID would share their users.
		ids := make(map[string]bool, len(current)+len(added))
		for _, s := range current {
			ids[s.ID] = true
		}
		for _, s := range added {
			if ids[s.ID] {
				return nil, errEntryExists
			}
			ids[s.ID] = true
		}
		next := append(current, added...)
		// Update numbers the new servers once fn returns; the views
		// are built from them below, still under the lock, by View.
		return next, nil
	})
	if err != nil {
		return 0, nil, asAPIError(err)
	}
	u.View(func([]*upstream.Server) { views = confs(added) })
	for _, v := range views {
		h.o.Log.Info("api: server added", "upstream", u.Name, "id", v.ID, "server", v.Server, "name", written,
			"weight", v.Weight, "backup", v.Backup, "down", v.Down, "drain", v.Drain)
	}
	if len(views) == 1 {
		return http.StatusCreated, views[0], nil
	}
	return http.StatusCreated, views, nil
}

// resolve returns the addresses of host: itself when it is an IP literal,
// else what the resolver says.
func (h *handler) resolve(ctx context.Context, host string) ([]string, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []string{ip.String()}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := h.o.Resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(addrs))
	out := addrs[:0:0]
	for _, a := range addrs {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no addresses")
	}
	return out, nil
}

// errUnchanged ends an Update whose change needs no new snapshot (only
// the atomics down and drain changed), so the balancers keep their state;
// Update still reports it, so a `state` file keeps down and drain.
var errUnchanged = live.ErrKept

// patchServer answers PATCH /9/http/upstreams/NAME/servers/ID. weight,
// down and drain change; the other parameters may be sent with the
// server's current values (clients that PATCH the whole object do) but
// not changed.
func (h *handler) patchServer(u *live.Upstream, id int, r *http.Request) (int, any, *apiError) {
	p, e := readParams(r)
	if e != nil {
		return 0, nil, e
	}
	var view confView
	var changes []any
	err := u.Update(func(current []*upstream.Server) ([]*upstream.Server, error) {
		s := byAPIID(current, id)
		if s == nil {
			return nil, errServerNotFound(id)
		}
		if e := p.immutable(s); e != nil {
			return nil, e
		}
		// Everything is checked: from here on the change happens.
		rebuild := false
		if p.weight != nil && *p.weight != s.Weight {
			changes = append(changes, "weight", *p.weight, "was", s.Weight)
			s.Weight = *p.weight
			rebuild = true
		}
		if p.down != nil && *p.down != s.Down() {
			changes = append(changes, "down", *p.down)
			s.SetDown(*p.down)
		}
		if p.drain != nil && *p.drain != s.Draining() {
			changes = append(changes, "drain", *p.drain)
			s.SetDraining(*p.drain)
		}
		view = conf(s)
		if !rebuild {
			return nil, errUnchanged
		}
		return current, nil
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		return 0, nil, asAPIError(err)
	}
	if len(changes) > 0 {
		h.o.Log.Info("api: server changed", append([]any{"upstream", u.Name, "id", id, "server", view.Server}, changes...)...)
		// A server back up (or out of draining) may take queued
		// requests; a rebuild has woken them already, a flag flip not.
		u.Queue().Broadcast()
	}
	return http.StatusOK, view, nil
}

// immutable refuses a change of a parameter limpet cannot change on a
// live server. NGINX Plus refuses to change id and backup too; it changes
// the others, which limpet reads on the request path without a lock (and
// a changed route would change the server's cookie value).
func (p *params) immutable(s *upstream.Server) *apiError {
	refuse := func(what string) *apiError {
		return badRequest("UpstreamServerImmutable", `server "`+strconv.Itoa(s.APIID)+`" `+what+` is immutable`)
	}
	switch {
	case p.id != nil && *p.id != s.APIID:
		return refuse("id")
	case p.server != nil && !sameAddress(*p.server, s):
		return refuse("address")
	case p.backup != nil && *p.backup != s.Backup:
		return refuse("backup")
	case p.route != nil && *p.route != s.Route:
		return refuse("route")
	case p.maxFails != nil && *p.maxFails != s.MaxFails:
		return refuse("max_fails")
	case p.maxConns != nil && *p.maxConns != s.MaxConns:
		return refuse("max_conns")
	case p.failTimeout != nil && *p.failTimeout != s.FailTimeout:
		return refuse("fail_timeout")
	case p.slowStart != nil && *p.slowStart != s.SlowStart:
		return refuse("slow_start")
	}
	return nil
}

// sameAddress reports whether a PATCH's "server" names s: its address,
// with or without the default port, or its name as written.
func sameAddress(written string, s *upstream.Server) bool {
	if written == s.Addr || written == s.Name {
		return true
	}
	host, port, msg := splitHostPort(written)
	if msg != "" || port == "" {
		return false // a unix address is only ever written as itself
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.String()
	}
	return net.JoinHostPort(host, port) == s.Addr
}

// deleteServer answers DELETE /9/http/upstreams/NAME/servers/ID with the
// servers that remain. Requests in flight to the server finish; its users'
// cookies read "server_removed" from now on.
func (h *handler) deleteServer(u *live.Upstream, id int, _ *http.Request) (int, any, *apiError) {
	var removed *upstream.Server
	var remaining []confView
	err := u.Update(func(current []*upstream.Server) ([]*upstream.Server, error) {
		next := make([]*upstream.Server, 0, len(current))
		for _, s := range current {
			if s.APIID == id {
				removed = s
				continue
			}
			next = append(next, s)
		}
		if removed == nil {
			return nil, errServerNotFound(id)
		}
		remaining = confs(next)
		return next, nil
	})
	if err != nil {
		return 0, nil, asAPIError(err)
	}
	h.o.Log.Info("api: server removed", "upstream", u.Name, "id", id, "server", removed.Addr)
	return http.StatusOK, remaining, nil
}

// asAPIError returns the API error an Update failed with.
func asAPIError(err error) *apiError {
	var e *apiError
	if errors.As(err, &e) {
		return e
	}
	return &apiError{http.StatusInternalServerError, err.Error(), "InternalError"}
}

// deref returns *p, or def when p is nil.
func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
