package config

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Options adjust how a configuration is loaded. The zero value is ready
// to use.
type Options struct {
	// LookupHost resolves a host name to addresses; nil means
	// net.DefaultResolver.LookupHost with a 5s timeout. Tests inject a
	// map so they never touch DNS. Addresses written as IP literals are
	// never looked up.
	LookupHost func(ctx context.Context, host string) ([]string, error)
	// Prefix is the directory that relative access_log, error_log and
	// pid paths resolve against: nginx's -p. "" means the main file's
	// directory. include and auth_basic_user_file resolve against the
	// main file's directory whatever the prefix, as nginx's resolve
	// against its configuration prefix.
	Prefix string
}

// lookupTimeout bounds each name resolution of the default resolver, so a
// dead DNS server delays a (re)load by seconds, not minutes.
const lookupTimeout = 5 * time.Second

// Load reads the configuration file at path, expands its includes and
// builds the typed Config. Errors name the file and line at fault.
func Load(path string, opts Options) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		// nginx reports its main file without a position, and so do we.
		return nil, openError(path, err)
	}
	return LoadBytes(path, src, opts)
}

// LoadBytes is Load with the main file's text given in src. Includes are
// still read from disk, relative to filepath.Dir(path).
func LoadBytes(path string, src []byte, opts Options) (*Config, error) {
	tree, err := Parse(path, src)
	if err != nil {
		return nil, err
	}
	in := &includer{dir: filepath.Dir(path), stack: []string{absPath(path)}}
	if tree, err = in.expand(tree); err != nil {
		return nil, err
	}
	return build(path, tree, opts)
}

// build turns an expanded tree into a Config; path is the main file, the
// base of relative log paths.
func build(path string, tree []*Directive, opts Options) (*Config, error) {
	b := &builder{
		cfg:        &Config{File: path, WorkerConnections: DefaultWorkerConnections},
		dir:        filepath.Dir(path),
		prefix:     opts.Prefix,
		lookupHost: opts.LookupHost,
		upstreams:  make(map[string]*Upstream),
		states:     make(map[string]*Upstream),
	}
	if b.prefix == "" {
		b.prefix = b.dir
	}
	// root's default depends on the prefix: it sits in http's level,
	// unset, so every level inherits it and may still set its own.
	b.httpProxy.static.root.v = rootConf{path: filepath.Join(b.prefix, defaultRoot), prefix: b.prefix}
	b.httpProxy.client.bodyTempPath.v = filepath.Join(b.prefix, defaultBodyTempPath)
	if b.lookupHost == nil {
		b.lookupHost = func(ctx context.Context, host string) ([]string, error) {
			ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
			defer cancel()
			return net.DefaultResolver.LookupHost(ctx, host)
		}
	}
	if err := b.walk(tree, &scope{where: inMain, proxy: &b.httpProxy, access: &b.httpAccess, limits: &b.httpLimits}); err != nil {
		return nil, err
	}
	if err := b.finish(); err != nil {
		return nil, err
	}
	return b.cfg, nil
}

// builder turns the directive tree into a Config. It keeps the raw,
// per-level settings until the whole tree is read, because nginx merges
// after parsing: a server inherits an http-level setting written after it.
type builder struct {
	cfg        *Config
	dir        string // directory of the main file, for include and auth_basic_user_file
	prefix     string // Options.Prefix or dir, for relative log and pid paths
	lookupHost func(ctx context.Context, host string) ([]string, error)

	httpProxy   proxyConf  // settings at top level and in http {}
	httpAccess  accessConf // access control at top level and in http {}
	httpLimits  limitConf  // limit_req and limit_conn at top level and in http {}
	httpSeen    bool
	errorLogSet bool
	pidSet      bool
	shutdownSet bool // worker_shutdown_timeout was seen
	connsSet    bool // worker_connections was seen
	// upstreams indexes Config.Upstreams by lower-cased name: nginx
	// compares upstream names without case.
	upstreams map[string]*Upstream
	// ignoredAt indexes Config.Ignored by directive name (addIgnored),
	// noEffectAt Config.Warnings by directive and value (warnNoEffect).
	ignoredAt  map[string]int
	noEffectAt map[string]int
	// states maps each `state` file to the upstream that keeps it.
	states  map[string]*Upstream
	servers []*serverConf
	// passes are proxy_pass directives, resolved once every upstream is
	// known, since an upstream may be defined after its first use.
	passes []pendingPass
	// checks are health_check directives, resolved once every match
	// block and proxy_pass is known.
	checks []pendingCheck
	// reqZones and connZones are the limit zones by name; zoneKinds
	// every zone name defined or used, with its module; zoneUses the
	// limit_req and limit_conn lines, resolved once every zone is known.
	reqZones  map[string]*LimitReqZone
	connZones map[string]*LimitConnZone
	zoneKinds map[string]zoneKind
	zoneUses  []zoneUse
	// httpResolver is resolver and resolver_timeout at top level and in
	// http {}; otherResolvers those of servers and locations, by level,
	// checked for duplicates and otherwise of no use to limpet.
	httpResolver   resolverLevel
	otherResolvers map[*proxyConf]*resolverLevel
	// levelResolvers are the resolver and resolver_timeout lines of
	// servers and locations, in order: those no proxy_pass with
	// variables uses are reported as ignored (finishPassResolvers).
	levelResolvers []Ignored
	// upstreamConfs are every upstream block, for the checks that need
	// the whole tree.
	upstreamConfs []*upstreamConf
	// httpSSL is the ssl_* settings at top level and in http {},
	// serverSSL those of each server that has any (tls.go).
	httpSSL   sslLevel
	serverSSL map[*serverConf]*sslLevel

	// logBuffers holds the buffered access_log line of each path, whose
	// other lines must ask for the same buffer (logformat.go).
	logBuffers map[string]AccessLog
}

// scope is the block a directive appears in, with the objects its
// handler may change.
type scope struct {
	where  where
	proxy  *proxyConf    // this level's proxy settings (http, server or location)
	access *accessConf   // this level's access control (also limit_except)
	limits *limitConf    // this level's limit_req and limit_conn (http, server or location)
	srv    *serverConf   // enclosing server, or nil
	loc    *locationConf // enclosing location, or nil
	ups    *upstreamConf // enclosing upstream, or nil
	match  *Match        // enclosing match block, or nil
	// ifBody is the statement list of the enclosing if block, or nil.
	ifBody *[]*Stmt
}

type upstreamConf struct {
	u         *Upstream
	methodSet bool
	zoneSet   bool
	queue     *Directive // the `queue` line, for the zone check
	backup    *Directive // first server line with `backup`, for the late check
	// slowStart is the first server line with slow_start=, and
	// slowStartParam that parameter as written, for the same check.
	slowStart      *Directive
	slowStartParam string
	// state is the `state` directive, server the first `server` line
	// written in the block: NGINX Plus allows one or the other.
	state, server *Directive
	// resolver is the upstream's own resolver and resolver_timeout.
	resolver resolverLevel
}

type serverConf struct {
	srv     *Server
	proxy   proxyConf
	access  accessConf
	limits  limitConf
	locs    []*locationConf
	listens []*Directive // parallel to srv.Listens, for errors found later
}

type locationConf struct {
	loc         *Location
	proxy       proxyConf
	access      accessConf
	limits      limitConf
	limitExcept *limitExceptConf // nil without limit_except
	children    []*locationConf
	// inIf marks the configuration of an `if` block (Stmt.Location): a
	// child for the merge of settings, not a location the router knows.
	inIf        bool
	internalSet bool // `internal;` was seen (static.go)
}

type pendingPass struct {
	d          *Directive
	pp         *ProxyPass
	host, port string
	hasPort    bool
}

// walk applies each directive of ds through the table.
func (b *builder) walk(ds []*Directive, s *scope) error {
	for _, d := range ds {
		e, err := lookup(d, s.where)
		if err != nil {
			return err
		}
		if err := e.check(d); err != nil {
			return err
		}
		if err := e.handle(b, d, s); err != nil {
			return err
		}
		b.warnNoEffect(d)
	}
	return nil
}

// finish does what needs the whole tree: proxy_pass targets, inherited
// settings and defaults, and the checks across servers.
func (b *builder) finish() error {
	for _, p := range b.passes {
		if err := b.resolvePass(p); err != nil {
			return err
		}
	}
	for _, c := range b.checks {
		if err := b.resolveCheck(c); err != nil {
			return err
		}
	}
	if err := b.resolveZones(); err != nil {
		return err
	}
	for _, uc := range b.upstreamConfs {
		if err := b.finishResolve(uc); err != nil {
			return err
		}
	}
	b.finishPassResolvers()
	b.reportUnusedResolver()
	defaults := make(map[string]bool) // listen addresses with a default server
	options := make(map[string]bool)  // listen addresses with socket options
	for _, sc := range b.servers {
		srv := sc.srv
		sc.proxy.inherit(&b.httpProxy)
		srv.Proxy = sc.proxy.effective()
		srv.ClientHeaders = sc.proxy.clientHeaders()
		srv.HTTP2 = sc.proxy.http2Settings()
		sc.access.inherit(&b.httpAccess)
		srv.Access = sc.access.effective()
		sc.limits.inherit(&b.httpLimits)
		srv.Limits = sc.limits.effective()
		for _, lc := range sc.locs {
			finishLocation(lc, &sc.proxy, &sc.access, &sc.limits)
		}
		b.cfg.Warnings = append(b.cfg.Warnings, openAdmin(srv.Locations)...)
		b.cfg.Warnings = append(b.cfg.Warnings, openAdmin(srv.NamedLocations())...)
		if len(srv.Listens) == 0 {
			// nginx's default is "listen *:80" (8000 when not root; limpet
			// has no such distinction).
			srv.Listens = []Listen{{Pos: srv.Pos, Addr: "0.0.0.0:80"}}
		}
		if len(srv.Names) == 0 {
			srv.Names = []string{""}
		}
		for i, l := range srv.Listens {
			key := listenKey(l.Addr)
			if l.HasSocketOptions() {
				// The socket is one: only one listen may shape it
				// (ngx_http_add_addresses).
				if options[key] {
					return sc.listens[i].errorf("duplicate listen options for %s", l.Addr)
				}
				options[key] = true
			}
			if !l.DefaultServer {
				continue
			}
			if defaults[key] {
				return sc.listens[i].errorf("a duplicate default server for %s", l.Addr)
			}
			defaults[key] = true
		}
	}
	if err := b.finishSSL(); err != nil {
		return err
	}
	if err := b.loadUpstreamSSL(); err != nil {
		return err
	}
	if b.cfg.ErrorLog == "" {
		b.cfg.ErrorLog = "stderr"
	}
	if b.cfg.PID == "" {
		b.cfg.PID = filepath.Join(b.prefix, DefaultPID)
	}
	return nil
}

// finishLocation merges a location's settings with its parent's, which
// are already merged, and recurses into nested locations. A limit_except
// block merges with its location as nginx merges it: like a nested
// location.
func finishLocation(lc *locationConf, parent *proxyConf, parentAccess *accessConf, parentLimits *limitConf) {
	lc.proxy.inherit(parent)
	lc.loc.Proxy = lc.proxy.effective()
	if !lc.proxy.resp.redirects.set && lc.loc.ProxyPass != nil && lc.loc.ProxyPass.Target == "" {
		// nginx's proxy_redirect default where no level says otherwise;
		// a proxy_pass with variables has none, as in nginx.
		lc.loc.Proxy.Response.Redirects = []Rewrite{defaultRedirect(lc.loc.ProxyPass, lc.loc.Path)}
	}
	lc.access.inherit(parentAccess)
	lc.loc.Access = lc.access.effective()
	lc.limits.inherit(parentLimits)
	lc.loc.Limits = lc.limits.effective()
	if le := lc.limitExcept; le != nil {
		le.access.inherit(&lc.access)
		le.le.Access = le.access.effective()
	}
	for _, c := range lc.children {
		if c.inIf {
			inheritIf(c.loc, lc.loc)
		}
		finishLocation(c, &lc.proxy, &lc.access, &lc.limits)
	}
}

// resolve returns the addresses of host: itself when it is an IP literal,
// else what LookupHost says.
func (b *builder) resolve(host string) ([]string, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []string{ip.String()}, nil
	}
	addrs, err := b.lookupHost(context.Background(), host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, errors.New("no addresses")
	}
	return addrs, nil
}

// ---- main and http ----

// http handles `http { ... }`: the same as writing its content at top level.
func (b *builder) http(d *Directive, s *scope) error {
	if b.httpSeen {
		return d.duplicate()
	}
	b.httpSeen = true
	return b.walk(d.Block, &scope{where: inHTTP, proxy: &b.httpProxy, access: &b.httpAccess, limits: &b.httpLimits})
}

// ignore records a directive that only tunes nginx. Its block, if any
// (`types`), is not read: its content is data, not directives.
func (b *builder) ignore(d *Directive, s *scope) error {
	b.addIgnored(d.Name, d.Pos())
	return nil
}

// events reads `events { ... }`: worker_connections, and directives
// that tune nginx's event loop, which are ignored.
func (b *builder) events(d *Directive, s *scope) error {
	return b.walk(d.Block, &scope{where: inEvents})
}

// workerConnections handles `worker_connections N;` in events: the cap on
// client connections, at least 1.
func (b *builder) workerConnections(d *Directive, s *scope) error {
	if b.connsSet {
		return d.duplicate()
	}
	n, ok := parseInt(d.Args[0])
	if !ok {
		// ngx_event_connections' words.
		return d.errorf("invalid number %q", d.Args[0])
	}
	if n < 1 {
		return d.errorf("invalid value %q in %q directive, it must be 1 or more", d.Args[0], d.Name)
	}
	b.connsSet = true
	b.cfg.WorkerConnections = n
	return nil
}

// pid handles `pid FILE;`: the file limpet writes its process ID to,
// relative to the prefix as nginx's is.
func (b *builder) pid(d *Directive, s *scope) error {
	if b.pidSet {
		return d.duplicate()
	}
	path := d.Args[0]
	switch {
	case path == "":
		return d.invalidArg(path)
	case !filepath.IsAbs(path):
		path = filepath.Join(b.prefix, path)
	}
	b.pidSet = true
	b.cfg.PID = path
	return nil
}

// workerShutdownTimeout handles `worker_shutdown_timeout TIME;`: how long
// a graceful stop waits for requests in flight.
func (b *builder) workerShutdownTimeout(d *Directive, s *scope) error {
	if b.shutdownSet {
		return d.duplicate()
	}
	v, ok := parseTime(d.Args[0], false)
	if !ok {
		return d.invalidValue()
	}
	b.shutdownSet = true
	b.cfg.WorkerShutdownTimeout = v
	return nil
}

// logLevels are error_log's levels, checked for nginx compatibility.
var logLevels = []string{"debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"}

// errorLog handles `error_log FILE [LEVEL]` at top level: limpet's own log.
func (b *builder) errorLog(d *Directive, s *scope) error {
	if b.errorLogSet {
		// nginx may write several error logs; limpet writes one.
		return d.duplicate()
	}
	path, err := b.logPath(d, false)
	if err != nil {
		return err
	}
	b.errorLogSet = true
	b.cfg.ErrorLog = path
	if len(d.Args) == 2 {
		b.cfg.ErrorLogLevel = d.Args[1]
	}
	return nil
}

// errorLogServer handles error_log inside a server: checked, then listed
// as ignored, because limpet has one process-wide log.
func (b *builder) errorLogServer(d *Directive, s *scope) error {
	if _, err := b.logPath(d, false); err != nil {
		return err
	}
	return b.ignore(d, s)
}

// logPath checks a log directive's arguments and returns its path, made
// absolute against the prefix (Options.Prefix, else the main file's
// directory) as nginx does against its prefix. "stdout" and "stderr"
// name the standard streams.
func (b *builder) logPath(d *Directive, access bool) (string, error) {
	path := d.Args[0]
	if !access && len(d.Args) == 2 && !slices.Contains(logLevels, d.Args[1]) {
		return "", d.errorf("invalid log level %q", d.Args[1])
	}
	switch {
	case strings.HasPrefix(path, "syslog:"):
		return "", d.errorf("syslog logging is not supported")
	case strings.HasPrefix(path, "memory:"):
		return "", d.errorf("memory logging is not supported")
	case strings.Contains(path, "$"):
		return "", d.errorf("variables in log paths are not supported")
	case path == "stdout" || path == "stderr" || filepath.IsAbs(path):
		return path, nil
	}
	return filepath.Join(b.prefix, path), nil
}

// ---- upstream ----

// upstream handles `upstream NAME { ... }`.
func (b *builder) upstream(d *Directive, s *scope) error {
	name := d.Args[0]
	key := strings.ToLower(name)
	if _, dup := b.upstreams[key]; dup {
		return d.errorf("duplicate upstream %q", name)
	}
	u := &Upstream{Name: name, Pos: d.Pos(), Method: Balance{Kind: RoundRobin}}
	b.upstreams[key] = u
	b.cfg.Upstreams = append(b.cfg.Upstreams, u)
	uc := &upstreamConf{u: u}
	b.upstreamConfs = append(b.upstreamConfs, uc)
	if err := b.walk(d.Block, &scope{where: inUpstream, ups: uc}); err != nil {
		return err
	}
	if uc.state != nil && !uc.zoneSet {
		// NGINX Plus keeps a dynamically configurable group in shared
		// memory; its state cannot be kept without.
		return uc.state.errorf("%q requires upstream %q to be in shared memory", "state", name)
	}
	if len(u.Servers)+len(u.Resolve) == 0 && uc.state == nil {
		// With `state`, an empty group is one whose servers the API has
		// yet to add.
		return d.errorf("no servers are inside upstream")
	}
	if uc.queue != nil && !uc.zoneSet {
		// NGINX Plus keeps the queue with the upstream's state in its
		// shared memory zone; limpet needs none but asks for it too,
		// so a configuration moves between the two unchanged.
		return uc.queue.errorf("\"queue\" requires \"zone\" in upstream %q", u.Name)
	}
	// Checked here, not on the server line, so the order of the method
	// and the servers does not matter: these methods pick by key or at
	// random and have no notion of a standby server.
	// NGINX Plus refuses slow_start with them too: they have no weights
	// to ramp.
	switch u.Method.Kind {
	case IPHash, Hash, Random:
		if uc.backup != nil {
			return uc.backup.invalidParam("backup")
		}
		if uc.slowStart != nil {
			return uc.slowStart.invalidParam(uc.slowStartParam)
		}
	}
	return nil
}

// upstreamServer handles `server ADDRESS [params]` in an upstream.
func (b *builder) upstreamServer(d *Directive, s *scope) error {
	if s.ups.state != nil {
		return d.errorf("%q directive is incompatible with %q", d.Name, "state")
	}
	if s.ups.server == nil {
		s.ups.server = d
	}
	return b.addServer(d, s)
}

// addServer adds the server of a `server` line, written in the block or
// read from its state file. A name resolving to several addresses gives
// one UpstreamServer per address.
func (b *builder) addServer(d *Directive, s *scope) error {
	written := d.Args[0]
	var host, port, unixAddr, msg string
	var hasPort bool
	if isUnixAddr(written) {
		unixAddr, _, msg = parseUnixAddr(written, false)
	} else {
		host, port, hasPort, msg = splitHostPort(written, 1)
	}
	if msg != "" {
		return d.errorf("%s in upstream %q", msg, written)
	}
	srv := UpstreamServer{
		Pos:         d.Pos(),
		Name:        written,
		Weight:      1,
		MaxFails:    1,
		FailTimeout: 10 * time.Second,
	}
	resolve := false
	for _, p := range d.Args[1:] {
		key, val, hasVal := strings.Cut(p, "=")
		ok := true
		switch {
		case key == "weight" && hasVal:
			srv.Weight, ok = parseInt(val)
			ok = ok && srv.Weight > 0
		case key == "max_fails" && hasVal:
			srv.MaxFails, ok = parseInt(val)
		case key == "max_conns" && hasVal:
			srv.MaxConns, ok = parseInt(val)
		case key == "fail_timeout" && hasVal:
			srv.FailTimeout, ok = parseTime(val, true)
		case key == "route" && hasVal:
			srv.Route, ok = val, val != ""
		case key == "slow_start" && hasVal:
			srv.SlowStart, ok = parseTime(val, true)
			if ok && s.ups.slowStart == nil {
				s.ups.slowStart, s.ups.slowStartParam = d, p
			}
		case p == "drain":
			srv.Drain = true
		case p == "backup":
			srv.Backup = true
			if s.ups.backup == nil {
				s.ups.backup = d
			}
		case p == "down":
			srv.Down = true
		case p == "resolve":
			resolve = true
		case key == "service" && hasVal:
			if val == "" {
				return d.errorf("service is empty")
			}
			srv.Service = val
		default:
			ok = false
		}
		if !ok {
			return d.invalidParam(p)
		}
	}
	u := s.ups.u
	if unixAddr != "" {
		return addUnixServer(d, u, &srv, resolve, unixAddr)
	}
	atRunTime, err := checkService(d, &srv, resolve, host, hasPort)
	if err != nil {
		return err
	}
	if atRunTime {
		srv.Host = host
		srv.Port = mustAtoi(port)
		u.Resolve = append(u.Resolve, &srv)
		return nil
	}
	addrs, err := b.resolve(host)
	if err != nil {
		return d.errorf("host not found in upstream %q", written)
	}
	for _, a := range addrs {
		one := srv
		one.Addr = net.JoinHostPort(a, port)
		u.Servers = append(u.Servers, &one)
	}
	return nil
}

// setMethod sets the balancing method, once per upstream.
func (b *builder) setMethod(d *Directive, s *scope, m Balance) error {
	if s.ups.methodSet {
		// nginx only warns and keeps the last; a silent override of the
		// method is surprising enough to refuse.
		return d.errorf("load balancing method redefined")
	}
	if s.ups.queue != nil {
		// In NGINX Plus a method after `queue` replaces the queue (with
		// nginx's warning above): refused rather than silently lost.
		return d.errorf("load balancing method must be set before \"queue\"")
	}
	s.ups.methodSet = true
	m.Pos = d.Pos()
	s.ups.u.Method = m
	return nil
}

// leastConn handles `least_conn;`.
func (b *builder) leastConn(d *Directive, s *scope) error {
	return b.setMethod(d, s, Balance{Kind: LeastConn})
}

// ipHash handles `ip_hash;`.
func (b *builder) ipHash(d *Directive, s *scope) error {
	return b.setMethod(d, s, Balance{Kind: IPHash})
}

// random handles `random [two [least_conn]];`.
func (b *builder) random(d *Directive, s *scope) error {
	m := Balance{Kind: Random}
	if len(d.Args) > 0 {
		if d.Args[0] != "two" {
			return d.invalidParam(d.Args[0])
		}
		m.Two = true
	}
	if len(d.Args) > 1 && d.Args[1] != "least_conn" {
		return d.invalidParam(d.Args[1])
	}
	return b.setMethod(d, s, m)
}

// hash handles `hash KEY [consistent];`.
func (b *builder) hash(d *Directive, s *scope) error {
	m := Balance{Kind: Hash, HashKey: d.Args[0]}
	if len(d.Args) > 1 {
		if d.Args[1] != "consistent" {
			return d.invalidParam(d.Args[1])
		}
		m.Consistent = true
	}
	return b.setMethod(d, s, m)
}

// keepalive handles `keepalive N;` (N at least 1).
func (b *builder) keepalive(d *Directive, s *scope) error {
	if s.ups.u.Keepalive != 0 {
		return d.duplicate()
	}
	n, ok := parseInt(d.Args[0])
	if !ok || n == 0 {
		return d.invalidArg(d.Args[0])
	}
	s.ups.u.Keepalive = n
	return nil
}

// zone handles `zone NAME [SIZE];`: checked and kept, needing no memory.
func (b *builder) zone(d *Directive, s *scope) error {
	if s.ups.zoneSet {
		return d.duplicate()
	}
	if len(d.Args) > 1 {
		if _, ok := parseSize(d.Args[1]); !ok {
			return d.errorf("invalid zone size %q", d.Args[1])
		}
	}
	s.ups.zoneSet = true
	s.ups.u.Zone = d.Args[0]
	return nil
}

// queue handles NGINX Plus's `queue N [timeout=TIME]`.
func (b *builder) queue(d *Directive, s *scope) error {
	if s.ups.queue != nil {
		return d.duplicate()
	}
	n, ok := parseInt(d.Args[0])
	if !ok || n == 0 {
		return d.invalidArg(d.Args[0])
	}
	q := &Queue{Pos: d.Pos(), Size: n, Timeout: 60 * time.Second}
	if len(d.Args) > 1 {
		val, ok := strings.CutPrefix(d.Args[1], "timeout=")
		if ok {
			q.Timeout, ok = parseTime(val, false)
		}
		if !ok || q.Timeout == 0 {
			return d.invalidParam(d.Args[1])
		}
	}
	s.ups.queue = d
	s.ups.u.Queue = q
	return nil
}

// sticky handles NGINX Plus's `sticky cookie NAME [params]`.
func (b *builder) sticky(d *Directive, s *scope) error {
	u := s.ups.u
	if u.Sticky != nil {
		return d.duplicate()
	}
	switch d.Args[0] {
	case "cookie":
	case "route", "learn":
		return d.errorf("\"sticky %s\" is not supported yet", d.Args[0])
	default:
		return d.invalidParam(d.Args[0])
	}
	if len(d.Args) < 2 {
		return d.errorf("invalid number of arguments in %q directive", d.Name)
	}
	c := StickyCookie{Name: d.Args[1]}
	if !isToken(c.Name) {
		return d.errorf("invalid cookie name %q", c.Name)
	}
	for _, p := range d.Args[2:] {
		key, val, hasVal := strings.Cut(p, "=")
		ok := true
		switch {
		case key == "expires" && hasVal:
			if val == "max" {
				c.ExpiresMax, c.Expires = true, 0
			} else {
				c.ExpiresMax = false
				c.Expires, ok = parseTime(val, true)
			}
		case key == "domain" && hasVal:
			// A complex value in nginx: variables are expanded per
			// response, and compiled with the upstream (sticky.Compile).
			c.Domain, ok = val, isCookieAttr(val)
		case key == "path" && hasVal:
			c.Path, ok = val, isCookieAttr(val)
		case key == "samesite" && hasVal:
			// A complex value in nginx too: with a variable it is
			// checked per response ("strict" replaces a bad value), a
			// literal here.
			if strings.IndexByte(val, '$') >= 0 {
				c.SameSite, ok = val, isCookieAttr(val)
				break
			}
			c.SameSite = strings.ToLower(val)
			ok = c.SameSite == "strict" || c.SameSite == "lax" || c.SameSite == "none"
		case p == "httponly":
			c.HTTPOnly = true
		case p == "secure":
			c.Secure = true
		case p == "enforce_expiry":
			// limpet's own: the value carries its expiry (see
			// StickyCookie.EnforceExpiry).
			c.EnforceExpiry = true
		case p == "assign_only":
			// limpet's own: the cookie only when a server is assigned,
			// not on every response (see StickyCookie.AssignOnly).
			c.AssignOnly = true
		default:
			ok = false
		}
		if !ok {
			return d.invalidParam(p)
		}
	}
	if c.EnforceExpiry && c.Expires == 0 && !c.ExpiresMax {
		return d.errorf("\"enforce_expiry\" requires \"expires\"")
	}
	if c.SameSite == "none" && !c.Secure {
		// Browsers drop a SameSite=None cookie without Secure: the
		// client would never send it back.
		b.cfg.Warnings = append(b.cfg.Warnings, Warning{Pos: d.Pos(), Msg: `the "samesite=none" parameter of "sticky" without "secure": browsers reject such a cookie`})
	}
	u.Sticky = &Sticky{Pos: d.Pos(), Cookie: c}
	return nil
}

// isToken reports whether s is a cookie name (an RFC 7230 token).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

// isCookieAttr reports whether s can be a Domain or Path attribute value:
// no ';' and no control characters, which would break the Set-Cookie line.
func isCookieAttr(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f || c == ';' {
			return false
		}
	}
	return true
}

// ---- server ----

// server handles `server { ... }` in http context.
func (b *builder) server(d *Directive, s *scope) error {
	sc := &serverConf{srv: &Server{Pos: d.Pos()}}
	b.servers = append(b.servers, sc)
	b.cfg.Servers = append(b.cfg.Servers, sc.srv)
	return b.walk(d.Block, &scope{where: inServer, proxy: &sc.proxy, access: &sc.access, limits: &sc.limits, srv: sc})
}

// listen handles `listen ADDRESS [params]`.
func (b *builder) listen(d *Directive, s *scope) error {
	written := d.Args[0]
	if isUnixAddr(written) {
		return listenUnix(d, written)
	}
	var host, port string
	if _, isPort := parseNumber(written); isPort {
		// A bare port is nginx's *:PORT, IPv4's wildcard only: IPv6
		// clients need `listen [::]:PORT`.
		host, port = "0.0.0.0", written
		if n, _ := parseInt(port); n < 0 || n > 65535 {
			return d.errorf("invalid port in %q of the \"listen\" directive", written)
		}
		port = strconv.Itoa(mustAtoi(port))
	} else {
		var msg string
		// Port 0 asks the system for a free port: nginx refuses it,
		// limpet allows it so tests can run without guessing ports.
		host, port, _, msg = splitHostPort(written, 0)
		if msg != "" {
			return d.errorf("%s in %q of the \"listen\" directive", msg, written)
		}
		if host == "*" {
			host = "0.0.0.0"
		}
	}
	l := Listen{Pos: d.Pos(), Addr: listenKey(net.JoinHostPort(host, port))}
	for _, p := range d.Args[1:] {
		key, val, hasVal := strings.Cut(p, "=")
		switch {
		case p == "default_server" || p == "default":
			// "default" is the old spelling nginx still accepts.
			l.DefaultServer = true
		case p == "reuseport":
			l.ReusePort = true
		case p == "ssl":
			l.SSL = true
		case key == "backlog" && hasVal:
			n, ok := parseInt(val)
			if !ok || n == 0 {
				// nginx quotes the whole parameter here.
				return d.errorf("invalid backlog %q", p)
			}
			l.Backlog = n
		case p == "http2":
			b.listenHTTP2(d, &l)
		case strings.HasPrefix(p, "ipv6only=o"):
			switch p[len("ipv6only=o"):] {
			case "n":
				l.IPv6Only = IPv6OnlyOn
			case "ff":
				l.IPv6Only = IPv6OnlyOff
			default:
				return d.errorf("invalid ipv6only flags %q", p[len("ipv6only"):])
			}
			// nginx 1.15.10+ takes it on any address and sets it on
			// IPv6 sockets only; limpet refuses what it would ignore.
			if ip, err := netip.ParseAddrPort(l.Addr); err != nil || !ip.Addr().Is6() {
				return d.errorf("ipv6only is not supported on addr %q", l.Addr)
			}
		case key == "so_keepalive" && hasVal:
			ka, ok := parseSoKeepalive(val)
			if !ok {
				return d.errorf("invalid so_keepalive value: %q", val)
			}
			l.SoKeepalive = ka
		default:
			// ssl, proxy_protocol, bind, ... change what the
			// listener does, so they are refused rather than ignored.
			return d.invalidParam(p)
		}
	}
	srv := s.srv.srv
	for _, other := range srv.Listens {
		if other.Addr == l.Addr {
			return d.errorf("a duplicate listen %s", l.Addr)
		}
	}
	srv.Listens = append(srv.Listens, l)
	s.srv.listens = append(s.srv.listens, d)
	return nil
}

// parseSoKeepalive reads so_keepalive's value as nginx does: "on", "off"
// or "[IDLE]:[INTVL]:[CNT]", times in seconds. A part may be empty or 0
// (the system's value is kept), but not all three.
func parseSoKeepalive(v string) (*SoKeepalive, bool) {
	switch v {
	case "on":
		return &SoKeepalive{Enable: true}, true
	case "off":
		return &SoKeepalive{}, true
	}
	parts := strings.SplitN(v, ":", 3)
	ka := &SoKeepalive{Enable: true}
	var ok bool
	if parts[0] != "" {
		if ka.Idle, ok = parseTime(parts[0], true); !ok {
			return nil, false
		}
	}
	if len(parts) > 1 && parts[1] != "" {
		if ka.Interval, ok = parseTime(parts[1], true); !ok {
			return nil, false
		}
	}
	if len(parts) > 2 && parts[2] != "" {
		if ka.Count, ok = parseInt(parts[2]); !ok {
			return nil, false
		}
	}
	if ka.Idle == 0 && ka.Interval == 0 && ka.Count == 0 {
		return nil, false
	}
	return ka, true
}

// listenKey spells a listen address the way the runtime groups its
// sockets, one per real address as nginx binds them: an IP literal in its
// canonical form ("0.0.0.0:80" and "[::]:80" are two sockets, IPv4's and
// IPv6's), an IPv4-mapped IPv6 address as the IPv4 one, no host as
// IPv4's wildcard, a host name as written. Two listens with one key share
// one socket.
func listenKey(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" {
		return net.JoinHostPort("0.0.0.0", port)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return addr
	}
	return net.JoinHostPort(ip.Unmap().String(), port)
}

// serverName handles `server_name NAME ...`; several lines add up. A
// "~regex" name is compiled here, once, for the router.
func (b *builder) serverName(d *Directive, s *scope) error {
	srv := s.srv.srv
	for _, name := range d.Args {
		pattern, isRegex := strings.CutPrefix(name, "~")
		if !isRegex {
			continue
		}
		if pattern == "" {
			return d.errorf("empty regex in server name %q", name)
		}
		re, err := compileRegexp(d, pattern, serverNameCaseless(pattern))
		if err != nil {
			return err
		}
		if srv.NameRegexps == nil {
			srv.NameRegexps = make(map[string]*regexp.Regexp)
		}
		srv.NameRegexps[name] = re
	}
	srv.Names = append(srv.Names, d.Args...)
	return nil
}

// serverNameCaseless is nginx's rule for a server name regex: caseless
// when it holds an upper-case letter, since it is matched against the
// lower-cased host and could otherwise never match.
func serverNameCaseless(pattern string) bool {
	return strings.ContainsFunc(pattern, func(r rune) bool { return r >= 'A' && r <= 'Z' })
}

// ServerNameRegexp compiles a "~regex" server name as server_name does
// (Server.NameRegexps), for code that builds a Server without a
// configuration file: tests of the router.
func ServerNameRegexp(name string) (*regexp.Regexp, error) {
	pattern, ok := strings.CutPrefix(name, "~")
	if !ok || pattern == "" {
		return nil, fmt.Errorf("%q is not a regex server name", name)
	}
	return regexp.Compile(caselessPattern(pattern, serverNameCaseless(pattern)))
}

// LocationRegexp compiles the path of a "~" or "~*" (caseless)
// location as location does (Location.Regexp), for code that builds a
// Location without a configuration file: tests of the router.
func LocationRegexp(path string, caseless bool) (*regexp.Regexp, error) {
	return regexp.Compile(caselessPattern(path, caseless))
}

// ---- location ----

// location handles `location [=|~|~*|^~] PATH { ... }`, and hands
// `location @name` to namedLocation (static.go). A location with neither
// proxy_pass, return nor nested locations is valid: it serves static
// files, as in nginx.
func (b *builder) location(d *Directive, s *scope) error {
	var mod, path string
	if len(d.Args) == 2 {
		mod, path = d.Args[0], d.Args[1]
		switch mod {
		case "=", "~", "~*", "^~":
		default:
			return d.errorf("invalid location modifier %q", mod)
		}
	} else {
		// nginx also reads a modifier glued to the path: "=/x", "~\.php$",
		// "~*\.jpg$" (but not "^~/x", which is a plain prefix).
		path = d.Args[0]
		switch {
		case strings.HasPrefix(path, "@"):
			return b.namedLocation(d, s, path)
		case strings.HasPrefix(path, "="):
			mod, path = "=", path[1:]
		case strings.HasPrefix(path, "~*"):
			mod, path = "~*", path[2:]
		case strings.HasPrefix(path, "~"):
			mod, path = "~", path[1:]
		}
	}
	loc := &Location{Pos: d.Pos(), Modifier: mod, Path: path}
	if mod == "~" || mod == "~*" {
		re, err := compileRegexp(d, path, mod == "~*")
		if err != nil {
			return err
		}
		loc.Regexp = re
	}
	siblings := &s.srv.locs
	if parent := s.loc; parent != nil {
		p := parent.loc
		if isNamed(p) {
			return d.errorf("location %q cannot be inside the named location %q", path, p.Path)
		}
		if p.Modifier == "=" {
			return d.errorf("location %q cannot be inside the exact location %q", path, p.Path)
		}
		if loc.Regexp == nil && !strings.HasPrefix(path, p.Path) {
			return d.errorf("location %q is outside location %q", path, p.Path)
		}
		siblings = &parent.children
	}
	// nginx reports duplicate prefix and exact locations; it lets a
	// repeated regex pass, though the second can never match, so limpet
	// reports those too.
	for _, other := range *siblings {
		if !other.inIf && other.loc.Path == path && locationKind(other.loc.Modifier) == locationKind(mod) {
			return d.errorf("duplicate location %q", path)
		}
	}
	lc := &locationConf{loc: loc}
	*siblings = append(*siblings, lc)
	if s.loc != nil {
		s.loc.loc.Locations = append(s.loc.loc.Locations, loc)
	} else {
		s.srv.srv.Locations = append(s.srv.srv.Locations, loc)
	}
	return b.walk(d.Block, &scope{where: inLocation, proxy: &lc.proxy, access: &lc.access, limits: &lc.limits, srv: s.srv, loc: lc})
}

// compileRegexp compiles expr, a regular expression of directive d, with
// (?i) in front when caseless, or returns nginx's error naming expr.
func compileRegexp(d *Directive, expr string, caseless bool) (*regexp.Regexp, error) {
	re, err := regexp.Compile(caselessPattern(expr, caseless))
	if err != nil {
		// Go's RE2 syntax lacks PCRE's lookaround and backreferences.
		var se *syntax.Error
		if errors.As(err, &se) {
			return nil, d.errorf("invalid regular expression %q: %s", expr, se.Code)
		}
		return nil, d.errorf("invalid regular expression %q: %w", expr, err)
	}
	return re, nil
}

// caselessPattern is expr, made caseless with (?i) when asked.
func caselessPattern(expr string, caseless bool) string {
	if caseless {
		return "(?i)" + expr
	}
	return expr
}

// locationKind groups modifiers that clash on the same path: "" and "^~"
// are both prefix locations, which nginx reports as duplicates.
func locationKind(mod string) string {
	if mod == "^~" {
		return ""
	}
	return mod
}

// proxyPass handles `proxy_pass http://HOST[:PORT][URI]` and its https://
// form (default port 443).
func (b *builder) proxyPass(d *Directive, s *scope) error {
	loc := s.loc.loc
	if loc.ProxyPass != nil {
		return d.duplicate()
	}
	if err := claimContent(d, loc); err != nil {
		return err
	}
	url := d.Args[0]
	if strings.Contains(url, "$") {
		// nginx compiles such a URL whole, its scheme included, and
		// reads it per request.
		return b.proxyPassVars(d, loc, url)
	}
	var rest, scheme string
	switch lower := strings.ToLower(url); {
	case strings.HasPrefix(lower, "http://"):
		rest, scheme = url[len("http://"):], "http"
	case strings.HasPrefix(lower, "https://"):
		rest, scheme = url[len("https://"):], "https"
	default:
		return d.errorf("invalid URL prefix in %q", url)
	}
	if isUnixAddr(rest) {
		return b.proxyPassUnix(d, loc, url, rest)
	}
	hostPort, uri := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		hostPort, uri = rest[:i], rest[i:]
	}
	host, port, hasPort, msg := splitHostPort(hostPort, 1)
	if msg != "" {
		return d.errorf("%s in upstream %q", msg, rest)
	}
	if !hasPort {
		port = defaultPort(scheme)
	}
	if uri != "" && (loc.Regexp != nil || isNamed(loc)) {
		return d.errorf("\"proxy_pass\" cannot have URI part in location given by regular expression, " +
			"or inside named location, or inside \"if\" statement, or inside \"limit_except\" block")
	}
	pp := &ProxyPass{Pos: d.Pos(), URL: url, Scheme: scheme, HasURI: uri != "", URI: uri}
	loc.ProxyPass = pp
	b.passes = append(b.passes, pendingPass{d: d, pp: pp, host: host, port: port, hasPort: hasPort})
	return nil
}

// resolvePass points a proxy_pass at its upstream, or resolves its host
// when no upstream has that name (nginx then makes an implicit upstream).
func (b *builder) resolvePass(p pendingPass) error {
	if u := b.upstreams[strings.ToLower(p.host)]; u != nil {
		if p.hasPort {
			return p.d.errorf("upstream %q may not have port %s", p.host, p.port)
		}
		p.pp.Upstream = u
		return nil
	}
	addrs, err := b.resolve(p.host)
	if err != nil {
		return p.d.errorf("host not found in upstream %q", p.host)
	}
	// Host is nginx's $proxy_host: with the port only when the URL
	// writes one.
	p.pp.Host = p.host
	if p.hasPort {
		p.pp.Host = net.JoinHostPort(p.host, p.port)
	} else if strings.Contains(p.host, ":") {
		p.pp.Host = "[" + p.host + "]"
	}
	p.pp.Addr = net.JoinHostPort(addrs[0], p.port)
	return nil
}

// ret handles `return CODE [TEXT|URL]` and `return URL` (302).
func (b *builder) ret(d *Directive, s *scope) error {
	target := &s.srv.srv.Return
	if s.loc != nil {
		target = &s.loc.loc.Return
	}
	if s.ifBody != nil {
		// In an if block the return is only a statement of it.
		target = new(*Return)
	}
	if *target != nil {
		// nginx would keep going and never reach the second one.
		return d.duplicate()
	}
	if s.loc != nil {
		if err := claimContent(d, s.loc.loc); err != nil {
			return err
		}
	}
	r := &Return{Pos: d.Pos()}
	first := d.Args[0]
	if len(d.Args) == 1 && (strings.HasPrefix(first, "http://") ||
		strings.HasPrefix(first, "https://") || strings.HasPrefix(first, "$scheme")) {
		r.Code, r.Text = 302, first
	} else {
		code, ok := parseInt(first)
		if !ok || code > 999 {
			return d.errorf("invalid return code %q", first)
		}
		r.Code = code
		if len(d.Args) == 2 {
			r.Text = d.Args[1]
		}
	}
	*target = r
	sc := s.script()
	*sc = append(*sc, &Stmt{Pos: r.Pos, Kind: StmtReturn, Return: r})
	return nil
}

// ---- addresses ----

// splitHostPort splits "host", "host:port", "[v6]" or "[v6]:port", with
// port 80 when none is written, and a port no lower than minPort. msg is
// nginx's complaint, or "".
func splitHostPort(s string, minPort int) (host, port string, hasPort bool, msg string) {
	rest := ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", false, "invalid host"
		}
		host, rest = s[1:end], s[end+1:]
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() {
			return "", "", false, "invalid IPv6 address"
		}
		if rest != "" && rest[0] != ':' {
			return "", "", false, "invalid host"
		}
	} else {
		host = s
		if i := strings.IndexByte(s, ':'); i >= 0 {
			host, rest = s[:i], s[i:]
		}
		if host == "" {
			return "", "", false, "no host"
		}
		if strings.ContainsAny(host, "/?#@[] \t") {
			return "", "", false, "invalid host"
		}
	}
	if rest == "" {
		return host, "80", false, ""
	}
	port = rest[1:]
	if n, ok := parseInt(port); !ok || n < minPort || n > 65535 {
		return "", "", false, "invalid port"
	}
	return host, strconv.Itoa(mustAtoi(port)), true, ""
}

// mustAtoi converts an already validated port, dropping leading zeros.
func mustAtoi(s string) int {
	n, _ := parseInt(s)
	return n
}
