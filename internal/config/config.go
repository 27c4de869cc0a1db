// Package config reads limpet's configuration, which is written in nginx's
// configuration language.
//
// Reading happens in three steps, each in its own file:
//
//   - lexer.go turns text into tokens (words, quoted strings, ';', '{', '}'),
//     remembering the line of each;
//   - parser.go builds a generic tree of Directive nodes, each carrying the
//     file and line it came from, and expands `include`;
//   - directives.go is the table of every directive limpet knows (argument
//     count, allowed contexts, handler), and build.go walks the tree through
//     that table into the typed Config below.
//
// Every error names the file and line it comes from, in nginx's words:
// `unknown directive "foo" in /etc/limpet.conf:12`.
//
// The types in this file are the contract with the rest of limpet: they hold
// effective values (inheritance from http to server to location already
// applied, defaults already filled in), so no consumer ever re-implements
// nginx's merging rules.
package config

import (
	"net/netip"
	"regexp"
	"strconv"
	"time"
)

// Pos is where a directive stands in the configuration.
type Pos struct {
	File string // path of the file, as opened
	Line int    // 1-based line number
}

// String renders the position as nginx does: "file:line".
func (p Pos) String() string {
	return p.File + ":" + strconv.Itoa(p.Line)
}

// Config is a whole, validated configuration.
type Config struct {
	// File is the path of the main configuration file.
	File string
	// Upstreams in the order they were defined.
	Upstreams []*Upstream
	// Servers are the virtual servers (`server {}` blocks in http context
	// or at top level), in the order they were defined.
	Servers []*Server
	// Ignored lists directives that only tune nginx itself (for example
	// worker_processes or events {}) or whose work limpet does not do
	// (proxy_cache*, gzip*, proxy_buffer*): accepted, and reported once
	// per name so the operator knows they have no effect.
	Ignored []Ignored
	// Warnings are what `limpet -t` and the start report as nginx
	// reports its warnings, without refusing the configuration: the
	// locations of the runtime API, the metrics and the dashboard that
	// every address may reach, and the values and parameters accepted
	// for nginx's sake that have no effect in limpet (the noEffect table
	// of directives.go).
	Warnings []Warning
	// ErrorLog is where limpet writes its own log ("stderr" by default).
	ErrorLog string
	// ErrorLogLevel is error_log's LEVEL ("debug", "info", "notice",
	// "warn", "error", "crit", "alert" or "emerg"): messages below it are
	// not written. "" when not given: limpet then writes from "info" on,
	// where nginx's default is "error".
	ErrorLogLevel string
	// PID is the absolute path of the file limpet writes its process ID
	// to (`pid FILE`); by default DefaultPID under the prefix.
	PID string
	// WorkerShutdownTimeout bounds how long a graceful stop (SIGQUIT, and
	// the old configuration's connections after a reload) waits for the
	// requests in flight before closing them (`worker_shutdown_timeout
	// TIME`); 0, the default, waits for as long as they last, as nginx
	// does.
	WorkerShutdownTimeout time.Duration
	// Matches are the `match NAME { ... }` blocks (http level), by name.
	Matches map[string]*Match
	// LimitReqZones and LimitConnZones are the limit_req_zone and
	// limit_conn_zone directives, in the order written.
	LimitReqZones  []*LimitReqZone
	LimitConnZones []*LimitConnZone
	// WorkerConnections caps the client connections of the whole
	// process, over all its listeners (`events { worker_connections N;
	// }`); DefaultWorkerConnections when not set. Unlike nginx's, the
	// figure counts no upstream connection and is not per worker.
	WorkerConnections int
	// LogFormats are the log_format directives by name; "combined" is
	// predefined and not listed.
	LogFormats map[string]*LogFormat
	// Maps are the `map SOURCE $VAR { ... }` blocks, in the order written.
	Maps []*Map
}

// DefaultWorkerConnections is limpet's worker_connections default. nginx's
// is 512 per worker process, upstream connections included; limpet's
// counts client connections only, for the one process that uses every
// core, and an idle keep-alive connection costs it about 1.5 KiB, so its
// default is larger (see the README's "Where limpet differs").
const DefaultWorkerConnections = 10000

// DefaultPID is the pid file's name when the configuration has no `pid`
// directive, under the prefix (-p, else the main file's directory).
// nginx's default is logs/nginx.pid under its prefix; limpet's prefix is
// by default the configuration's own directory, which has no logs/.
const DefaultPID = "limpet.pid"

// Ignored is a directive accepted for compatibility that has no effect in
// limpet, listed once per name: Pos is its first line, More counts the
// lines after it.
type Ignored struct {
	Name string
	Pos  Pos
	// Why says what limpet does instead, "" for a directive that only
	// tunes nginx's own processes, buffers and tables.
	Why string
	// More is how many more lines of the same directive were ignored.
	More int
}

// Warning is a doubtful but valid part of the configuration.
type Warning struct {
	Pos Pos
	// Msg is the warning in nginx's words, without the position.
	Msg string
	// More counts the later lines the same warning is about, for those
	// given once per directive and value (the noEffect table).
	More int
}

// String returns Msg followed by " in file:line", as nginx ends a
// warning, and how many more lines it is about.
func (w Warning) String() string {
	s := w.Msg + " in " + w.Pos.String()
	switch {
	case w.More == 1:
		s += " and 1 more line"
	case w.More > 1:
		s += " and " + strconv.Itoa(w.More) + " more lines"
	}
	return s
}

// Upstream is an `upstream NAME { ... }` block.
type Upstream struct {
	Name string
	Pos  Pos
	// Servers in the order written. A host name that resolved to several
	// addresses yields one UpstreamServer per address, as in nginx.
	Servers []*UpstreamServer
	// Resolve are the `server NAME resolve [service=NAME]` lines, in the
	// order written: names limpet resolves while it runs, each address
	// found becoming a server (Addr is "" here).
	Resolve []*UpstreamServer
	// Resolver is the resolver of the Resolve lines: the upstream's own
	// `resolver`, else the one of http; nil without Resolve lines.
	Resolver *Resolver
	// ResolverTimeout bounds each lookup of the Resolve lines: the
	// upstream's resolver_timeout, else http's, else 30s.
	ResolverTimeout time.Duration
	// Method chooses the server of a request without persistence.
	Method Balance
	// Keepalive is the number of idle connections kept per upstream
	// (`keepalive N`); 0 means limpet's default pooling.
	Keepalive int
	// Sticky is the `sticky` directive, or nil.
	Sticky *Sticky
	// Zone is the `zone NAME [SIZE]` name, accepted for NGINX Plus
	// compatibility; limpet needs no shared memory zone, but requires
	// one for Resolve lines, as nginx does.
	Zone string
	// State is the `state FILE` path (a relative one joined to the main
	// file's directory), or "". Servers then holds the file's servers,
	// and every change through the API rewrites the file.
	State string
	// StateDigest is the SHA-256 of the state file as it was read (zero
	// when it was missing): the runtime tells its own file from one
	// edited by hand.
	StateDigest [32]byte
	// Queue is NGINX Plus's `queue N [timeout=TIME]`, or nil.
	Queue *Queue
}

// Queue is NGINX Plus's `queue N [timeout=TIME]` of an upstream: up to
// Size requests wait, each at most Timeout, for a server at its max_conns
// to free a slot.
type Queue struct {
	Pos  Pos
	Size int // at least 1
	// Timeout is timeout=, default 60s.
	Timeout time.Duration
}

// BalanceKind names a balancing method.
type BalanceKind string

// The balancing methods of ngx_http_upstream_module.
const (
	RoundRobin BalanceKind = "round_robin" // default: smooth weighted round-robin
	LeastConn  BalanceKind = "least_conn"
	Random     BalanceKind = "random"
	IPHash     BalanceKind = "ip_hash"
	Hash       BalanceKind = "hash"
)

// Balance is the balancing method of an upstream and its options.
type Balance struct {
	Kind BalanceKind
	Pos  Pos // where the method was set; zero for the default
	// Two is `random two [least_conn]`: pick two servers at random and keep
	// the one with fewer active connections (least_conn is nginx's default
	// and only method for "two").
	Two bool
	// Hash: the key, still holding variables (for example "$request_uri"),
	// and whether the ketama consistent ring is used.
	HashKey    string
	Consistent bool
}

// UpstreamServer is one `server` line of an upstream, after name resolution.
type UpstreamServer struct {
	Pos Pos
	// Name is the address as written, for example "app-01.internal:80".
	Name string
	// Addr is the resolved "ip:port" ("[ipv6]:port" for IPv6), or
	// "unix:/path" for a unix-domain socket, written as nginx names it.
	Addr        string
	Weight      int           // default 1
	MaxFails    int           // default 1; 0 disables failure accounting
	FailTimeout time.Duration // default 10s
	Backup      bool
	Down        bool
	// Route is the `route=` string, or "".
	Route string
	// MaxConns is `max_conns=N`, the bound on simultaneous connections to
	// the server; 0 (the default) means no bound.
	MaxConns int
	// SlowStart is slow_start=TIME: after the server recovers its weight
	// ramps up over this time (round-robin and least_conn only, as in
	// nginx); 0 disables it.
	SlowStart time.Duration
	// Drain is the `drain` parameter: the server starts draining (keeps
	// users pinned to it, takes no new ones).
	Drain bool
	// Host and Port are, for a line of Upstream.Resolve, the name to
	// resolve and the port of its addresses (80 unless written; the SRV
	// records give the port with service=).
	Host string
	Port int
	// Service is the `service=` parameter: SRV records are looked up
	// instead of A and AAAA records (see discovery.ServiceName), or "".
	Service string
}

// Sticky is NGINX Plus's `sticky cookie NAME ...` directive.
type Sticky struct {
	Pos    Pos
	Cookie StickyCookie
}

// StickyCookie holds the attributes of the persistence cookie.
type StickyCookie struct {
	Name string
	// Expires is the cookie lifetime; zero means a browser-session cookie.
	Expires time.Duration
	// ExpiresMax is `expires=max`: Expires "Thu, 31 Dec 2037 23:55:55 GMT"
	// and Max-Age 315360000, as nginx writes it.
	ExpiresMax bool
	// Domain may hold variables (nginx's complex value), expanded for
	// each response; an empty expansion leaves the attribute out.
	Domain   string
	Path     string
	HTTPOnly bool
	Secure   bool
	// SameSite is "", "strict", "lax" or "none", or a value with
	// variables, expanded for each response as nginx does: an empty
	// expansion leaves the attribute out, one that is none of the three
	// gives "strict".
	SameSite string
	// AssignOnly is limpet's `assign_only` parameter: the cookie is sent
	// only when the user is assigned a server (no cookie, a useless one,
	// or one naming another server). Without it, as in nginx, every
	// response from the upstream carries the cookie, so an expires= cookie
	// slides while its user is active.
	AssignOnly bool
	// EnforceExpiry is limpet's `enforce_expiry` parameter: the cookie
	// value carries its expiry time after the server ID ("ID.EXPIRY"),
	// and a cookie that arrives after it (a client that ignores expiry, a
	// copied cookie) is treated as expired ("new/expired") instead of
	// pinning its user for ever. Off by default, so values stay exactly
	// NGINX Plus's. Requires expires=.
	EnforceExpiry bool
}

// Server is a virtual server, a `server { ... }` block in http context.
type Server struct {
	Pos     Pos
	Listens []Listen
	// Names are the server_name values as written: exact names,
	// "*.example.com", "example.*", ".example.com", "~regex", "" or "_".
	Names []string
	// NameRegexps holds the "~regex" names of Names compiled, keyed by
	// the name as written ("~^www\d+\."); caseless when the regex holds
	// an upper-case letter, as in nginx. nil without regex names.
	NameRegexps map[string]*regexp.Regexp
	// Locations in the order written; nested locations sit in Location.Locations.
	// Named locations (`location @name`) are not among them.
	Locations []*Location
	// Named are the named locations, `location @name`, by name ("@name"):
	// error_page and try_files reach them, location matching never does.
	Named map[string]*Location
	// Proxy holds the server-level settings, used by requests that match no location.
	Proxy ProxySettings
	// ClientHeaders bounds and filters the request headers clients send.
	ClientHeaders ClientHeaders
	// HTTP2 is the server's HTTP/2 settings (http2.go).
	HTTP2 HTTP2
	// Access is the effective access control at server level (for
	// requests that match no location).
	Access Access
	// Limits is the effective limiting at server level (for requests
	// that match no location).
	Limits Limits
	// Return is a server-level `return`, or nil. nginx runs it in the
	// server rewrite phase, before any location is chosen, so it answers
	// every request of the server.
	Return *Return
	// Script is the server's rewrite phase: its set, rewrite, if, break
	// and return lines in the order written, run before the location is
	// chosen. Return is also its first statement of that kind.
	Script []*Stmt
	// SSL is the server's TLS settings (tls.go), merged from http; nil
	// when the server has no certificate (nor ssl_reject_handshake on),
	// in which case a TLS handshake for it uses its address's default
	// server's, as in nginx. Used on the listens with SSL set.
	SSL *SSL
}

// Listen is one `listen` directive.
//
// ReusePort, Backlog and SoKeepalive shape the socket itself: as in
// nginx, only one listen of an address may set them ("duplicate listen
// options"), and a specific address that sets them gets a socket of its
// own even beside a wildcard listen of its port (nginx's implied `bind`).
type Listen struct {
	Pos Pos
	// Addr is "host:port", an IP literal in its canonical form: a bare
	// port and "*:PORT" are IPv4's wildcard "0.0.0.0:PORT" as in nginx,
	// "[::]:PORT" IPv6's, a socket of its own (see IPv6Only).
	Addr          string
	DefaultServer bool
	// ReusePort is the `reuseport` parameter: SO_REUSEPORT is set before
	// bind, so other sockets (another limpet) may listen on the address
	// too and the kernel spreads connections among them.
	ReusePort bool
	// Backlog is `backlog=N`, the length of the queue of connections
	// the kernel has accepted and limpet not yet (listen(2)); 0 means
	// nginx's default, 511 on Linux. The kernel caps it at
	// net.core.somaxconn.
	Backlog int
	// SoKeepalive is `so_keepalive=`, or nil when not given (the
	// system's setting is left alone).
	SoKeepalive *SoKeepalive
	// IPv6Only is the `ipv6only=on|off` parameter (IPV6_V6ONLY), taken on
	// IPv6 addresses only. Unset means on, nginx's default since 1.3.4:
	// "[::]:80" accepts IPv6 connections only, beside a "0.0.0.0:80"
	// socket of its own; off makes it take IPv4 ones too, and then a
	// 0.0.0.0 socket of its port cannot be bound.
	IPv6Only IPv6OnlyMode
	// SSL is the `ssl` parameter (or the server's obsolete `ssl on`):
	// connections speak TLS. As in nginx, one listen of an address with
	// it makes the address's socket speak TLS for all its servers.
	SSL bool
	// HTTP2 is the deprecated `http2` parameter: the address speaks
	// HTTP/2 whatever its servers' `http2` says, as in nginx.
	HTTP2 bool
}

// HasSocketOptions reports whether the listen sets any parameter that
// shapes the socket (reuseport, backlog=, so_keepalive=, ipv6only=).
func (l *Listen) HasSocketOptions() bool {
	return l.ReusePort || l.Backlog != 0 || l.SoKeepalive != nil || l.IPv6Only != IPv6OnlyUnset
}

// IPv6OnlyMode is the value of listen's ipv6only= parameter.
type IPv6OnlyMode uint8

const (
	// IPv6OnlyUnset is a listen without ipv6only=: on, as in nginx.
	IPv6OnlyUnset IPv6OnlyMode = iota
	// IPv6OnlyOn is ipv6only=on.
	IPv6OnlyOn
	// IPv6OnlyOff is ipv6only=off: the IPv6 socket accepts IPv4
	// connections too (as IPv4-mapped addresses).
	IPv6OnlyOff
)

// SoKeepalive is the `so_keepalive=on|off|[IDLE]:[INTVL]:[CNT]` parameter
// of listen: TCP keep-alive (SO_KEEPALIVE) on accepted client connections,
// so that a client that vanished without a FIN is found out.
type SoKeepalive struct {
	// Enable is false for "off", true for "on" and for the IDLE:INTVL:CNT form.
	Enable bool
	// Idle (TCP_KEEPIDLE), Interval (TCP_KEEPINTVL) and Count
	// (TCP_KEEPCNT); zero means the system's value (net.ipv4.tcp_keepalive_*).
	Idle     time.Duration
	Interval time.Duration
	Count    int
}

// Location is a `location [=|^~|~|~*] PATH { ... }` block.
type Location struct {
	Pos Pos
	// Modifier is "", "=", "^~", "~" or "~*".
	Modifier string
	Path     string
	// Regexp is Path compiled for the "~" and "~*" modifiers ("~*" adds
	// (?i)), nil otherwise. It is unanchored, like nginx's PCRE match.
	Regexp *regexp.Regexp
	// Locations nested inside this one.
	Locations []*Location
	// ProxyPass is the `proxy_pass` directive, or nil.
	ProxyPass *ProxyPass
	// Return is the `return` directive, or nil. nginx runs it before
	// proxying, so when both are present Return answers the request.
	Return *Return
	// Proxy holds the effective settings (inherited and defaulted).
	Proxy ProxySettings

	// HealthChecks are the location's `health_check` directives; each
	// probes every server of the upstream the location proxies to.
	HealthChecks []*HealthCheck
	// API is the `api [write=on|off]` directive, or nil: the location
	// serves the runtime API.
	API *API
	// Metrics is the `metrics` directive: the location serves Prometheus
	// metrics.
	Metrics bool
	// Dashboard is the `dashboard` directive: the location serves the
	// live dashboard.
	Dashboard bool
	// Access is the effective access control (allow/deny, auth_basic),
	// inherited from http to server to location as nginx does.
	Access Access
	// Limits is the effective request and connection limiting
	// (limit_req, limit_conn and their settings).
	Limits Limits
	// LimitExcept is the `limit_except METHOD ... { ... }` block, or nil:
	// requests with other methods must also pass its access control.
	LimitExcept *LimitExcept
	// Script is the location's rewrite phase: set, rewrite, if, break
	// and return in the order written, run once the location is chosen.
	// Return is also its first top-level return.
	Script []*Stmt
	// Internal is the `internal` directive: only internal redirects
	// (error_page, try_files, index) reach the location; a client's
	// request for it gets 404. Named locations are internal too.
	Internal bool
}

// HealthCheck is NGINX Plus's `health_check [interval=TIME] [jitter=TIME]
// [fails=N] [passes=N] [uri=URI] [port=N] [match=NAME] [mandatory]
// [persistent]`.
type HealthCheck struct {
	Pos Pos
	// Interval between two checks of a server; default 5s.
	Interval time.Duration
	// Jitter delays each check by a random time up to this; default 0.
	Jitter time.Duration
	// Fails is the number of consecutive failed checks that make a server
	// unhealthy; default 1.
	Fails int
	// Passes is the number of consecutive passed checks that make it
	// healthy again; default 1.
	Passes int
	// URI requested; default "/".
	URI string
	// Port to check instead of the server's own; 0 means the server's.
	Port int
	// Match is the `match` block the response must satisfy, or nil for
	// the default: status 2xx or 3xx.
	Match *Match
	// Mandatory servers start in the "checking" state and take no
	// traffic until their first check passes.
	Mandatory bool
	// Persistent (with Mandatory) keeps a server's health across reloads;
	// accepted, and limpet has no reloads yet.
	Persistent bool
}

// Match is a `match NAME { ... }` block: conditions a health check
// response must all meet.
type Match struct {
	Name string
	Pos  Pos
	// Status conditions (`status 200;`, `status ! 500;`, `status 200 204;`,
	// `status 200-399;`, `status ! 400-599;`); all must hold.
	Status []StatusMatch
	// Header conditions; all must hold.
	Headers []HeaderMatch
	// Body conditions (`body ~ "re";`, `body !~ "re";`); all must hold.
	// The body is read up to 256 KiB, as NGINX Plus reads at most its
	// proxy buffer.
	Bodies []BodyMatch
}

// StatusMatch is one `status` line: the status must be in one of Ranges,
// or in none of them when Not.
type StatusMatch struct {
	Not    bool
	Ranges []StatusRange
}

// StatusRange is an inclusive range of statuses; a single code has Lo == Hi.
type StatusRange struct{ Lo, Hi int }

// HeaderMatch is one `header` line.
type HeaderMatch struct {
	Name string
	// Op is "=", "!=", "~", "!~", "" (the header is present) or "!"
	// (the header is absent).
	Op    string
	Value string
	// Regexp is Value compiled for "~" and "!~".
	Regexp *regexp.Regexp
}

// BodyMatch is one `body` line.
type BodyMatch struct {
	Not    bool // "!~"
	Regexp *regexp.Regexp
}

// API is `api [write=on|off] [origin=ORIGIN ...]`.
type API struct {
	Pos Pos
	// Write allows POST, PATCH and DELETE (write=on); default off.
	Write bool
	// Origins are limpet's origin= parameters: origins, as browsers send
	// them ("https://ops.example.com", default port left out), whose
	// pages may write although they are not the API's own host. By
	// default (none) a browser's write is accepted only from the API's
	// own origin.
	Origins []string
}

// Access is the access control of ngx_http_access_module and
// ngx_http_auth_basic_module, effective at one level.
type Access struct {
	// Rules are allow/deny in order; the first that matches the client
	// decides. No rules: everyone is allowed.
	Rules []AccessRule
	// AuthBasic is the realm of auth_basic, or "" when off.
	AuthBasic string
	// AuthBasicUserFile is the htpasswd file of auth_basic_user_file.
	AuthBasicUserFile string
	// AuthPos is where auth_basic_user_file was set, for errors about the
	// file.
	AuthPos Pos
	// AuthRequest is the URI of auth_request, or "" when off: a
	// subrequest to it decides whether the request is served.
	AuthRequest string
	// AuthRequestSet are the auth_request_set lines, applied in order
	// after the subrequest.
	AuthRequestSet []AuthRequestSet
}

// AccessRule is one `allow` or `deny`.
type AccessRule struct {
	Pos   Pos
	Allow bool
	// All is the `all` argument; otherwise Prefix is the address or CIDR
	// ("10.0.0.0/8", "::1", "127.0.0.1/32").
	All    bool
	Prefix netip.Prefix
	// Unix is nginx's `unix:` argument, which matches the clients of a
	// unix-domain listener. limpet listens on TCP only, so such a rule
	// matches no client, as it matches none in an nginx server with no
	// `listen unix:`.
	Unix bool
}

// LimitExcept is `limit_except METHOD ... { allow/deny/auth_basic }`.
type LimitExcept struct {
	Pos Pos
	// Methods are the methods NOT limited, upper case; GET implies HEAD,
	// as in nginx.
	Methods []string
	// Access is what other methods must pass (inherits from the
	// location as nginx does).
	Access Access
}

// ProxyPass is `proxy_pass URL`.
type ProxyPass struct {
	Pos Pos
	// URL as written, for example "http://backend/app/".
	URL string
	// Scheme is "http" or "https" (TLS to the servers, with the
	// location's Proxy.SSL settings).
	Scheme string
	// Upstream is the named upstream the host part refers to, or nil when
	// the host is an address (then Host holds it).
	Upstream *Upstream
	// Host is the host of the URL, with its port when the URL writes
	// one ("10.0.0.1", "app.internal:8080"), when the URL names an
	// address and not an upstream: nginx's $proxy_host. The resolved
	// "ip:port" is in Addr. For a unix-domain socket both are
	// "unix:/path" (nginx's $proxy_host is then "localhost", which the
	// proxy sends).
	Host string
	Addr string
	// HasURI tells whether the URL has a URI part (even "/"): then the
	// matched location prefix is replaced by URI, as nginx does.
	HasURI bool
	URI    string
	// Target, when the URL holds variables, is the whole URL
	// ("http://$app", "$scheme://$host:8080/app$request_uri"), expanded
	// per request: Upstream, Host, Addr and URI are empty then, and
	// Scheme is "" when the scheme too comes from a variable. The host it names is
	// an upstream block, an IP address, or a name Resolver resolves
	// within ResolverTimeout (the location's resolver and
	// resolver_timeout, inherited from server and http as nginx's are;
	// Resolver is nil when none is defined).
	Target          string
	Resolver        *Resolver
	ResolverTimeout time.Duration
}

// Return is `return CODE [TEXT|URL]` or `return URL`.
type Return struct {
	Pos  Pos
	Code int
	// Text is the body for codes other than 301, 302, 303, 307 and 308, or
	// the Location for those; it may hold variables.
	Text string
}

// Header is one `proxy_set_header NAME VALUE` pair; Value may hold variables
// and an empty Value removes the header from the proxied request.
type Header struct {
	Pos   Pos
	Name  string
	Value string
}

// AddHeader is one `add_header NAME VALUE [always]`
// (ngx_http_headers_module). Value may hold variables; a value that
// expands to nothing adds nothing.
type AddHeader struct {
	Pos   Pos
	Name  string
	Value string
	// Always adds the header to responses of every status, not only to
	// 200, 201, 204, 206, 301, 302, 303, 304, 307 and 308.
	Always bool
}

// NextUpstream is a bit set of `proxy_next_upstream` conditions.
type NextUpstream uint16

// The proxy_next_upstream conditions.
const (
	NextError NextUpstream = 1 << iota
	NextTimeout
	NextInvalidHeader
	NextHTTP500
	NextHTTP502
	NextHTTP503
	NextHTTP504
	NextHTTP403
	NextHTTP404
	NextHTTP429
	NextNonIdempotent
)

// Has reports whether every condition in c is set.
func (n NextUpstream) Has(c NextUpstream) bool { return n&c == c }

// AccessLog is one `access_log` line.
type AccessLog struct {
	Pos Pos
	// Path is a file path, "stdout" or "stderr" (also /dev/stdout and
	// /dev/stderr); "" when Off.
	Path string
	Off  bool
	// Format is the log_format the line names; nil for limpet's JSON
	// line, its default.
	Format *LogFormat
	// Buffer is buffer= in bytes and Flush flush=; 0 when not given,
	// which means limpet's 32k flushed every second. With buffer= and
	// no flush=, lines are written when the buffer fills, as nginx.
	Buffer int
	Flush  time.Duration
	// If is the if= condition, still holding variables: the line is not
	// written when it evaluates to "" or "0". "" when not given.
	If string
}

// ProxySettings are the settings that nginx merges from http to server to
// location. Values here are effective: inherited and defaulted.
type ProxySettings struct {
	// SetHeaders is the effective proxy_set_header list, in the order
	// written, with "Host $proxy_host" appended when the list sets no Host
	// (nginx's default). nginx's other default, "Connection close", is
	// left out: limpet manages the upstream Connection header itself. As
	// in nginx, a level that sets any proxy_set_header does not inherit
	// the outer level's list.
	SetHeaders []Header
	// AddHeaders is the effective add_header list, in the order written.
	// As in nginx, a level that has any add_header does not inherit the
	// outer level's list.
	AddHeaders []AddHeader
	// AddTrailers is the effective add_trailer list, inherited as
	// AddHeaders is; the fields go out as trailers of chunked responses
	// only, as nginx sends them.
	AddTrailers []AddHeader
	// Response is what changes the upstream's response header on its
	// way to the client (proxy_hide_header, proxy_redirect,
	// proxy_cookie_*, expires), and the status_zone.
	Response ResponseHeaders
	// RealIP is where the client's address comes from
	// (ngx_http_realip_module); off without set_real_ip_from.
	RealIP RealIP
	// PassRequest is proxy_method and proxy_pass_request_headers|body.
	PassRequest PassRequest
	// Timeouts: nginx defaults connect 60s, read 60s, send 60s.
	ConnectTimeout time.Duration
	ReadTimeout    time.Duration
	SendTimeout    time.Duration
	// NextUpstream defaults to NextError|NextTimeout; 0 is "off".
	NextUpstream NextUpstream
	// NextUpstreamTries is the retry bound, 0 meaning unlimited (default 0).
	NextUpstreamTries int
	// NextUpstreamTimeout bounds the time spent retrying, 0 meaning unlimited (default 0).
	NextUpstreamTimeout time.Duration
	// ClientMaxBodySize in bytes; default 1m; 0 disables the check.
	ClientMaxBodySize int64
	// AccessLogs are the effective access_log lines, all written; nil
	// when `access_log off`. The default writes limpet's JSON line to
	// stdout (nginx's default is logs/access.log, a path limpet has no
	// prefix for).
	AccessLogs []AccessLog
	// StickyDebugHeader is `sticky_debug_header on|off` (default off):
	// responses carry "X-Limpet-Sticky: <outcome/reason>" so an operator
	// can see each request's persistence decision. Off by default: it
	// tells clients about the server pool.
	StickyDebugHeader bool
	// KeepaliveTimeout is the client keep-alive timeout (default 75s).
	KeepaliveTimeout time.Duration
	// KeepaliveHeaderTimeout is keepalive_timeout's optional second
	// argument: when at least a second, responses of connections kept
	// open carry "Keep-Alive: timeout=N" (N in seconds). Default 0: no
	// such header.
	KeepaliveHeaderTimeout time.Duration
	// Client is the client side's timeouts and limits.
	Client ClientSettings
	// Redirects is absolute_redirect, server_name_in_redirect and
	// port_in_redirect (redirect.go).
	Redirects Redirects
	// SSL is the proxy_ssl_* settings, used when proxy_pass is https;
	// their files are read only for such locations.
	SSL UpstreamSSL
	// Static is the static-file and error-page settings (static.go).
	Static Static
	// Referers is valid_referers (referer.go), nil when no level has
	// one: $invalid_referer is then always "".
	Referers *Referers
}

// LimitReqZone is `limit_req_zone KEY zone=NAME:SIZE rate=RATE`
// (ngx_http_limit_req_module): the state of the request limit of every
// value of KEY.
type LimitReqZone struct {
	Pos  Pos
	Name string
	// Key is the key as written, still holding variables (for example
	// "$binary_remote_addr"). A request whose key is empty is not limited.
	Key string
	// Size bounds the zone's memory, in bytes (at least 32k).
	Size int64
	// Rate is in thousandths of a request per second, nginx's unit:
	// "10r/s" is 10000, "1r/m" is 16.
	Rate int64
}

// LimitConnZone is `limit_conn_zone KEY zone=NAME:SIZE`
// (ngx_http_limit_conn_module): the count of requests in flight of every
// value of KEY.
type LimitConnZone struct {
	Pos  Pos
	Name string
	// Key is the key as written, still holding variables. A request
	// whose key is empty is not counted.
	Key string
	// Size bounds the zone's memory, in bytes (at least 32k).
	Size int64
}

// LimitReq is one `limit_req zone=NAME [burst=N] [nodelay | delay=N]`.
type LimitReq struct {
	Pos  Pos
	Zone *LimitReqZone
	// Burst is the number of requests beyond the rate that may wait (or,
	// with NoDelay or Delay, pass); default 0.
	Burst int
	// Delay is delay=N: the first N excess requests pass at once, the
	// rest up to Burst are delayed; default 0 (all delayed).
	Delay int
	// NoDelay is `nodelay`: no excess request within Burst is delayed.
	NoDelay bool
}

// LimitConn is one `limit_conn ZONE NUMBER`.
type LimitConn struct {
	Pos  Pos
	Zone *LimitConnZone
	// Conn is the number of requests of one key that may be in flight at
	// once (1 to 65535).
	Conn int
}

// Limits is the request and connection limiting effective at one level.
// As in nginx, a level with any limit_req line inherits none of the
// outer levels' (and the same for limit_conn); the other settings are
// inherited one by one.
type Limits struct {
	// Req are the limit_req lines, in the order written; all apply.
	Req []LimitReq
	// ReqStatus is limit_req_status, the code of a rejected request
	// (400 to 599); default 503.
	ReqStatus int
	// ReqLogLevel is limit_req_log_level: "info", "notice", "warn" or
	// "error" (default). Delays are logged one level lower, as in nginx.
	ReqLogLevel string
	// ReqDryRun is limit_req_dry_run: requests are accounted and logged
	// but neither delayed nor rejected; default off.
	ReqDryRun bool

	// Conn are the limit_conn lines, in the order written; all apply.
	Conn []LimitConn
	// ConnStatus is limit_conn_status; default 503.
	ConnStatus int
	// ConnLogLevel is limit_conn_log_level; default "error".
	ConnLogLevel string
	// ConnDryRun is limit_conn_dry_run; default off.
	ConnDryRun bool
}
