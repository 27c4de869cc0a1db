// Package router decides, for each request, what nginx would decide before
// proxying it: which virtual server takes it (vhost.go), which location
// inside that server (location.go, after normalize.go has normalized the
// path), and which request-target goes upstream (rewrite.go).
//
// Everything that can be decided from the configuration alone is decided in
// the constructors: names are lowercased and sorted into maps, regular
// expressions compiled, prefixes ordered. The per-request methods only read
// those immutable structures, so they are safe for concurrent use, take no
// lock, and do not allocate on their common paths.
//
// The precedence rules are nginx's own, read from ngx_http_core_module.c
// (ngx_http_core_find_location, ngx_http_core_find_static_location),
// ngx_http_request.c (ngx_http_find_virtual_server) and ngx_http_parse.c
// (ngx_http_parse_complex_uri), including their less known corners, which
// the comments point out where they are implemented.
package router
