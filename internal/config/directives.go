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
	// the records' TTL. Used by the upstreams' resolve servers (the
	// upstream's own, else http's) and by proxy_pass with variables (the
	// location's, else the server's, else http's); where nothing uses it,
	// it is reported as ignored (passvars.go).
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
	// [so_keepalive=on|off|IDLE:INTVL:CNT] [ipv6only=on|off] [ssl] [http2];
	// default "listen 80" (0.0.0.0:80, IPv4 only; [::]:80 is IPv6's
	// socket); http2 is deprecated (a warning, as in nginx 1.25.1+). The
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

	// valid_referers none | blocked | server_names | STRING ...; no
	// default (referer.go): what makes $invalid_referer "".
	{"valid_referers", inServer | inLocation, args1More, (*builder).validReferers},
	{"referer_hash_max_size", inServer | inLocation, args1, (*builder).ignore},
	{"referer_hash_bucket_size", inServer | inLocation, args1, (*builder).ignore},

	// Static files and error pages (static.go), merged from http to
	// server to location.
	// root PATH; default "html" under the prefix. No variables.
	{"root", inHSL, args1, (*builder).staticRoot},
	// alias PATH; no default; in a regex location the whole file path,
	// built from the location's captures ("alias /srv/$1").
	{"alias", inLocation, args1, (*builder).staticRoot},
	// index FILE ...; default index.html; only the last may be absolute.
	{"index", inHSL, args1More, (*builder).staticIndex},
	// try_files FILE ... URI|=CODE|@name; no default; not inherited.
	{"try_files", inServer | inLocation, args2More, (*builder).tryFiles},
	// default_type MIME; default text/plain.
	{"default_type", inHSL, args1, staticSlot(func(c *staticConf) *setting[string] { return &c.defaultType }, func(d *Directive) (string, error) { return d.Args[0], nil })},
	// types { MIME EXT ...; }; default text/html html, image/gif gif,
	// image/jpeg jpg (nginx's; `include mime.types` for the full table).
	{"types", inHSL, args0 | argsBlock, (*builder).types},
	// etag on|off; default on.
	{"etag", inHSL, argsFlag, staticFlag(func(c *staticConf) *setting[bool] { return &c.etag })},
	// if_modified_since off|exact|before; default exact.
	{"if_modified_since", inHSL, args1, staticSlot(func(c *staticConf) *setting[string] { return &c.ims }, func(d *Directive) (string, error) {
		switch v := d.Args[0]; v {
		case "off", "exact", "before":
			return v, nil
		}
		return "", d.invalidArg(d.Args[0])
	})},
	// autoindex off; default off; "on" is refused (no directory listings).
	{"autoindex", inHSL, argsFlag, unsupportedOn(func(c *staticConf) *setting[bool] { return &c.autoindex }, "it lists no directories")},
	// disable_symlinks off; default off; on and if_not_owner are refused.
	{"disable_symlinks", inHSL, args12, (*builder).disableSymlinks},
	// sendfile on|off; default off. limpet's file bodies go through
	// Go's copy, which uses sendfile(2) where the writer allows it.
	{"sendfile", inHSL, argsFlag, (*builder).ignore},
	// How nginx reads files, which limpet leaves to the kernel and Go:
	// accepted, checked and listed in Config.Ignored. limpet opens each
	// file per request (no open_file_cache) and sends it with
	// sendfile(2) in one call.
	// (open_file_cache*, sendfile_max_chunk, aio, directio and
	// output_buffers are with the other ignored ones below.)
	{"read_ahead", inHSL, args1, (*builder).ignore},
	// internal; the location serves internal redirects only.
	{"internal", inLocation, args0, (*builder).internal},
	// error_page CODE ... [=[RESPONSE]] URI|@name; several per level; a
	// level with any inherits none.
	{"error_page", inHSL, args2More, (*builder).errorPage},
	// proxy_intercept_errors on|off; default off.
	{"proxy_intercept_errors", inHSL, argsFlag, staticFlag(func(c *staticConf) *setting[bool] { return &c.intercept })},
	// log_not_found on|off; default on.
	{"log_not_found", inHSL, argsFlag, staticFlag(func(c *staticConf) *setting[bool] { return &c.logNotFound })},
	// recursive_error_pages on|off; default off.
	{"recursive_error_pages", inHSL, argsFlag, staticFlag(func(c *staticConf) *setting[bool] { return &c.recursive })},

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
	// require $VAR ...; refused: a health check's response has no
	// variables ($upstream_http_*) to test in limpet.
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
	// auth_request URI|off; default off. auth_request_set $VAR VALUE;
	// no default; a level with any does not inherit the outer ones
	// (ngx_http_auth_request_module, authrequest.go).
	{"auth_request", inHSL, args1, (*builder).authRequest},
	{"auth_request_set", inHSL, args2, (*builder).authRequestSet},
	// satisfy all|any; default all; `any` is refused (authrequest.go).
	{"satisfy", inHSL, args1, (*builder).satisfy},
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
	// add_trailer NAME VALUE [always]; the same rules, sent at the end
	// of a chunked response.
	{"add_trailer", inHSL, args2 | args3, (*builder).addHeader},
	// add_header_inherit on|off|merge; add_trailer_inherit on|off|merge;
	// default on (nginx 1.29.3).
	{"add_header_inherit", inHSL, args1, enumSlot(func(p *proxyConf) *setting[string] { return &p.headersInherit }, "on", "off", "merge")},
	{"add_trailer_inherit", inHSL, args1, enumSlot(func(p *proxyConf) *setting[string] { return &p.trailersInherit }, "on", "off", "merge")},
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
	// access_log off | PATH [FORMAT [buffer=SIZE] [flush=TIME]
	// [if=CONDITION]]; several per level; default stdout in limpet's
	// JSON, also when FORMAT is left out (see logformat.go).
	{"access_log", inHSL | inLocationIf, args1More, (*builder).accessLog},
	// log_format NAME [escape=default|json|none] STRING ...; combined
	// is predefined.
	{"log_format", inHTTPLevel, args2More, (*builder).logFormat},
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
	// The client side (client.go).
	// client_header_timeout TIME; default 60s (http, server).
	{"client_header_timeout", inHS, args1, msecSlot(clientSlot(func(c *clientConf) *setting[time.Duration] { return &c.headerTimeout }))},
	// client_body_timeout TIME; default 60s.
	{"client_body_timeout", inHSL, args1, msecSlot(clientSlot(func(c *clientConf) *setting[time.Duration] { return &c.bodyTimeout }))},
	// send_timeout TIME; default 60s.
	{"send_timeout", inHSL, args1, msecSlot(clientSlot(func(c *clientConf) *setting[time.Duration] { return &c.sendTimeout }))},
	// keepalive_requests NUMBER; default 1000.
	{"keepalive_requests", inHSL, args1, numSlot(clientSlot(func(c *clientConf) *setting[int] { return &c.keepaliveRequests }))},
	// keepalive_time TIME; default 1h.
	{"keepalive_time", inHSL, args1, msecSlot(clientSlot(func(c *clientConf) *setting[time.Duration] { return &c.keepaliveTime }))},
	// limit_rate RATE; default 0 (no limit); bytes per second.
	{"limit_rate", inHSL, args1, sizeSlot(clientSlot(func(c *clientConf) *setting[int64] { return &c.limitRate }))},
	// limit_rate_after SIZE; default 0.
	{"limit_rate_after", inHSL, args1, sizeSlot(clientSlot(func(c *clientConf) *setting[int64] { return &c.limitRateAfter }))},
	// proxy_request_buffering on|off; default on (proxy/reqbuffer.go).
	{"proxy_request_buffering", inHSL, argsFlag, flagSlot(clientSlot(func(c *clientConf) *setting[bool] { return &c.requestBuffering }))},
	// client_body_buffer_size SIZE; default 16k.
	{"client_body_buffer_size", inHSL, args1, sizeSlot(clientSlot(func(c *clientConf) *setting[int64] { return &c.bodyBuffer }))},
	// client_body_temp_path PATH [LEVEL1 [LEVEL2 [LEVEL3]]]; default
	// client_body_temp under the prefix.
	{"client_body_temp_path", inHSL, args1 | args2 | args3 | args4, (*builder).clientBodyTempPath},
	// How limpet's own redirects are made absolute (redirect.go).
	// absolute_redirect on|off; default on.
	{"absolute_redirect", inHSL, argsFlag, flagSlot(func(p *proxyConf) *setting[bool] { return &p.redirects.absolute })},
	// server_name_in_redirect on|off; default off.
	{"server_name_in_redirect", inHSL, argsFlag, flagSlot(func(p *proxyConf) *setting[bool] { return &p.redirects.serverName })},
	// port_in_redirect on|off; default on.
	{"port_in_redirect", inHSL, argsFlag, flagSlot(func(p *proxyConf) *setting[bool] { return &p.redirects.port })},
	// TLS to upstreams (upstreamssl.go), for proxy_pass https://.
	// proxy_ssl_verify on|off; default off.
	{"proxy_ssl_verify", inHSL, argsFlag, (*builder).proxySSLVerify},
	// proxy_ssl_verify_depth NUMBER; default 1.
	{"proxy_ssl_verify_depth", inHSL, args1, (*builder).proxySSLVerifyDepth},
	// proxy_ssl_trusted_certificate FILE; no default; needed by proxy_ssl_verify on.
	{"proxy_ssl_trusted_certificate", inHSL, args1, sslString(func(c *sslConf) (*setting[string], *Pos) { return &c.trusted, &c.trustedPos })},
	// proxy_ssl_server_name on|off; default off (no SNI).
	{"proxy_ssl_server_name", inHSL, argsFlag, sslFlag(func(c *sslConf) *setting[bool] { return &c.serverName })},
	// proxy_ssl_name NAME; default $proxy_host; variables allowed.
	{"proxy_ssl_name", inHSL, args1, sslString(func(c *sslConf) (*setting[string], *Pos) { return &c.name, &c.namePos })},
	// proxy_ssl_certificate FILE; proxy_ssl_certificate_key FILE; no
	// default: the client certificate sent to the servers.
	{"proxy_ssl_certificate", inHSL, args1, sslString(func(c *sslConf) (*setting[string], *Pos) { return &c.cert, &c.certPos })},
	{"proxy_ssl_certificate_key", inHSL, args1, sslString(func(c *sslConf) (*setting[string], *Pos) { return &c.certKey, &c.certKeyPos })},
	// proxy_ssl_protocols [TLSv1] [TLSv1.1] [TLSv1.2] [TLSv1.3]; default TLSv1.2 TLSv1.3.
	{"proxy_ssl_protocols", inHSL, args1More, (*builder).proxySSLProtocols},
	// proxy_ssl_ciphers CIPHERS; default DEFAULT; OpenSSL's names.
	{"proxy_ssl_ciphers", inHSL, args1, sslString(func(c *sslConf) (*setting[string], *Pos) { return &c.ciphers, &c.ciphersPos })},
	// proxy_ssl_session_reuse on|off; default on.
	{"proxy_ssl_session_reuse", inHSL, argsFlag, sslFlag(func(c *sslConf) *setting[bool] { return &c.sessionReuse })},
	// Refused with the reason (proxySSLUnsupported).
	{"proxy_ssl_crl", inHSL, args1, (*builder).proxySSLUnsupported},
	{"proxy_ssl_password_file", inHSL, args1, (*builder).proxySSLUnsupported},
	{"proxy_ssl_conf_command", inHSL, args2, (*builder).proxySSLUnsupported},
	{"proxy_ssl_certificate_cache", inHSL, args123, (*builder).proxySSLUnsupported},
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
	// HTTP/2 to clients (ngx_http_v2_module, nginx 1.25.1+); see http2.go.
	// http2 on|off; default off.
	{"http2", inHS, argsFlag, flagSlot(func(p *proxyConf) *setting[bool] { return &p.http2.enable })},
	// http2_max_concurrent_streams NUMBER; default 128.
	{"http2_max_concurrent_streams", inHS, args1, (*builder).http2Streams},
	// http2_recv_buffer_size SIZE; default 256k; http only.
	{"http2_recv_buffer_size", inHTTPLevel, args1, (*builder).http2RecvBufferSize},
	// http2_body_preread_size SIZE; default 64k.
	{"http2_body_preread_size", inHS, args1, (*builder).http2BodyPrereadSize},
	// http2_chunk_size SIZE; default 8k; checked, then a warning.
	{"http2_chunk_size", inHSL, args1, (*builder).http2ChunkSize},
	// nginx's own memory tuning.
	{"http2_pool_size", inHS, args1, (*builder).ignore},
	{"http2_streams_index_size", inHS, args1, (*builder).ignore},
	// Obsolete since nginx 1.19.7 (the replacement applies to HTTP/2
	// too) and server push, removed in nginx 1.25.1: warnings.
	{"http2_idle_timeout", inHS, args1, http2Obsolete("keepalive_timeout")},
	{"http2_recv_timeout", inHS, args1, http2Obsolete("client_header_timeout")},
	{"http2_max_requests", inHS, args1, http2Obsolete("keepalive_requests")},
	{"http2_max_field_size", inHS, args1, http2Obsolete("large_client_header_buffers")},
	{"http2_max_header_size", inHS, args1, http2Obsolete("large_client_header_buffers")},
	{"http2_max_concurrent_pushes", inHS, args1, http2Obsolete("")},
	{"http2_push", inHSL, args1, http2Obsolete("")},
	{"http2_push_preload", inHSL, argsFlag, http2Obsolete("")},

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
	{"tcp_nopush", inHSL, argsFlag, (*builder).ignore},
	{"tcp_nodelay", inHSL, argsFlag, (*builder).ignore},
	{"server_tokens", inHSL, args1, (*builder).ignore},
	{"types_hash_max_size", inHSL, args1, (*builder).ignore},
	{"types_hash_bucket_size", inHSL, args1, (*builder).ignore},
	{"server_names_hash_bucket_size", inHTTPLevel, args1, (*builder).ignore},
	{"server_names_hash_max_size", inHTTPLevel, args1, (*builder).ignore},
	{"variables_hash_max_size", inHTTPLevel, args1, (*builder).ignore},
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
	{"keepalive_requests", inUpstream, args1, (*builder).ignore},
	{"keepalive_time", inUpstream, args1, (*builder).ignore},
	// In upstream, keepalive_timeout bounds idle upstream connections,
	// which limpet's pool manages itself.
	{"keepalive_timeout", inUpstream, args1, (*builder).ignore},
	{"charset", inHSL, args1, (*builder).ignore},
	{"proxy_buffers", inHSL, args2, (*builder).ignore},
	{"proxy_buffer_size", inHSL, args1, (*builder).ignore},
	{"proxy_busy_buffers_size", inHSL, args1, (*builder).ignore},
	// The upstream's response header on its way to the client
	// (respheaders.go).
	// proxy_hide_header FIELD; proxy_pass_header FIELD; several per level;
	// Date, Server, X-Pad and X-Accel-* are hidden by default.
	{"proxy_hide_header", inHSL, args1, (*builder).proxyHideHeader},
	{"proxy_pass_header", inHSL, args1, (*builder).proxyPassHeader},
	// proxy_redirect default | off | REDIRECT REPLACEMENT; default
	// "default"; several per level; ~ and ~* regexes with captures.
	{"proxy_redirect", inHSL, args12, (*builder).proxyRedirect},
	// proxy_cookie_path off | PATH REPLACEMENT; proxy_cookie_domain off |
	// DOMAIN REPLACEMENT; default off; several per level.
	{"proxy_cookie_path", inHSL, args12, (*builder).proxyCookieRewrite},
	{"proxy_cookie_domain", inHSL, args12, (*builder).proxyCookieRewrite},
	// proxy_cookie_flags off | COOKIE [FLAG ...]; default off.
	{"proxy_cookie_flags", inHSL, args1More, (*builder).proxyCookieFlags},
	// expires [modified] TIME | epoch | max | off; default off.
	{"expires", inHSL, args12, (*builder).expires},
	// set_real_ip_from ADDRESS|CIDR|unix:; real_ip_header FIELD (default
	// X-Real-IP); real_ip_recursive on|off (default off): realip.go.
	{"set_real_ip_from", inHSL, args1, (*builder).setRealIPFrom},
	{"real_ip_header", inHSL, args1, (*builder).realIPHeader},
	{"real_ip_recursive", inHSL, argsFlag, (*builder).realIPRecursive},
	// status_zone NAME; NGINX Plus's; no default; counted in the metrics.
	{"status_zone", inServer | inLocation, args1, (*builder).statusZone},

	// Response caching (ngx_http_proxy_module's proxy_cache*): limpet
	// caches nothing, so every request reaches an upstream as with
	// "proxy_cache off". Accepted with one warning per name (the issue
	// asks for that rather than a refusal, so that real sites load).
	{"proxy_cache", inHSL, args1, (*builder).ignore},
	{"proxy_cache_path", inHTTPLevel, args2More, (*builder).ignore},
	{"proxy_cache_valid", inHSL, args1More, (*builder).ignore},
	{"proxy_cache_use_stale", inHSL, args1More, (*builder).ignore},
	{"proxy_cache_key", inHSL, args1, (*builder).ignore},
	{"proxy_cache_lock", inHSL, argsFlag, (*builder).ignore},
	{"proxy_cache_lock_timeout", inHSL, args1, (*builder).ignore},
	{"proxy_cache_lock_age", inHSL, args1, (*builder).ignore},
	{"proxy_cache_revalidate", inHSL, argsFlag, (*builder).ignore},
	{"proxy_cache_min_uses", inHSL, args1, (*builder).ignore},
	{"proxy_cache_background_update", inHSL, argsFlag, (*builder).ignore},
	{"proxy_cache_methods", inHSL, args1More, (*builder).ignore},
	{"proxy_cache_convert_head", inHSL, argsFlag, (*builder).ignore},
	{"proxy_cache_max_range_offset", inHSL, args1, (*builder).ignore},
	{"proxy_cache_bypass", inHSL, args1More, (*builder).ignore},
	{"proxy_cache_purge", inHSL, args1More, (*builder).ignore},
	{"proxy_no_cache", inHSL, args1More, (*builder).ignore},
	// proxy_ignore_headers FIELD ...: the fields it names (X-Accel-*,
	// Expires, Cache-Control, Set-Cookie, Vary) steer nginx's cache and
	// internal redirects, none of which limpet has.
	{"proxy_ignore_headers", inHSL, args1More, (*builder).ignore},
	// proxy_method METHOD; proxy_pass_request_headers on|off;
	// proxy_pass_request_body on|off; defaults: the client's method, on,
	// on (passrequest.go).
	{"proxy_method", inHSL, args1, (*builder).proxyMethod},
	{"proxy_pass_request_headers", inHSL, argsFlag, (*builder).proxyPassRequest},
	{"proxy_pass_request_body", inHSL, argsFlag, (*builder).proxyPassRequest},
	// proxy_ignore_client_abort on|off; default off, which is what limpet
	// does (the upstream request ends when the client leaves); on is
	// warned of (noEffect).
	{"proxy_ignore_client_abort", inHSL, argsFlag, (*builder).proxyIgnoreClientAbort},
	// proxy_socket_keepalive on|off tunes the upstream sockets only.
	{"proxy_socket_keepalive", inHSL, argsFlag, (*builder).ignore},
	// client_body_in_single_buffer on|off: how nginx lays out a body in
	// memory, which a reader of it cannot tell.
	{"client_body_in_single_buffer", inHSL, argsFlag, (*builder).ignore},
	// Buffers, temporary files and tables of nginx's own.
	{"proxy_temp_path", inHSL, args1More, (*builder).ignore},
	{"proxy_max_temp_file_size", inHSL, args1, (*builder).ignore},
	{"proxy_temp_file_write_size", inHSL, args1, (*builder).ignore},
	{"proxy_headers_hash_bucket_size", inHSL, args1, (*builder).ignore},
	{"proxy_headers_hash_max_size", inHSL, args1, (*builder).ignore},
	{"proxy_send_lowat", inHSL, args1, (*builder).ignore},
	{"open_file_cache", inHSL, args12, (*builder).ignore},
	{"open_file_cache_valid", inHSL, args1, (*builder).ignore},
	{"open_file_cache_min_uses", inHSL, args1, (*builder).ignore},
	{"open_file_cache_errors", inHSL, argsFlag, (*builder).ignore},
	{"open_file_cache_events", inHSL, argsFlag, (*builder).ignore},
	{"output_buffers", inHSL, args12, (*builder).ignore},
	{"postpone_output", inHSL, args1, (*builder).ignore},
	{"send_lowat", inHSL, args1, (*builder).ignore},
	{"sendfile_max_chunk", inHSL, args1, (*builder).ignore},
	{"aio", inHSL, args1, (*builder).ignore},
	{"directio", inHSL, args1, (*builder).ignore},
	{"reset_timedout_connection", inHSL, argsFlag, (*builder).ignore},
	{"lingering_close", inHSL, args1, (*builder).ignore},
	{"lingering_time", inHSL, args1, (*builder).ignore},
	{"lingering_timeout", inHSL, args1, (*builder).ignore},
	{"chunked_transfer_encoding", inHSL, argsFlag, (*builder).ignore},
	{"pcre_jit", inMain, argsFlag, (*builder).ignore},
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
	"set_real_ip_from": func(d *Directive) []inert {
		if d.Args[0] == "unix:" {
			return []inert{{`"set_real_ip_from unix:"`, "limpet listens on TCP only"}}
		}
		return nil
	},
	"proxy_ignore_client_abort": func(d *Directive) []inert {
		if strings.EqualFold(d.Args[0], "on") {
			return []inert{{`"proxy_ignore_client_abort on"`, "limpet ends the upstream request when the client closes its connection, as with \"off\""}}
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
}

// warnNoEffect records a warning for each part of d listed in noEffect.
func (b *builder) warnNoEffect(d *Directive) {
	f := noEffect[d.Name]
	if f == nil {
		return
	}
	for _, in := range f(d) {
		// One warning per value, at its first line, counting the others
		// (forty "proxy_buffering on" lines are one thing to fix).
		key := d.Name + "\x00" + in.what
		if i, ok := b.noEffectAt[key]; ok {
			b.cfg.Warnings[i].More++
			continue
		}
		if b.noEffectAt == nil {
			b.noEffectAt = make(map[string]int)
		}
		b.noEffectAt[key] = len(b.cfg.Warnings)
		b.cfg.Warnings = append(b.cfg.Warnings, Warning{Pos: d.Pos(), Msg: in.what + " has no effect in limpet (" + in.why + ")"})
	}
}

// lookup finds the entry for d in context w, with nginx's errors for an
// unknown name or a known name in the wrong place, and limpet's for a
// name of the Unsupported list.
func lookup(d *Directive, w where) (*directive, error) {
	entries, ok := table[d.Name]
	for _, e := range entries {
		if e.where&w != 0 {
			return e, nil
		}
	}
	// A name nginx knows and limpet does not do is said plainly, here
	// or where limpet has its own use of the name (`status` in match).
	if unsupported(d.Name) != nil {
		return nil, d.notSupported()
	}
	if !ok {
		return nil, d.errorf("unknown directive %q", d.Name)
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
