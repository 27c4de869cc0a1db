package config

import (
	"fmt"
	"strings"
	"time"
)

// where is a bit set of the blocks a directive may appear in, like the
// NGX_*_CONF bits of an ngx_command_t.
type where uint16

const (
	inMain        where = 1 << iota // top level of the main file
	inHTTP                          // http { }
	inServer                        // server { } of http
	inLocation                      // location { }
	inUpstream                      // upstream { }
	inEvents                        // events { }
	inMatch                         // match NAME { } of NGINX Plus health checks
	inLimitExcept                   // limit_except METHOD ... { } of a location
	inServerIf                      // if (...) { } of a server: nginx's NGX_HTTP_SIF_CONF
	inLocationIf                    // if (...) { } of a location: nginx's NGX_HTTP_LIF_CONF

	// inHTTPLevel is where http-level directives go: the design notes
	// write upstream and server blocks at top level (a conf.d snippet),
	// so the top level accepts all that http accepts.
	inHTTPLevel = inMain | inHTTP
	// inHSL is nginx's NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF.
	inHSL = inHTTPLevel | inServer | inLocation
	// inHS is http and server, without location.
	inHS = inHTTPLevel | inServer
	// inHSLL is nginx's NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|
	// NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF: the access directives.
	inHSLL = inHSL | inLimitExcept
	// inRewrite is where the rewrite module's statements go: server,
	// location and the if blocks of both.
	inRewrite = inServer | inLocation | inServerIf | inLocationIf
)

// argRule is a bit set of accepted argument counts, like the
// NGX_CONF_NOARGS … NGX_CONF_1MORE bits of an ngx_command_t. Counts
// exclude the directive name.
type argRule uint16

const (
	args0     argRule = 1 << iota // NGX_CONF_NOARGS
	args1                         // NGX_CONF_TAKE1
	args2                         // NGX_CONF_TAKE2
	args3                         // NGX_CONF_TAKE3
	args4                         // NGX_CONF_TAKE4
	argsFlag                      // NGX_CONF_FLAG: exactly one, "on" or "off"
	args1More                     // NGX_CONF_1MORE
	args2More                     // NGX_CONF_2MORE
	argsBlock                     // NGX_CONF_BLOCK: the directive has { }
	argsAny                       // NGX_CONF_ANY: any number, none included

	args01  = args0 | args1         // NGX_CONF_NOARGS|NGX_CONF_TAKE1
	args12  = args1 | args2         // NGX_CONF_TAKE12
	args123 = args1 | args2 | args3 // NGX_CONF_TAKE123
	args012 = args0 | args1 | args2 // random's NOARGS|TAKE12
)

// handler applies one directive to the block it appears in. The argument
// count and context are checked before it is called.
type handler func(b *builder, d *Directive, s *scope) error

// directive describes one directive limpet accepts.
type directive struct {
	name   string
	where  where
	args   argRule
	handle handler
}

// table indexes every directive by name. A name may have several entries
// for different contexts (`server` is a block in http and a simple
// directive in upstream), as several nginx modules may define one name.
// It is filled by init, not a variable initialiser, because handlers walk
// nested blocks through it: a direct initialiser would be a cycle.
var table map[string][]*directive

func init() {
	table = make(map[string][]*directive)
	for i := range directiveList {
		d := &directiveList[i]
		table[d.name] = append(table[d.name], d)
	}
}

// directiveList is every directive limpet knows, with nginx's syntax and
// default beside each. `include` is not here: it is expanded while the
// files are read (see includer), before any directive is interpreted.
var directiveList = []directive{
	// http { ... } — optional around everything else.
	{"http", inMain, args0 | argsBlock, (*builder).http},
	// error_log FILE [LEVEL]; default stderr, from level info on. limpet
	// writes one log: in a server it is ignored.
	{"error_log", inHTTPLevel, args12, (*builder).errorLog},
	{"error_log", inServer, args12, (*builder).errorLogServer},

	// upstream NAME { ... }
	{"upstream", inHTTPLevel, args1 | argsBlock, (*builder).upstream},
	// server ADDRESS [weight=N] [max_fails=N] [fail_timeout=TIME]
	// [max_conns=N] [backup] [down] [route=STRING] [slow_start=TIME]
	// [drain] [resolve [service=NAME]]; slow_start and backup are refused
	// with hash, ip_hash and random; resolve needs a zone and a resolver
	// (see resolver.go).
	{"server", inUpstream, args1More, (*builder).upstreamServer},
	// resolver ADDRESS ... [valid=TIME] [ipv4=on|off] [ipv6=on|off]
	// [status_zone=NAME]; no default; port 53, both address families,
	// the records' TTL. Used by the upstreams' resolve servers: the
	// upstream's own, else http's; in server and location it has no use
	// (no variables in proxy_pass) and is reported as ignored.
	{"resolver", inHSL | inUpstream, args1More, (*builder).resolver},
	// resolver_timeout TIME; default 30s.
	{"resolver_timeout", inHSL | inUpstream, args1, (*builder).resolverTimeout},
	// least_conn; random [two [least_conn]]; ip_hash; hash KEY [consistent];
	{"least_conn", inUpstream, args0, (*builder).leastConn},
	{"random", inUpstream, args012, (*builder).random},
	{"ip_hash", inUpstream, args0, (*builder).ipHash},
	{"hash", inUpstream, args12, (*builder).hash},
	// keepalive N; no default (limpet pools connections anyway).
	{"keepalive", inUpstream, args1, (*builder).keepalive},
	// zone NAME [SIZE]; accepted for NGINX Plus configurations.
	{"zone", inUpstream, args12, (*builder).zone},
	// queue N [timeout=TIME]; NGINX Plus's; timeout defaults to 60s;
	// requires zone, and the balancing method must come before it.
	{"queue", inUpstream, args12, (*builder).queue},
	// state FILE; NGINX Plus's: the group's servers, kept in FILE (read
	// at load, rewritten on every API change); no `server` lines then,
	// and a zone is required; relative to the main file's directory; one
	// file per upstream.
	{"state", inUpstream, args1, (*builder).state},
	// sticky cookie NAME [expires=TIME|max] [domain=D] [path=P] [httponly]
	// [secure] [samesite=strict|lax|none] [enforce_expiry] [assign_only];
	// domain= and samesite= take variables.
	{"sticky", inUpstream, args1More, (*builder).sticky},

	// server { ... }
	{"server", inHTTPLevel, args0 | argsBlock, (*builder).server},
	// listen ADDRESS[:PORT]|PORT [default_server] [reuseport] [backlog=N]
	// [so_keepalive=on|off|IDLE:INTVL:CNT] [ipv6only=on|off] [ssl]; default
	// "listen 80" (0.0.0.0:80, IPv4 only; [::]:80 is IPv6's socket). The
	// socket options are applied by internal/runtime/sockopt.go.
	{"listen", inServer, args1More, (*builder).listen},
	// server_name NAME ...; default "".
	{"server_name", inServer, args1More, (*builder).serverName},
	// location [=|~|~*|^~] PATH { ... }
	{"location", inServer | inLocation, args12 | argsBlock, (*builder).location},
	// proxy_pass URL; no default.
	{"proxy_pass", inLocation | inLocationIf, args1, (*builder).proxyPass},
	// return CODE [TEXT]; return CODE URL; return URL; runs in order
	// with set, rewrite and if (see rewrite.go).
	{"return", inRewrite, args12, (*builder).ret},

	// The rewrite and map modules (rewrite.go).
	// set $VARIABLE VALUE; no default.
	{"set", inRewrite, args2, (*builder).set},
	// rewrite REGEX REPLACEMENT [last|break|redirect|permanent]; no default.
	{"rewrite", inRewrite, args2 | args3, (*builder).rewrite},
	// break; ends the rewrite directives of the level.
	{"break", inRewrite, args0, (*builder).rewriteBreak},
	// if (CONDITION) { ... } in server and location; the file tests
	// (-f, -d, -e, -x and their negations) are refused.
	{"if", inServer | inLocation, args1More | argsBlock, (*builder).ifBlock},
	// rewrite_log on|off; default off. uninitialized_variable_warn
	// on|off; default on. Both only shape nginx's error log.
	{"rewrite_log", inHSL | inServerIf | inLocationIf, argsFlag, (*builder).rewriteFlag},
	{"uninitialized_variable_warn", inHSL | inServerIf | inLocationIf, argsFlag, (*builder).rewriteFlag},
	// map SOURCE $VARIABLE { [hostnames;] [volatile;] [default VALUE;]
	// KEY VALUE; ... } in http; default value "".
	{"map", inHTTPLevel, args2 | argsBlock, (*builder).mapBlock},
	{"map_hash_max_size", inHTTPLevel, args1, (*builder).ignore},
	{"map_hash_bucket_size", inHTTPLevel, args1, (*builder).ignore},
	// api [write=on|off] [origin=ORIGIN ...]; write=off by default
	// (NGINX Plus); origin= is limpet's own, none by default: browsers
	// may write from the API's own origin only.
	{"api", inLocation, argsAny, (*builder).api},
	// metrics; limpet's own: Prometheus metrics.
	{"metrics", inLocation, args0, (*builder).metrics},
	// dashboard; limpet's own: the live dashboard.
	{"dashboard", inLocation, args0, (*builder).dashboard},

	// Active health checks (NGINX Plus's ngx_http_upstream_hc_module).
	// health_check [interval=TIME] [jitter=TIME] [fails=N] [passes=N]
	// [uri=URI] [port=N] [match=NAME] [mandatory] [persistent];
	// defaults interval=5s jitter=0 fails=1 passes=1 uri=/.
	{"health_check", inLocation, argsAny, (*builder).healthCheck},
	// match NAME { ... } holds the conditions below, all of which a
	// response must meet.
	{"match", inHTTPLevel, args1 | argsBlock, (*builder).match},
	// status [!] CODE|LO-HI ...;
	{"status", inMatch, args1More, (*builder).matchStatus},
	// header NAME; header ! NAME; header NAME =|!=|~|!~ VALUE;
	{"header", inMatch, args123, (*builder).matchHeader},
	// body ~|!~ REGEX;
	{"body", inMatch, args2, (*builder).matchBody},
	// require $VAR ...; refused: limpet has no variables to test.
	{"require", inMatch, args1More, (*builder).matchRequire},

	// Access control (ngx_http_access_module, ngx_http_auth_basic_module).
	// allow ADDRESS|CIDR|all; deny ADDRESS|CIDR|all; no default (all
	// allowed). A level with any rule does not inherit the outer rules.
	{"allow", inHSLL, args1, (*builder).accessRule},
	{"deny", inHSLL, args1, (*builder).accessRule},
	// auth_basic STRING|off; default off.
	{"auth_basic", inHSLL, args1, (*builder).authBasic},
	// auth_basic_user_file FILE; no default; relative to the main file's
	// directory.
	{"auth_basic_user_file", inHSLL, args1, (*builder).authBasicUserFile},
	// limit_except METHOD ... { allow/deny/auth_basic... }
	{"limit_except", inLocation, args1More | argsBlock, (*builder).limitExcept},

	// Request and connection limiting (ngx_http_limit_req_module,
	// ngx_http_limit_conn_module); see limit.go.
	// limit_req_zone KEY zone=NAME:SIZE rate=RATE; RATE Nr/s or Nr/m;
	// NGINX Plus's sync parameter is refused.
	{"limit_req_zone", inHTTPLevel, args3 | args4, (*builder).limitReqZone},
	// limit_req zone=NAME [burst=N] [nodelay | delay=N]; burst=0, delay=0;
	// several per level; a level with any inherits none.
	{"limit_req", inHSL, args123, (*builder).limitReq},
	// limit_req_status CODE; 400 to 599, default 503.
	{"limit_req_status", inHSL, args1, (*builder).limitStatus},
	// limit_req_log_level info|notice|warn|error; default error.
	{"limit_req_log_level", inHSL, args1, (*builder).limitLogLevel},
	// limit_req_dry_run on|off; default off.
	{"limit_req_dry_run", inHSL, argsFlag, (*builder).limitDryRun},
	// limit_conn_zone KEY zone=NAME:SIZE;
	{"limit_conn_zone", inHTTPLevel, args2, (*builder).limitConnZone},
	// limit_conn ZONE NUMBER; several per level; a level with any
	// inherits none.
	{"limit_conn", inHSL, args2, (*builder).limitConn},
	// limit_conn_status CODE; 400 to 599, default 503.
	{"limit_conn_status", inHSL, args1, (*builder).limitStatus},
	// limit_conn_log_level info|notice|warn|error; default error.
	{"limit_conn_log_level", inHSL, args1, (*builder).limitLogLevel},
	// limit_conn_dry_run on|off; default off.
	{"limit_conn_dry_run", inHSL, argsFlag, (*builder).limitDryRun},

	// Proxy settings, merged from http to server to location.
	// proxy_set_header FIELD VALUE; default Host $proxy_host.
	{"proxy_set_header", inHSL, args2, (*builder).proxySetHeader},
	// add_header NAME VALUE [always]; no default; several per level; a
	// level with any inherits none.
	{"add_header", inHSL | inLocationIf, args2 | args3, (*builder).addHeader},
	// proxy_connect_timeout, proxy_read_timeout, proxy_send_timeout TIME; default 60s.
	{"proxy_connect_timeout", inHSL, args1, msecSlot(func(p *proxyConf) *setting[time.Duration] { return &p.connectTimeout })},
	{"proxy_read_timeout", inHSL, args1, msecSlot(func(p *proxyConf) *setting[time.Duration] { return &p.readTimeout })},
	{"proxy_send_timeout", inHSL, args1, msecSlot(func(p *proxyConf) *setting[time.Duration] { return &p.sendTimeout })},
	// keepalive_timeout TIME [HEADER_TIME]; default 75s.
	{"keepalive_timeout", inHSL, args12, (*builder).keepaliveTimeout},
	// proxy_next_upstream COND ...; default error timeout.
	{"proxy_next_upstream", inHSL, args1More, (*builder).proxyNextUpstream},
	// proxy_next_upstream_tries N; default 0 (unlimited).
	{"proxy_next_upstream_tries", inHSL, args1, numSlot(func(p *proxyConf) *setting[int] { return &p.nextTries })},
	// proxy_next_upstream_timeout TIME; default 0 (unlimited).
	{"proxy_next_upstream_timeout", inHSL, args1, msecSlot(func(p *proxyConf) *setting[time.Duration] { return &p.nextTimeout })},
	// client_max_body_size SIZE; default 1m; 0 disables the check.
	{"client_max_body_size", inHSL, args1, sizeSlot(func(p *proxyConf) *setting[int64] { return &p.maxBodySize })},
	// proxy_http_version 1.0|1.1; default 1.0. limpet speaks 1.1 (see
	// noEffect).
	{"proxy_http_version", inHSL, args1, enumSlot(func(p *proxyConf) *setting[string] { return &p.httpVersion }, "1.0", "1.1")},
	// proxy_buffering on|off; default on. limpet streams, as with off
	// (see noEffect).
	{"proxy_buffering", inHSL, argsFlag, flagSlot(func(p *proxyConf) *setting[bool] { return &p.buffering })},
	// access_log off | PATH [FORMAT [PARAMS...]]; default stdout.
	{"access_log", inHSL | inLocationIf, args1More, (*builder).accessLog},
	// How a client's request header is read (http and server levels).
	// client_header_buffer_size SIZE; default 1k.
	{"client_header_buffer_size", inHS, args1, positiveSizeSlot(func(p *proxyConf) *setting[int64] { return &p.clientHeaderBuffer })},
	// large_client_header_buffers NUMBER SIZE; default 4 8k.
	{"large_client_header_buffers", inHS, args2, (*builder).largeClientHeaderBuffers},
	// max_headers NUMBER; default 1000.
	{"max_headers", inHS, args1, positiveNumSlot(func(p *proxyConf) *setting[int] { return &p.maxHeaders })},
	// underscores_in_headers on|off; default off.
	{"underscores_in_headers", inHS, argsFlag, flagSlot(func(p *proxyConf) *setting[bool] { return &p.underscoresInHeaders })},
	// ignore_invalid_headers on|off; default on.
	{"ignore_invalid_headers", inHS, argsFlag, flagSlot(func(p *proxyConf) *setting[bool] { return &p.ignoreInvalidHeaders })},
	// sticky_debug_header on|off; limpet's own; default off.
	{"sticky_debug_header", inHSL, argsFlag, flagSlot(func(p *proxyConf) *setting[bool] { return &p.stickyDebug })},

	// TLS (ngx_http_ssl_module), http and server levels; see tls.go.
	// ssl_certificate FILE; ssl_certificate_key FILE; several per level,
	// paired in order; no default.
	{"ssl_certificate", inHS, args1, (*builder).sslCertificate},
	{"ssl_certificate_key", inHS, args1, (*builder).sslCertificate},
	// ssl_protocols [TLSv1] [TLSv1.1] [TLSv1.2] [TLSv1.3]; default
	// TLSv1.2 TLSv1.3; SSLv2 and SSLv3 are warned of and left out.
	{"ssl_protocols", inHS, args1More, (*builder).sslProtocols},
	// ssl_ciphers CIPHERS; OpenSSL's syntax; default HIGH:!aNULL:!MD5
	// (crypto/tls's defaults).
	{"ssl_ciphers", inHS, args1, (*builder).sslCiphers},
	// ssl_prefer_server_ciphers on|off; default off; no effect.
	{"ssl_prefer_server_ciphers", inHS, argsFlag, (*builder).sslNoEffect},
	// ssl_ecdh_curve auto|CURVE[:CURVE...]; default auto.
	{"ssl_ecdh_curve", inHS, args1, (*builder).sslEcdhCurve},
	// ssl_session_cache off|none|[builtin[:SIZE]] [shared:NAME:SIZE];
	// default none; no effect (sessions resume from tickets).
	{"ssl_session_cache", inHS, args12, (*builder).sslSessionCache},
	// ssl_session_timeout TIME; default 5m.
	{"ssl_session_timeout", inHS, args1, (*builder).sslSessionTimeout},
	// ssl_session_tickets on|off; default on.
	{"ssl_session_tickets", inHS, argsFlag, (*builder).sslFlag},
	// ssl_session_ticket_key FILE; several; the first encrypts.
	{"ssl_session_ticket_key", inHS, args1, (*builder).sslSessionTicketKey},
	// ssl_client_certificate FILE; ssl_trusted_certificate FILE; no default.
	{"ssl_client_certificate", inHS, args1, (*builder).sslCAFile},
	{"ssl_trusted_certificate", inHS, args1, (*builder).sslCAFile},
	// ssl_verify_client on|off|optional|optional_no_ca; default off.
	{"ssl_verify_client", inHS, args1, (*builder).sslVerifyClient},
	// ssl_verify_depth NUMBER; default 1.
	{"ssl_verify_depth", inHS, args1, (*builder).sslVerifyDepth},
	// ssl_reject_handshake on|off; default off.
	{"ssl_reject_handshake", inHS, argsFlag, (*builder).sslFlag},
	// ssl on|off; obsolete (removed in nginx 1.25.1): a warning, and
	// `on` makes the server's listens speak TLS.
	{"ssl", inHS, argsFlag, (*builder).sslFlag},
	// Accepted with a warning (sslInert in tls.go says why).
	{"ssl_dhparam", inHS, args1, (*builder).sslNoEffect},
	{"ssl_stapling", inHS, argsFlag, (*builder).sslNoEffect},
	{"ssl_stapling_file", inHS, args1, (*builder).sslNoEffect},
	{"ssl_stapling_responder", inHS, args1, (*builder).sslNoEffect},
	{"ssl_stapling_verify", inHS, argsFlag, (*builder).sslNoEffect},
	{"ssl_buffer_size", inHS, args1, (*builder).sslNoEffect},
	{"ssl_early_data", inHS, argsFlag, (*builder).sslNoEffect},
	{"ssl_conf_command", inHS, args2, (*builder).sslNoEffect},
	{"ssl_certificate_compression", inHS, argsFlag, (*builder).sslNoEffect},

	// events { ... } holds worker_connections and event-loop settings
	// that are ignored.
	{"events", inMain, args0 | argsBlock, (*builder).events},
	// worker_connections N; default 10000 (DefaultWorkerConnections):
	// client connections of the whole process.
	{"worker_connections", inEvents, args1, (*builder).workerConnections},

	// pid FILE; default limpet.pid under the prefix (-p, else the main
	// file's directory): where limpet writes its process ID for -s.
	{"pid", inMain, args1, (*builder).pid},
	// worker_shutdown_timeout TIME; no default (a graceful stop waits
	// for every request in flight).
	{"worker_shutdown_timeout", inMain, args1, (*builder).workerShutdownTimeout},

	// Directives that tune nginx itself. They are accepted, checked like
	// any other (context and argument count), and listed in
	// Config.Ignored; they change nothing in limpet.
	{"worker_processes", inMain, args1, (*builder).ignore},
	{"worker_rlimit_nofile", inMain, args1, (*builder).ignore},
	{"worker_cpu_affinity", inMain, args1More, (*builder).ignore},
	{"worker_priority", inMain, args1, (*builder).ignore},
	{"user", inMain, args12, (*builder).ignore},
	{"daemon", inMain, argsFlag, (*builder).ignore},
	{"master_process", inMain, argsFlag, (*builder).ignore},
	{"use", inEvents, args1, (*builder).ignore},
	{"multi_accept", inEvents, argsFlag, (*builder).ignore},
	{"accept_mutex", inEvents, argsFlag, (*builder).ignore},
	{"sendfile", inHSL, argsFlag, (*builder).ignore},
	{"tcp_nopush", inHSL, argsFlag, (*builder).ignore},
	{"tcp_nodelay", inHSL, argsFlag, (*builder).ignore},
	// types { MIME EXT...; } is a table of MIME types, not directives, so
	// its block is skipped unread (mime.types is usually included here).
	{"types", inHSL, args0 | argsBlock, (*builder).ignore},
	{"default_type", inHSL, args1, (*builder).ignore},
	{"server_tokens", inHSL, args1, (*builder).ignore},
	{"types_hash_max_size", inHSL, args1, (*builder).ignore},
	{"types_hash_bucket_size", inHSL, args1, (*builder).ignore},
	{"server_names_hash_bucket_size", inHTTPLevel, args1, (*builder).ignore},
	{"server_names_hash_max_size", inHTTPLevel, args1, (*builder).ignore},
	{"variables_hash_max_size", inHTTPLevel, args1, (*builder).ignore},
	{"log_format", inHTTPLevel, args2More, (*builder).ignore},
	{"gzip", inHSL, argsFlag, (*builder).ignore},
	{"gzip_buffers", inHSL, args2, (*builder).ignore},
	{"gzip_comp_level", inHSL, args1, (*builder).ignore},
	{"gzip_disable", inHSL, args1More, (*builder).ignore},
	{"gzip_http_version", inHSL, args1, (*builder).ignore},
	{"gzip_min_length", inHSL, args1, (*builder).ignore},
	{"gzip_proxied", inHSL, args1More, (*builder).ignore},
	{"gzip_static", inHSL, args1, (*builder).ignore},
	{"gzip_types", inHSL, args1More, (*builder).ignore},
	{"gzip_vary", inHSL, argsFlag, (*builder).ignore},
	{"keepalive_requests", inHSL | inUpstream, args1, (*builder).ignore},
	// In upstream, keepalive_timeout bounds idle upstream connections,
	// which limpet's pool manages itself.
	{"keepalive_timeout", inUpstream, args1, (*builder).ignore},
	{"charset", inHSL, args1, (*builder).ignore},
	{"proxy_buffers", inHSL, args2, (*builder).ignore},
	{"proxy_buffer_size", inHSL, args1, (*builder).ignore},
	{"proxy_busy_buffers_size", inHSL, args1, (*builder).ignore},
	{"client_body_buffer_size", inHSL, args1, (*builder).ignore},
	// proxy_redirect default|off matches what limpet does: it never
	// rewrites the upstream's Location header. The two-argument form
	// (proxy_redirect REDIRECT REPLACEMENT) asks for a rewrite limpet does
	// not do; it is accepted and listed as ignored too, so the operator
	// sees it in Config.Ignored rather than getting a load failure.
	{"proxy_redirect", inHSL, args12, (*builder).ignore},
}

// inert is a part of a directive that limpet accepts, checks and does
// not apply: what names it, why says what limpet does instead.
type inert struct{ what, why string }

// noEffect lists, by directive name, the values and parameters that
// limpet accepts for nginx's sake although they change nothing in it.
// Each function returns what of d has no effect; walk turns every one
// into a warning at d's file and line, which `-t` and the start print.
// Together with the ignore handler (whole directives that only tune
// nginx), it is the one place such warnings come from: an option that
// is accepted and does nothing belongs here, or must be refused.
var noEffect = map[string]func(d *Directive) []inert{
	"proxy_http_version": func(d *Directive) []inert {
		if d.Args[0] == "1.0" {
			return []inert{{`"proxy_http_version 1.0"`, "limpet always speaks HTTP/1.1 to upstreams, with keep-alive"}}
		}
		return nil // 1.1 is what limpet does
	},
	"proxy_buffering": func(d *Directive) []inert {
		if strings.EqualFold(d.Args[0], "on") {
			return []inert{{`"proxy_buffering on"`, `limpet streams responses, as with "proxy_buffering off"`}}
		}
		return nil
	},
	"resolver": func(d *Directive) []inert {
		for _, a := range d.Args {
			if strings.HasPrefix(a, "status_zone=") {
				return []inert{{fmt.Sprintf("the %q parameter of \"resolver\"", a), "limpet keeps no statistics of its resolvers"}}
			}
		}
		return nil
	},
	"access_log": func(d *Directive) []inert {
		var out []inert
		for i, a := range d.Args[1:] {
			if i == 0 {
				out = append(out, inert{fmt.Sprintf("the format %q of \"access_log\"", a), "limpet writes its own JSON lines"})
				continue
			}
			key, _, _ := strings.Cut(a, "=")
			why := accessLogParams[key]
			out = append(out, inert{fmt.Sprintf("the %q parameter of \"access_log\"", a), why})
		}
		return out
	},
}

// accessLogParams are the parameters of access_log after its format,
// with what limpet does instead of each.
var accessLogParams = map[string]string{
	"buffer": "limpet buffers 32k of lines and writes them out every second",
	"flush":  "limpet buffers 32k of lines and writes them out every second",
	"gzip":   "limpet writes the log uncompressed",
	"if":     "limpet logs every request",
}

// warnNoEffect records a warning for each part of d listed in noEffect.
func (b *builder) warnNoEffect(d *Directive) {
	f := noEffect[d.Name]
	if f == nil {
		return
	}
	for _, in := range f(d) {
		b.cfg.Warnings = append(b.cfg.Warnings, Warning{Pos: d.Pos(), Msg: in.what + " has no effect in limpet (" + in.why + ")"})
	}
}

// lookup finds the entry for d in context w, with nginx's errors for an
// unknown name or a known name in the wrong place.
func lookup(d *Directive, w where) (*directive, error) {
	entries, ok := table[d.Name]
	if !ok {
		return nil, d.errorf("unknown directive %q", d.Name)
	}
	for _, e := range entries {
		if e.where&w != 0 {
			return e, nil
		}
	}
	return nil, d.errorf("%q directive is not allowed here", d.Name)
}

// check applies the entry's block and argument rules to d, in the order
// and words of ngx_conf_handler.
func (e *directive) check(d *Directive) error {
	if e.args&argsBlock != 0 && !d.HasBlock {
		return d.errorf("directive %q has no opening \"{\"", d.Name)
	}
	if e.args&argsBlock == 0 && d.HasBlock {
		return d.errorf("directive %q is not terminated by \";\"", d.Name)
	}
	n := len(d.Args)
	var ok bool
	switch {
	case e.args&argsAny != 0:
		ok = true
	case e.args&argsFlag != 0:
		ok = n == 1
	case e.args&args1More != 0:
		ok = n >= 1
	case e.args&args2More != 0:
		ok = n >= 2
	default:
		ok = n <= 4 && e.args&(args0<<n) != 0
	}
	if !ok {
		return d.errorf("invalid number of arguments in %q directive", d.Name)
	}
	if e.args&argsFlag != 0 {
		// ngx_conf_set_flag_slot compares without case.
		if v := d.Args[0]; !strings.EqualFold(v, "on") && !strings.EqualFold(v, "off") {
			return d.errorf("invalid value %q in %q directive, it must be \"on\" or \"off\"", v, d.Name)
		}
	}
	return nil
}
