// Package proxy is limpet's request path. For every request it chooses the
// virtual server (Host) and the location (URI), then either answers it
// (`return`, static files) or proxies it: the persistence decision, the
// server, the forwarding, retries on another server, and the record of all
// of it in the access log. error_page, try_files and index redirect a
// request internally: the location is chosen again (internalredirect.go,
// errorpage.go); auth_request asks a subrequest first (authrequest.go).
//
// Everything a request needs is compiled when the configuration is loaded
// (headers, variables, locations), and everything shared between requests
// is immutable or atomic: the request path takes no global lock.
package proxy

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/limpet-lb/limpet/internal/accesslog"
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/errpage"
	"github.com/limpet-lb/limpet/internal/limit"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/router"
	"github.com/limpet-lb/limpet/internal/static"
	"github.com/limpet-lb/limpet/internal/statuszone"
	"github.com/limpet-lb/limpet/internal/sticky"
	"github.com/limpet-lb/limpet/internal/upstream"
	"github.com/limpet-lb/limpet/internal/uptls"
	"github.com/limpet-lb/limpet/internal/vars"
)

// Env is what a Handler needs from the runtime that builds it.
type Env struct {
	// Upstream returns the live upstream a proxy_pass sends to: the named
	// upstream, or the implicit single-server one of an address.
	Upstream func(pp *config.ProxyPass) *live.Upstream
	// Transport returns the transport to use for an upstream with the
	// given timeouts.
	Transport func(u *live.Upstream, t Timeouts) http.RoundTripper
	// TLSTransport returns the transport of an https upstream with the
	// given timeouts, TLS client and proxy_ssl_name (the constant one;
	// "" when it holds variables). Nil: https locations are refused.
	TLSTransport func(u *live.Upstream, t Timeouts, c *uptls.Client, name string) http.RoundTripper
	// Dynamic returns the Targets of a location whose proxy_pass holds
	// variables, with its timeouts and, for https, its TLS client and
	// constant proxy_ssl_name ("": each target's host, $proxy_host).
	// Nil: such locations are refused.
	Dynamic func(l *config.Location, t Timeouts, c *uptls.Client, name string) (Targets, error)
	// AccessLog returns the logger of an access_log setting, nil for off.
	AccessLog func(al config.AccessLog) (*accesslog.Logger, error)
	// ErrorLog receives limpet's own messages (server state changes).
	ErrorLog *slog.Logger
	// Observer is told of every proxied request; nil for none.
	Observer Observer
	// Access compiles a level's access control (allow/deny, auth_basic,
	// limit_except); a nil Guard allows everything. Nil Access: none.
	Access func(a config.Access, le *config.LimitExcept) (Guard, error)
	// Limits compiles a level's limit_req and limit_conn; either is nil
	// when the level has none. Nil Limits: no limiting.
	Limits func(l config.Limits) (*limit.Requests, *limit.Conns, error)
	// Content returns the handler of a location served by limpet itself
	// (api, metrics, dashboard), or nil for other locations. It gets
	// paths relative to the location.
	Content func(l *config.Location) (http.Handler, error)
	// Now is the clock; nil means time.Now. Tests inject their own.
	Now func() time.Time
	// Vars is the configuration's own variables (map, set, named
	// captures), which templates are compiled against; nil for none
	// (see CompileVariables).
	Vars *vars.Registry
	// StatusZone returns the zone a status_zone names, the same for the
	// same kind and name; nil StatusZone: no zones are counted.
	StatusZone func(kind statuszone.Kind, name string) *statuszone.Zone
}

// Guard decides whether a request may be served; when it refuses, it has
// written the answer (403, 401).
type Guard interface {
	Allow(w http.ResponseWriter, r *http.Request, client netip.Addr) bool
}

// Observer is told of every proxied request, after its response: the
// metrics implement it.
type Observer interface {
	// ObserveRequest reports a request proxied to up: the server that
	// answered last (nil if none could be tried), the status sent, the
	// time the whole request took, the persistence decision, and how
	// many attempts were made (more than one means retries).
	ObserveRequest(up *live.Upstream, server *upstream.Server, status int, took time.Duration, dec sticky.Decision, attempts int)
}

// Handler serves the virtual servers that share one listen address.
type Handler struct {
	vhosts   *router.VirtualHosts
	servers  map[*config.Server]*virtualServer
	errorLog *slog.Logger
	observer Observer
	now      func() time.Time
	// realClock says now is time.Now, not a clock a test injected: only
	// then may a reading taken elsewhere (the server's RequestStart)
	// stand in for one of its own, and be handed on to h1.
	realClock bool
	// vars is the configuration's variables; userVars says whether a
	// request needs storage for them or for regex captures.
	vars     *vars.Registry
	userVars bool
	// limitRateSlot is the slot of a `set $limit_rate`, -1 without one.
	limitRateSlot int

	// upgrades tracks hijacked (WebSocket) connections, which
	// http.Server.Shutdown does not see, so CloseUpgrades can end them.
	upgrades sync.Map // map[*upgradedConn]struct{}
	// inflight counts requests being served, upgraded ones included, so
	// a shutdown can wait for their access log lines. (A WaitGroup would
	// race: requests may still arrive while a shutdown waits.)
	inflight atomic.Int64
	// successor, once set by Retire, serves the requests that still
	// reach this handler: those whose connection took up the Settings
	// of a configuration a reload has replaced just before the swap.
	successor atomic.Pointer[http.Handler]
	// servesTLS says the handler's address speaks TLS (SetTLS), and
	// tlsRefuse is its client-certificate check, nil when no server
	// of it verifies clients.
	servesTLS bool
	tlsRefuse func(cs *tls.ConnectionState, host string) int
}

// SetTLS tells the handler that its address speaks TLS, and gives it the
// address's client-certificate check (tlsconf.Listener.Refuse), or nil.
// As nginx's ngx_http_process_request, before any phase, the handler
// answers a request sent in plain HTTP to the address
// (errpage.IsPlainHTTP) with the 497 page, and one the check refuses with
// the status it returns (400 pages, 421); either closes the connection
// and is logged with the server's access_log like any other request. It
// is set once, before the handler serves.
func (h *Handler) SetTLS(refuse func(cs *tls.ConnectionState, host string) int) {
	h.servesTLS = true
	h.tlsRefuse = refuse
}

// Retire hands the requests that still arrive to next, the handler of
// the configuration that replaced this one; those being served finish
// here (WaitIdle waits for them). A request either sees the successor or
// is counted by inflight before WaitIdle looks: the two atomics make
// sure no request begins here after a WaitIdle that saw none.
func (h *Handler) Retire(next http.Handler) { h.successor.Store(&next) }

// virtualServer is a compiled `server` block.
type virtualServer struct {
	name      string // first server_name, for $server_name
	locations *router.Locations
	compiled  map[*config.Location]*location
	// noLocation serves requests that match no location, and answers
	// them all when the server has its own `return`, which nginx runs
	// before choosing a location. It logs with the server's access_log.
	noLocation *location
	// slashRedirect holds the paths of prefix locations ending in "/"
	// that proxy, without that slash: a request for exactly such a path
	// is redirected to the slashed one, as nginx does.
	slashRedirect map[string]*location
	// rewrites is the server's rewrite phase (rewrite.go); nil when its
	// configuration uses no set, rewrite, if, map or capture.
	rewrites *serverRewrites
	// named are the named locations, by name ("@name").
	named map[string]*location
	// zone is the server's status_zone, nil for none.
	zone *statuszone.Zone
}

// location is a compiled `location` block.
type location struct {
	cfg *config.Location

	// ret is the `return` action, or nil.
	ret *returnAction

	// Proxying; upstream is nil when the location does not proxy.
	upstream   *live.Upstream
	transport  http.RoundTripper
	proxyPass  *config.ProxyPass
	proxyHost  string
	headers    []setHeader
	next       config.NextUpstream
	tries      int
	tryTimeout time.Duration
	maxBody    int64
	// readTimeout is proxy_read_timeout, for the response body.
	readTimeout time.Duration
	// scheme is the proxy_pass's, "http" or "https"; tlsName is
	// proxy_ssl_name when it holds variables, evaluated per request,
	// nil otherwise (upstreamtls.go).
	scheme  string
	tlsName *vars.Template
	// dynamic is a proxy_pass with variables (dynamic.go), nil
	// otherwise; dynURI is the URI it sends instead of the request's,
	// set on the per-request copy of the location.
	dynamic    *dynamicPass
	dynURI     string
	unobserved bool // the upstream was made on the fly: no metrics

	log *logSet // nil when access_log is off (logs.go)

	// guard is the location's access control; nil allows everything.
	guard Guard
	// auth is the location's auth_request, nil when off (authrequest.go).
	auth *authRequest
	// reqLimit and connLimit are the location's limit_req and
	// limit_conn; nil when it has none.
	reqLimit  *limit.Requests
	connLimit *limit.Conns
	// referers is the valid_referers the location is under, for
	// $invalid_referer (referer.go); nil without one.
	referers *vars.Referers
	// content serves locations limpet answers itself (api, metrics,
	// dashboard); nil otherwise.
	content http.Handler
	// addHeaders are the location's add_header lines; nil when it has none.
	addHeaders []addHeader
	// lastRequest, when set, reports a request after which the
	// location's own keepalive_requests or keepalive_time ends the
	// connection (client.go).
	lastRequest func(r *http.Request) bool
	// script is the location's rewrite phase (rewrite.go).
	script []stmt

	// files serves the location's static files and runs its try_files
	// (internalredirect.go); errorPages are its error_page lines, and
	// intercept and recursive proxy_intercept_errors and
	// recursive_error_pages (errorpage.go).
	files      *static.Files
	errorPages []errorPage
	intercept  bool
	recursive  bool
	// logNotFound is log_not_found: a missing file is logged.
	logNotFound bool
	// resp changes the upstream's response header (proxy_hide_header,
	// proxy_redirect, proxy_cookie_*); expires is the location's
	// `expires`, nil when off.
	resp    *respRules
	expires *expiresRule
	// zone is the location's status_zone, nil for none.
	zone *statuszone.Zone
	// realIP takes the client's address from a trusted proxy's header;
	// nil without set_real_ip_from.
	realIP *realIP
	// pass is proxy_method and proxy_pass_request_headers|body; nil
	// when they are the defaults (the client's method, headers and body).
	pass *passRequest
}

// NewHandler compiles the virtual servers of one listen address. The
// server at defaultIndex is the default one (-1: the first).
func NewHandler(servers []*config.Server, defaultIndex int, env *Env) (*Handler, error) {
	vh, err := router.NewVirtualHosts(servers, defaultIndex)
	if err != nil {
		return nil, err
	}
	h := &Handler{
		vhosts:   vh,
		servers:  make(map[*config.Server]*virtualServer, len(servers)),
		errorLog: env.ErrorLog,
		observer: env.Observer,
		now:      env.Now,
		vars:     env.Vars,
	}
	if h.now == nil {
		h.now, h.realClock = time.Now, true
	}
	if h.errorLog == nil {
		h.errorLog = slog.Default()
	}
	for _, s := range servers {
		vs, err := compileServer(s, env)
		if err != nil {
			return nil, err
		}
		h.servers[s] = vs
	}
	// Once every template is compiled: whether one uses a capture.
	h.userVars = env.Vars.Len() > 0 || env.Vars.UsesCaptures()
	h.limitRateSlot = -1
	if slot, ok := env.Vars.Slot("limit_rate"); ok {
		h.limitRateSlot = slot // `set $limit_rate` (client.go)
	}
	return h, nil
}

func compileServer(s *config.Server, env *Env) (*virtualServer, error) {
	locs, err := router.NewLocations(s.Locations)
	if err != nil {
		return nil, err
	}
	vs := &virtualServer{locations: locs, compiled: make(map[*config.Location]*location), slashRedirect: make(map[string]*location)}
	if len(s.Names) > 0 {
		vs.name = s.Names[0]
	}
	vs.zone = compileZone(env, statuszone.Server, s.Proxy.Response.StatusZone)
	vs.noLocation = &location{cfg: &config.Location{Pos: s.Pos, Proxy: s.Proxy, Access: s.Access, Limits: s.Limits}}
	if vs.noLocation.log, err = openLogs(env, s.Proxy.AccessLogs); err != nil {
		return nil, err
	}
	if vs.noLocation.addHeaders, err = compileAddHeaders(env.Vars, s.Proxy.AddHeaders); err != nil {
		return nil, err
	}
	if err := vs.noLocation.compileResponse(env.Vars); err != nil {
		return nil, err
	}
	if err := vs.noLocation.compileLimits(env); err != nil {
		return nil, err
	}
	if vs.noLocation.guard, err = compileGuard(env, s.Access, nil); err != nil {
		return nil, err
	}
	if vs.noLocation.auth, err = compileAuthRequest(env.Vars, s.Access); err != nil {
		return nil, err
	}
	if s.Return != nil && script(s.Script) == nil {
		if vs.noLocation.ret, err = compileReturn(env.Vars, s.Return); err != nil {
			return nil, err
		}
	}
	if err := vs.noLocation.compileFiles(&s.Proxy.Static, env.Vars); err != nil {
		return nil, err
	}
	for name, l := range s.Named {
		cl, err := compileLocation(l, env)
		if err != nil {
			return nil, err
		}
		if vs.named == nil {
			vs.named = make(map[string]*location, len(s.Named))
		}
		vs.named[name] = cl
	}
	var walk func([]*config.Location) error
	walk = func(list []*config.Location) error {
		for _, l := range list {
			cl, err := compileLocation(l, env)
			if err != nil {
				return err
			}
			vs.compiled[l] = cl
			if l.ProxyPass != nil && l.Modifier != "~" && l.Modifier != "~*" && len(l.Path) > 1 && strings.HasSuffix(l.Path, "/") {
				vs.slashRedirect[strings.TrimSuffix(l.Path, "/")] = cl
			}
			if err := walk(l.Locations); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(s.Locations); err != nil {
		return nil, err
	}
	if err := vs.compileRewrites(s, env); err != nil {
		return nil, err
	}
	if err := vs.compileReferers(s); err != nil {
		return nil, err
	}
	return vs, nil
}

// compileGuard compiles access control, keeping a nil Guard (not a typed
// nil) when there is none, so the request path can skip it.
func compileGuard(env *Env, a config.Access, le *config.LimitExcept) (Guard, error) {
	if env.Access == nil {
		return nil, nil
	}
	g, err := env.Access(a, le)
	if err != nil || g == nil || reflect.ValueOf(g).IsNil() {
		return nil, err
	}
	return g, nil
}

func compileLocation(l *config.Location, env *Env) (*location, error) {
	cl := &location{cfg: l}
	var err error
	if cl.log, err = openLogs(env, l.Proxy.AccessLogs); err != nil {
		return nil, err
	}
	if cl.guard, err = compileGuard(env, l.Access, l.LimitExcept); err != nil {
		return nil, err
	}
	if cl.auth, err = compileAuthRequest(env.Vars, l.Access); err != nil {
		return nil, err
	}
	if cl.addHeaders, err = compileAddHeaders(env.Vars, l.Proxy.AddHeaders); err != nil {
		return nil, err
	}
	if err := cl.compileResponse(env.Vars); err != nil {
		return nil, err
	}
	cl.zone = compileZone(env, statuszone.Location, l.Proxy.Response.StatusZone)
	if err := cl.compileLimits(env); err != nil {
		return nil, err
	}
	if err := cl.compileFiles(&l.Proxy.Static, env.Vars); err != nil {
		return nil, err
	}
	if env.Content != nil {
		if cl.content, err = env.Content(l); err != nil {
			return nil, err
		}
		if cl.content != nil {
			return cl, nil
		}
	}
	if l.Return != nil && script(l.Script) == nil {
		if cl.ret, err = compileReturn(env.Vars, l.Return); err != nil {
			return nil, err
		}
		return cl, nil
	}
	if l.ProxyPass == nil {
		return cl, nil
	}
	p := l.Proxy
	cl.proxyPass = l.ProxyPass
	if l.ProxyPass.Target != "" {
		if err := cl.compileDynamic(env, Timeouts{Connect: p.ConnectTimeout, Read: p.ReadTimeout, Send: p.SendTimeout}); err != nil {
			return nil, err
		}
		cl.compileProxySettings()
		if cl.headers, err = compileHeaders(env.Vars, p.SetHeaders); err != nil {
			return nil, err
		}
		return cl, nil
	}
	cl.upstream = env.Upstream(l.ProxyPass)
	cl.proxyHost = cl.upstream.Name
	if l.ProxyPass.Upstream == nil && upstream.IsUnix(cl.upstream.Name) {
		cl.proxyHost = "localhost" // nginx's $proxy_host for a socket
	}
	if cl.transport, err = cl.compileTransport(env, Timeouts{Connect: p.ConnectTimeout, Read: p.ReadTimeout, Send: p.SendTimeout}); err != nil {
		return nil, err
	}
	if cl.headers, err = compileHeaders(env.Vars, p.SetHeaders); err != nil {
		return nil, err
	}
	if err := cl.compileProxySettings(); err != nil {
		return nil, err
	}
	return cl, nil
}

// compileProxySettings takes the location's retry and size settings
// and what of the client's request it passes on.
func (l *location) compileProxySettings() error {
	p := &l.cfg.Proxy
	var err error
	if l.pass, err = compilePassRequest(p.PassRequest, l.cfg.Pos); err != nil {
		return err
	}
	l.next = p.NextUpstream
	l.tries = p.NextUpstreamTries
	l.tryTimeout = p.NextUpstreamTimeout
	l.maxBody = p.ClientMaxBodySize
	l.readTimeout = p.ReadTimeout
	return nil
}

// compileResponse compiles the location's response-header rules.
func (l *location) compileResponse(g *vars.Registry) error {
	l.realIP = compileRealIP(l.cfg.Proxy.RealIP)
	var err error
	if l.resp, err = compileRespRules(g, l.cfg.Proxy); err != nil {
		return err
	}
	l.expires, err = compileExpires(g, l.cfg.Proxy.Response.Expires)
	return err
}

// compileLimits compiles the location's limit_req and limit_conn.
func (l *location) compileLimits(env *Env) error {
	if env.Limits == nil {
		return nil
	}
	var err error
	l.reqLimit, l.connLimit, err = env.Limits(l.cfg.Limits)
	return err
}

// ServeHTTP serves one request: virtual server, location, then the
// location's action, and the access log line.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.inflight.Add(1)
	if next := h.successor.Load(); next != nil {
		h.inflight.Add(-1)
		(*next).ServeHTTP(w, r)
		return
	}
	defer h.inflight.Add(-1)
	start, fresh := h.requestStart(w)
	rw := newResponseWriter(w)
	// The server's reading is the request's first byte, and the rest of
	// its header may have come in later reads: only the handler's own
	// reading, or the server's when the header was whole as it read it,
	// may stand for an attempt's start (proxy).
	rw.fresh = fresh
	// The proxy fills the upstream fields of the entry; the rest is
	// filled only when the line is written, so a location without an
	// access log pays nothing for it.
	// It lives in the response writer, which is allocated anyway, so
	// internal redirects can reach it without a second allocation.
	entry := &rw.fl.entry

	vs := h.servers[h.vhosts.Select(r.Host)]
	// The variables live in the response writer, which add_header
	// expands against: one allocation for both.
	vr := &rw.vr
	*vr = vars.Request{R: r, Scheme: "http", ServerName: vs.name, Response: &rw.resp}
	rw.resp.Start, rw.resp.Now, rw.resp.Header = start, h.now, w.Header()
	if h.userVars {
		// Only a configuration with variables of its own pays for them.
		vr.User = new(vars.Values)
		vr.User.Init(h.vars)
	}
	if r.TLS != nil {
		vr.Scheme = "https"
	}
	vr.Remote, _ = netip.ParseAddrPort(r.RemoteAddr)
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ta, ok := a.(*net.TCPAddr); ok {
			vr.Local = ta.AddrPort()
		}
	}
	loc := vs.noLocation
	rw.add, rw.expires = loc.addHeaders, loc.expires
	vr.Referers = loc.referers
	zs := zones{server: vs.zone}
	zs.begin(vs.zone, r)
	// The line is written even when the response is cut short by a
	// panic (http.ErrAbortHandler after an upstream broke off).
	defer func() {
		if zs.server != nil || zs.location != nil {
			zs.end(rw)
		}
		// nginx logs with the location that finalised the request
		// (r->loc_conf at the log phase): after internal redirects,
		// the last one run served, not the first one matched.
		loc := loc
		if rw.fl.loc != nil {
			loc = rw.fl.loc
		}
		if loc.log != nil {
			if loc.log.json {
				entry.Time, entry.Host, entry.Method, entry.URI, entry.Proto = start, r.Host, r.Method, r.RequestURI, r.Proto
				entry.UserAgent, entry.Referer = r.UserAgent(), r.Referer()
				entry.Client = vr.Remote.Addr().String()
			}
			end := rw.doneAt // the end of the response, when a proxy read it
			if end.IsZero() {
				end = h.now()
			}
			loc.logRequest(rw, entry, end.Sub(start))
		}
		rw.release(r) // last: nothing of the request reads it after this
	}()

	// Until a location is chosen, limpet's own answers (497, a TLS
	// refusal, a bad URI's 400) go through the server's error_page, as
	// nginx's ngx_http_special_response_handler with the server's
	// configuration (error_page 497 https://$host$request_uri;).
	rw.fl.h, rw.fl.vs, rw.fl.loc = h, vs, loc
	if h.servesTLS {
		// nginx's ngx_http_process_request, before any phase.
		code := 0
		switch {
		case r.TLS == nil:
			if errpage.IsPlainHTTP(r.Context()) {
				code = errpage.PlainHTTP
			}
		case h.tlsRefuse != nil:
			code = h.tlsRefuse(r.TLS, r.Host)
		}
		if code != 0 {
			// nginx closes the connection after these pages.
			rw.Header().Set("Connection", "close")
			writeError(rw, code)
			return
		}
	}
	path, err := router.NormalizePath(r.URL.EscapedPath())
	if err != nil {
		writeError(rw, http.StatusBadRequest)
		return
	}
	vr.URI = path
	if loc.realIP != nil {
		// nginx's POST_READ phase: the server's set_real_ip_from,
		// before its rewrite phase, so a map of $remote_addr or a
		// server's if sees the client's address (realip.go).
		rw.fl.realIP = loc.realIP.apply(r, vr)
	}
	var prefix string
	if vs.rewrites != nil {
		// The rewrite phase (rewrite.go) chooses the location itself.
		var done bool
		if loc, prefix, r, done = h.rewritePhase(vs, rw, r, vr, path); done {
			return
		}
	} else if loc.ret == nil { // a server-level return answers every request
		l, p := vs.locations.Match(path)
		if sl := vs.slashRedirect[path]; sl != nil && (l == nil || l.Path != path) {
			// nginx redirects from the location that asked for it, whose
			// add_header lines apply.
			rw.add, rw.expires = sl.addHeaders, sl.expires
			redirectToSlash(rw, r, vr, path, sl.cfg.Proxy.Redirects)
			return
		}
		if l != nil {
			loc, prefix = vs.compiled[l], p
			rw.add, rw.expires = loc.addHeaders, loc.expires
			zs.location = loc.zone
			zs.begin(loc.zone, r)
		}
	}
	if vs.rewrites != nil && loc != vs.noLocation {
		// The rewrite phase chose the location and its add_header.
		rw.expires = loc.expires
		zs.location = loc.zone
		zs.begin(loc.zone, r)
	}
	rw.fl.h, rw.fl.vs, rw.fl.loc = h, vs, loc
	vr.Referers = loc.referers
	if loc.cfg.Internal {
		// Only internal redirects reach it; nginx answers 404.
		writeError(rw, http.StatusNotFound)
		return
	}
	if loc.ret == nil {
		// The location's set_real_ip_from, in PREACCESS before the
		// limits; a `return` answered in the rewrite phase, before it.
		rw.realIPPhase(r, loc)
	}
	if (loc.reqLimit != nil || loc.connLimit != nil) && loc.ret == nil {
		// A `return` runs before the limits, in nginx's rewrite phase.
		var held limit.Held
		defer held.Release()
		rw.fresh = false // limit_req may delay the request
		if !loc.limits(rw, r, vr, &held) {
			return
		}
	}
	h.run(rw, r, loc, prefix)
}

// requestStarter is a ResponseWriter that knows when its request began:
// h1srv's, which reads the clock once as the request's first byte arrives
// (nginx's r->start, what $request_time counts from).
type requestStarter interface{ RequestStart() time.Time }

// headerWhole is a requestStarter that tells whether the request's
// header was whole as it read the clock (h1srv's).
type headerWhole interface{ RequestHeaderWhole() bool }

// requestStart returns the moment the request began: the server's own
// reading when it has one and the clock is the real one, else a reading
// of the handler's clock, so that an injected clock is used throughout.
// fresh says the reading may stand for the current time: the handler's
// own, or the server's when the request's header was whole as it read
// it (nothing has waited on the client since).
func (h *Handler) requestStart(w http.ResponseWriter) (start time.Time, fresh bool) {
	if h.realClock {
		if rs, ok := w.(requestStarter); ok {
			if t := rs.RequestStart(); !t.IsZero() {
				hw, ok := w.(headerWhole)
				return t, ok && hw.RequestHeaderWhole()
			}
		}
	}
	return h.now(), true
}

// redirectToSlash answers a request for "/app" when "location /app/"
// proxies: nginx sends a 301 to "/app/", keeping the query string, so
// relative links of the application resolve under its prefix.
func redirectToSlash(w http.ResponseWriter, r *http.Request, vr *vars.Request, path string, rs config.Redirects) {
	target := path + "/"
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	setRedirect(w, vr, rs, target)
	writeError(w, http.StatusMovedPermanently)
}

// responseWriter records what was sent, for the access log and for the
// rule that a request is retried only while nothing has reached the
// client.
// It is also where add_header applies, as nginx's header filter does:
// every response of the request passes here, proxied or limpet's own.
type responseWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	// add is the add_header list of the location that serves the
	// request, applied to the first final status written; vr is the
	// request's variables, which its values expand against.
	add   []addHeader
	vr    vars.Request
	added bool
	// resp is what the variables know of the response (vr.Response
	// points here); broken is set when the response was cut short.
	resp   vars.Response
	broken bool
	// client is the serving location's client settings (send_timeout,
	// limit_rate: client.go); nil means nginx's defaults.
	client *config.ClientSettings
	// fl is the request's state across internal redirects and error
	// pages (internalredirect.go).
	fl flow
	// expires is the location's `expires`, applied with add_header.
	expires *expiresRule
	// fresh says that resp.Start is the handler's own reading and that
	// nothing that may block (limit_req, access checks, auth_request, an
	// internal redirect) has happened since, so the first exchange may
	// start at resp.Start without a clock reading of its own. doneAt is
	// the clock reading that ended the latest exchange (the end of its
	// response), which the access log takes for $request_time; zero
	// when another action began after it.
	fresh  bool
	doneAt time.Time
	// recycled says the writer came from the pool and goes back to it
	// when its request ends; x is the exchange it lent the request's
	// first proxying (recycle.go).
	recycled bool
	x        *exchange
}

func (w *responseWriter) WriteHeader(code int) {
	if f := w.fl.force; f != 0 && code >= 200 && (f != http.StatusOK || code != http.StatusPartialContent && code != http.StatusNotModified) {
		// An error page keeps the status of the error (error_page);
		// with =200 it may still be a range or a 304, as in nginx,
		// whose range and not-modified filters run after the status
		// is set.
		if code != f && f != http.StatusOK {
			// A file sent as an error page: nginx's header filter drops
			// Last-Modified from any status but 200, 206 and 304, and
			// its range filter offers ranges on a 200 only.
			h := w.ResponseWriter.Header()
			h.Del("Last-Modified")
			h.Del("Accept-Ranges")
		}
		code = f
	}
	if w.status == 0 || w.status < 200 {
		w.status = code
	}
	if code >= 200 {
		w.resp.Status = code // for $status in add_header
	}
	if (len(w.add) > 0 || w.expires != nil) && !w.added && code >= 200 {
		w.added = true
		// nginx's headers filter sets expires before it adds the
		// add_header lines, which may then add beside it.
		if w.expires != nil {
			w.expires.apply(w.ResponseWriter.Header(), code, time.Now(), &w.vr)
		}
		applyAddHeaders(w.add, w.ResponseWriter.Header(), code, &w.vr)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status < 200 {
		// An implicit 200, made explicit so that add_header sees it.
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// CloseUpgrades closes every upgraded (WebSocket) connection and waits
// until every request has finished and been logged, or ctx is done. The
// runtime calls it during a graceful shutdown, once the HTTP server has no
// ordinary requests left.
func (h *Handler) CloseUpgrades(ctx context.Context) error {
	h.EndUpgrades()
	return h.WaitIdle(ctx)
}

// EndUpgrades closes every upgraded (WebSocket) connection; their
// requests end soon after.
func (h *Handler) EndUpgrades() {
	h.upgrades.Range(func(k, _ any) bool {
		k.(*upgradedConn).close()
		return true
	})
}

// WaitIdle waits until no request is being served, or ctx is done.
func (h *Handler) WaitIdle(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for h.inflight.Load() > 0 {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
