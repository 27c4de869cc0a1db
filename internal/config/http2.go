package config

import "fmt"

// This file holds HTTP/2 to clients (ngx_http_v2_module): `http2 on`, the
// settings of an HTTP/2 connection, and the directives nginx has made
// obsolete, which it accepts with a warning and so does limpet.

// HTTP2 is a virtual server's HTTP/2 settings, merged from http to server.
// As in nginx, a listen address speaks HTTP/2 when its default server has
// `http2 on` or any of its `listen` lines the `http2` parameter, and its
// connections take the default server's settings (the streams of one
// connection may be for several virtual servers).
type HTTP2 struct {
	// Enabled is `http2 on` (default off).
	Enabled bool
	// MaxConcurrentStreams is http2_max_concurrent_streams (128).
	MaxConcurrentStreams int
	// RecvBufferSize is http2_recv_buffer_size, set in http only
	// (256k): the connection's flow-control window and the largest
	// frame limpet reads.
	RecvBufferSize int
	// BodyPrereadSize is http2_body_preread_size (64k): each stream's
	// initial flow-control window.
	BodyPrereadSize int
}

// nginx's defaults.
const (
	defaultHTTP2Streams     = 128
	defaultHTTP2RecvBuffer  = 256 << 10
	defaultHTTP2Preread     = 64 << 10
	http2StateBufferSize    = 16 // NGX_HTTP_V2_STATE_BUFFER_SIZE
	http2MaxWindow          = 1<<31 - 1
	http2MaxConcurrentLimit = 1<<31 - 1
)

// http2Conf is one level's HTTP/2 settings (http or server).
type http2Conf struct {
	enable     setting[bool]
	streams    setting[int]
	recvBuffer setting[int64]
	preread    setting[int64]
}

func (h *http2Conf) inherit(parent *http2Conf) {
	h.enable.inherit(parent.enable)
	h.streams.inherit(parent.streams)
	h.recvBuffer.inherit(parent.recvBuffer)
	h.preread.inherit(parent.preread)
}

// http2Settings returns the effective settings of a merged level.
func (p *proxyConf) http2Settings() HTTP2 {
	h := &p.http2
	return HTTP2{
		Enabled:              h.enable.or(false),
		MaxConcurrentStreams: h.streams.or(defaultHTTP2Streams),
		RecvBufferSize:       int(h.recvBuffer.or(defaultHTTP2RecvBuffer)),
		BodyPrereadSize:      int(h.preread.or(defaultHTTP2Preread)),
	}
}

// http2Streams handles `http2_max_concurrent_streams NUMBER`. nginx takes
// 0 (every stream refused); x/net cannot advertise it, and a server that
// refuses every stream is a mistake, so limpet asks for 1 or more.
func (b *builder) http2Streams(d *Directive, s *scope) error {
	f := &s.proxy.http2.streams
	if f.set {
		return d.duplicate()
	}
	n, ok := parseInt(d.Args[0])
	if !ok {
		return d.errorf("%q directive invalid number", d.Name)
	}
	if n < 1 || n > http2MaxConcurrentLimit {
		return d.errorf("invalid value %q in %q directive, it must be 1 or more", d.Args[0], d.Name)
	}
	*f = setting[int]{v: n, set: true}
	return nil
}

// http2RecvBufferSize handles `http2_recv_buffer_size SIZE` (http only),
// with nginx's lower bound.
func (b *builder) http2RecvBufferSize(d *Directive, s *scope) error {
	f := &s.proxy.http2.recvBuffer
	if f.set {
		return d.duplicate()
	}
	v, ok := parseSize(d.Args[0])
	if !ok {
		return d.invalidValue()
	}
	if v <= http2StateBufferSize {
		return d.errorf("%q directive value is too small", d.Name)
	}
	*f = setting[int64]{v: min(v, http2MaxWindow), set: true}
	return nil
}

// http2BodyPrereadSize handles `http2_body_preread_size SIZE`, with
// nginx's upper bound (a flow-control window's).
func (b *builder) http2BodyPrereadSize(d *Directive, s *scope) error {
	f := &s.proxy.http2.preread
	if f.set {
		return d.duplicate()
	}
	v, ok := parseSize(d.Args[0])
	if !ok {
		return d.invalidValue()
	}
	if v > http2MaxWindow {
		return d.errorf("the maximum body preread buffer size is %d", http2MaxWindow)
	}
	*f = setting[int64]{v: v, set: true}
	return nil
}

// http2ChunkSize handles `http2_chunk_size SIZE`: checked as nginx checks
// it, then a warning, since x/net sizes the DATA frames itself.
func (b *builder) http2ChunkSize(d *Directive, s *scope) error {
	v, ok := parseSize(d.Args[0])
	if !ok {
		return d.invalidValue()
	}
	if v == 0 {
		return d.errorf("the http2 chunk size cannot be zero")
	}
	b.warnHTTP2(d, fmt.Sprintf("%q has no effect in limpet (HTTP/2 DATA frames are as large as the client's SETTINGS_MAX_FRAME_SIZE and the flow-control windows allow)", d.Name))
	return nil
}

// http2Obsolete is nginx's ngx_http_v2_obsolete: directives nginx
// accepts and ignores, with a warning that names their replacement, if
// any.
func http2Obsolete(replacement string) handler {
	return func(b *builder, d *Directive, s *scope) error {
		if replacement != "" {
			b.warnHTTP2(d, fmt.Sprintf("the %q directive is obsolete, use the %q directive instead", d.Name, replacement))
		} else {
			b.warnHTTP2(d, fmt.Sprintf("the %q directive is obsolete, ignored", d.Name))
		}
		return nil
	}
}

// warnHTTP2 records a warning at d's file and line.
func (b *builder) warnHTTP2(d *Directive, msg string) {
	b.cfg.Warnings = append(b.cfg.Warnings, Warning{Pos: d.Pos(), Msg: msg})
}

// listenHTTP2 applies the `http2` parameter of listen: nginx 1.25.1
// deprecated it for `http2 on`, and warns, as limpet does.
func (b *builder) listenHTTP2(d *Directive, l *Listen) {
	b.warnHTTP2(d, `the "listen ... http2" directive is deprecated, use the "http2" directive instead`)
	l.HTTP2 = true
}
