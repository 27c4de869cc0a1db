package config

import (
	"strings"
)

// This file holds the two lists that say plainly what limpet does not do
// with a directive nginx knows: Unsupported, the directives that are
// refused because their effect would be visible and limpet cannot give
// it, and ignoredWhy, the reasons given when a directive that only tunes
// nginx is accepted and ignored. The README's "Not supported" list is
// written from Unsupported, and a test keeps the two the same.

// UnsupportedDirective is a directive, or a family of them, that nginx
// knows and limpet refuses with `the "X" directive is not supported by
// limpet in FILE:LINE`, rather than `unknown directive`, which is kept for
// typos.
type UnsupportedDirective struct {
	// Name is the directive's name, or a prefix ending in "*" for a whole
	// module's directives ("fastcgi_*").
	Name string
	// Why says what limpet lacks, for the README.
	Why string
}

// Unsupported lists the directives limpet refuses as not supported, in
// the README's order. An entry ending in "*" covers every name with that
// prefix that the table of directives.go does not hold.
var Unsupported = []UnsupportedDirective{
	{"fastcgi_*", "limpet proxies HTTP only: no FastCGI upstreams"},
	{"uwsgi_*", "limpet proxies HTTP only: no uwsgi upstreams"},
	{"scgi_*", "limpet proxies HTTP only: no SCGI upstreams"},
	{"grpc_*", "limpet proxies HTTP/1.1 upstreams only: no gRPC (HTTP/2) upstreams"},
	{"memcached_*", "limpet proxies HTTP only: no memcached upstreams"},
	{"stream", "limpet balances HTTP: no TCP or UDP proxying"},
	{"mail", "limpet balances HTTP: no mail proxying"},
	{"js_*", "limpet runs no scripts (njs)"},
	{"perl", "limpet runs no scripts (embedded Perl)"},
	{"perl_*", "limpet runs no scripts (embedded Perl)"},
	{"sub_filter*", "limpet passes response bodies as the upstream sent them"},
	{"addition_types", "limpet passes response bodies as the upstream sent them"},
	{"add_before_body", "limpet passes response bodies as the upstream sent them"},
	{"add_after_body", "limpet passes response bodies as the upstream sent them"},
	{"xslt_*", "limpet passes response bodies as the upstream sent them"},
	{"image_filter*", "limpet passes response bodies as the upstream sent them"},
	{"gunzip*", "limpet passes response bodies as the upstream sent them"},
	{"ssi*", "limpet passes response bodies as the upstream sent them: no server-side includes"},
	{"mirror*", "limpet makes no background subrequests (only auth_request's), so it cannot mirror requests"},
	{"slice*", "limpet makes no ranged subrequests (only auth_request's), so it cannot fetch byte ranges in slices"},
	{"split_clients", "limpet has no split_clients: give the servers weights in an upstream instead"},
	{"geo", "limpet has no geo variables"},
	{"geoip_*", "limpet has no GeoIP database"},
	{"geoip2", "limpet has no GeoIP database"},
	{"keyval*", "limpet has no key-value store (NGINX Plus)"},
	{"upstream_conf", "the old NGINX Plus upstream API: use `api` (API version 9)"},
	{"least_time", "limpet does not measure response times (NGINX Plus): use least_conn"},
	{"status", "the old NGINX Plus status module: use `api` or `metrics`"},
	{"status_format", "the old NGINX Plus status module: use `api` or `metrics`"},
	{"secure_link*", "limpet checks no signed links"},
	{"userid*", "limpet sets no user-id cookies of its own, only its persistence cookie"},
	{"dav_*", "limpet serves no WebDAV"},
	{"create_full_put_path", "limpet serves no WebDAV"},
	{"min_delete_depth", "limpet serves no WebDAV"},
	{"mp4*", "limpet serves no media streams"},
	{"flv", "limpet serves no media streams"},
	{"hls*", "limpet serves no media streams"},
	{"f4f*", "limpet serves no media streams"},
	{"empty_gif", "limpet serves no built-in images"},
	{"proxy_store*", "limpet stores no responses on disk"},
	{"proxy_set_body", "limpet always passes the client's body to the upstream"},
	{"proxy_bind", "limpet connects to upstreams from the address the system chooses"},
	{"proxy_limit_rate", "limpet reads upstream responses as fast as the client takes them"},
	{"proxy_force_ranges", "limpet answers no byte ranges itself: the upstream's answer passes"},
	{"auth_jwt*", "limpet checks no JSON Web Tokens (NGINX Plus)"},
	{"zone_sync*", "limpet shares no state between instances (NGINX Plus)"},
	{"ntlm", "limpet does not tie upstream connections to clients (NGINX Plus)"},
	{"sticky_cookie_insert", "the old NGINX Plus form: use `sticky cookie`"},
	{"ssl_crl", "Go's TLS checks no certificate revocation lists: limpet will not accept revoked client certificates silently"},
	{"ssl_ocsp*", "Go's TLS checks no OCSP responses for client certificates"},
	{"ssl_password_file", "limpet reads unencrypted private keys only"},
	{"client_body_in_file_only", "limpet keeps a buffered body in memory up to client_body_buffer_size and in an unnamed temporary file beyond it, never in a named file"},
}

// unsupported returns the entry of Unsupported that covers name, or nil.
func unsupported(name string) *UnsupportedDirective {
	for i := range Unsupported {
		u := &Unsupported[i]
		if p, ok := strings.CutSuffix(u.Name, "*"); ok && strings.HasPrefix(name, p) || u.Name == name {
			return u
		}
	}
	return nil
}

// notSupported is the error for a directive limpet refuses.
func (d *Directive) notSupported() error {
	return d.errorf("the %q directive is not supported by limpet", d.Name)
}

// ignoredWhy says, by name or prefix, why a directive accepted with the
// ignore handler has no effect; the warning carries the reason. Names not
// here only tune nginx's own processes, buffers and tables.
var ignoredWhy = []struct{ prefix, why string }{
	{"proxy_cache", "limpet caches no responses: every request goes to an upstream"},
	{"proxy_no_cache", "limpet caches no responses: every request goes to an upstream"},
	{"gzip", "limpet does not compress responses: they go out as the upstream sent them"},
	{"proxy_buffer", "limpet streams responses, as with \"proxy_buffering off\""},
	{"proxy_busy_buffers_size", "limpet streams responses, as with \"proxy_buffering off\""},
	{"proxy_ignore_headers", "limpet acts on none of these upstream fields (no cache, no X-Accel-*)"},
	{"proxy_temp", "limpet streams responses and writes no temporary files"},
	{"proxy_max_temp_file_size", "limpet streams responses and writes no temporary files"},
	{"open_file_cache", "limpet keeps no cache of open files"},
	{"chunked_transfer_encoding", "limpet always sends a response of unknown length chunked to HTTP/1.1 clients"},
	{"client_body_in_single_buffer", "limpet keeps a buffered body in pooled pieces of memory, which nothing downstream can tell from one buffer"},
}

// ignoreReason returns the reason the warning for an ignored directive
// gives, or "" for a plain nginx tuning directive.
func ignoreReason(name string) string {
	for _, w := range ignoredWhy {
		if strings.HasPrefix(name, w.prefix) {
			return w.why
		}
	}
	return ""
}

// addIgnored records an ignored directive once per name: the first
// occurrence keeps its position, later ones only count, so a
// configuration with forty gzip lines gets one warning per gzip directive.
func (b *builder) addIgnored(name string, pos Pos) {
	if b.ignoredAt == nil {
		b.ignoredAt = make(map[string]int)
	}
	if i, ok := b.ignoredAt[name]; ok {
		b.cfg.Ignored[i].More++
		return
	}
	b.ignoredAt[name] = len(b.cfg.Ignored)
	b.cfg.Ignored = append(b.cfg.Ignored, Ignored{Name: name, Pos: pos, Why: ignoreReason(name)})
}
