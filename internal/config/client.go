package config

import (
	"path/filepath"
	"time"
)

// This file holds how a client's request header is read: the buffers
// that bound it and the field names it may carry (ngx_http_core_module's
// server-level settings, merged from http to server).

// ClientHeaders are the effective settings for reading a request's header
// in a virtual server. limpet reads the header on one listen address with
// the settings of that address's default server, as nginx does until the
// Host field has chosen another (see README).
type ClientHeaders struct {
	// BufferSize is client_header_buffer_size in bytes (default 1k).
	BufferSize int
	// LargeBuffers and LargeBufferSize are large_client_header_buffers
	// (default 4 8k): a request line or field line must fit in one large
	// buffer (or in BufferSize), the whole header in all of them.
	LargeBuffers    int
	LargeBufferSize int
	// MaxHeaders is max_headers, the most field lines a request may have
	// (default 1000).
	MaxHeaders int
	// UnderscoresInHeaders is underscores_in_headers (default off): off,
	// a field name with an underscore is invalid.
	UnderscoresInHeaders bool
	// IgnoreInvalidHeaders is ignore_invalid_headers (default on): on,
	// fields with invalid names are dropped before the request is
	// handled.
	IgnoreInvalidHeaders bool
}

// nginx's defaults, and the smallest large buffer it allows (its
// connection_pool_size on 64-bit systems).
const (
	defaultClientHeaderBuffer = 1 << 10
	defaultLargeHeaderBuffers = 4
	defaultLargeHeaderSize    = 8 << 10
	defaultMaxHeaders         = 1000
	connectionPoolSize        = 512
)

// largeBuffers is the value of large_client_header_buffers.
type largeBuffers struct{ num, size int }

// clientHeaders returns the effective settings of a merged level.
func (p *proxyConf) clientHeaders() ClientHeaders {
	large := p.largeHeaderBuffers.or(largeBuffers{defaultLargeHeaderBuffers, defaultLargeHeaderSize})
	return ClientHeaders{
		BufferSize:           int(p.clientHeaderBuffer.or(defaultClientHeaderBuffer)),
		LargeBuffers:         large.num,
		LargeBufferSize:      large.size,
		MaxHeaders:           p.maxHeaders.or(defaultMaxHeaders),
		UnderscoresInHeaders: p.underscoresInHeaders.or(false),
		IgnoreInvalidHeaders: p.ignoreInvalidHeaders.or(true),
	}
}

// largeClientHeaderBuffers handles `large_client_header_buffers NUMBER
// SIZE`, with ngx_conf_set_bufs_slot's checks and the core module's
// bound on SIZE.
func (b *builder) largeClientHeaderBuffers(d *Directive, s *scope) error {
	f := &s.proxy.largeHeaderBuffers
	if f.set {
		return d.duplicate()
	}
	// ngx_conf_set_bufs_slot's one error for either argument.
	num, ok := parseInt(d.Args[0])
	if !ok || num == 0 {
		return d.invalidValue()
	}
	size, ok := parseSize(d.Args[1])
	if !ok || size == 0 || size > 1<<30 {
		return d.invalidValue()
	}
	if size < connectionPoolSize {
		return d.errorf("the %q size must be equal to or greater than \"connection_pool_size\"", d.Name)
	}
	*f = setting[largeBuffers]{v: largeBuffers{num, int(size)}, set: true}
	return nil
}

// positiveSizeSlot stores a size in bytes that must not be 0.
func positiveSizeSlot(field func(*proxyConf) *setting[int64]) handler {
	return slot(field, func(d *Directive) (int64, error) {
		if v, ok := parseSize(d.Args[0]); ok && v > 0 && v <= 1<<30 {
			return v, nil
		}
		return 0, d.invalidValue()
	})
}

// positiveNumSlot stores an integer that must not be 0.
func positiveNumSlot(field func(*proxyConf) *setting[int]) handler {
	return slot(field, func(d *Directive) (int, error) {
		if v, ok := parseInt(d.Args[0]); ok && v > 0 {
			return v, nil
		}
		return 0, d.errorf("%q directive invalid number", d.Name)
	})
}

// ClientSettings are the core module's settings of the client's side of
// a request (ngx_http_core_module), merged from http to server to
// location. Values are effective: inherited and defaulted.
type ClientSettings struct {
	// HeaderTimeout is client_header_timeout (default 60s): the time a
	// client has to send a request's header. Connection-wide, so only
	// the listen address's default server's value applies (as in nginx).
	HeaderTimeout time.Duration
	// BodyTimeout is client_body_timeout (default 60s): the longest
	// pause between two reads of the request body; a client that takes
	// longer gets 408.
	BodyTimeout time.Duration
	// SendTimeout is send_timeout (default 60s): the longest pause
	// between two writes of the response to the client, which is closed
	// after it.
	SendTimeout time.Duration
	// KeepaliveRequests is keepalive_requests (default 1000): the most
	// requests one client connection serves; the last response says
	// "Connection: close".
	KeepaliveRequests int
	// KeepaliveTime is keepalive_time (default 1h): a request that
	// begins after a connection has been open this long is its last.
	KeepaliveTime time.Duration
	// LimitRate is limit_rate in bytes per second (default 0: no limit),
	// each response's rate after its first LimitRateAfter bytes
	// (limit_rate_after, default 0).
	LimitRate      int64
	LimitRateAfter int64
	// RequestBuffering is proxy_request_buffering (default on): on, the
	// whole request body is read from the client before an upstream is
	// chosen, so a slow upload holds no upstream connection and the body
	// can be sent again to the next server; off, it streams.
	RequestBuffering bool
	// BodyBufferSize is client_body_buffer_size in bytes (default 16k,
	// nginx's two pages on 64-bit systems): a buffered body up to this
	// size is kept in memory, a larger one in a temporary file.
	BodyBufferSize int64
	// BodyTempPath is client_body_temp_path's directory, absolute
	// (default client_body_temp under the prefix), where the temporary
	// files of buffered bodies are made. limpet opens them unnamed
	// (O_TMPFILE) or unlinks them at once, so the levels nginx names its
	// files with have nothing to name.
	BodyTempPath string
}

// nginx's defaults of the client settings.
const (
	defaultClientTimeout     = 60 * time.Second
	defaultKeepaliveRequests = 1000
	defaultKeepaliveTime     = time.Hour
	defaultBodyBuffer        = 16 << 10
	defaultBodyTempPath      = "client_body_temp"
)

// clientConf is one level's client settings.
type clientConf struct {
	headerTimeout     setting[time.Duration]
	bodyTimeout       setting[time.Duration]
	sendTimeout       setting[time.Duration]
	keepaliveRequests setting[int]
	keepaliveTime     setting[time.Duration]
	limitRate         setting[int64]
	limitRateAfter    setting[int64]
	requestBuffering  setting[bool]
	bodyBuffer        setting[int64]
	bodyTempPath      setting[string]
}

func (c *clientConf) inherit(parent *clientConf) {
	c.headerTimeout.inherit(parent.headerTimeout)
	c.bodyTimeout.inherit(parent.bodyTimeout)
	c.sendTimeout.inherit(parent.sendTimeout)
	c.keepaliveRequests.inherit(parent.keepaliveRequests)
	c.keepaliveTime.inherit(parent.keepaliveTime)
	c.limitRate.inherit(parent.limitRate)
	c.limitRateAfter.inherit(parent.limitRateAfter)
	c.requestBuffering.inherit(parent.requestBuffering)
	c.bodyBuffer.inherit(parent.bodyBuffer)
	c.bodyTempPath.inherit(parent.bodyTempPath)
}

func (c *clientConf) effective() ClientSettings {
	return ClientSettings{
		HeaderTimeout:     c.headerTimeout.or(defaultClientTimeout),
		BodyTimeout:       c.bodyTimeout.or(defaultClientTimeout),
		SendTimeout:       c.sendTimeout.or(defaultClientTimeout),
		KeepaliveRequests: c.keepaliveRequests.or(defaultKeepaliveRequests),
		KeepaliveTime:     c.keepaliveTime.or(defaultKeepaliveTime),
		LimitRate:         c.limitRate.or(0),
		LimitRateAfter:    c.limitRateAfter.or(0),
		RequestBuffering:  c.requestBuffering.or(true),
		BodyBufferSize:    c.bodyBuffer.or(defaultBodyBuffer),
		// The default is set, unset, at the http level (build.go), since
		// it depends on the prefix.
		BodyTempPath: c.bodyTempPath.v,
	}
}

// clientSlot names a field of the level's client settings, for the
// slot handlers.
func clientSlot[T any](field func(*clientConf) *setting[T]) func(*proxyConf) *setting[T] {
	return func(p *proxyConf) *setting[T] { return field(&p.client) }
}

// clientBodyTempPath handles `client_body_temp_path PATH [LEVEL1 [LEVEL2
// [LEVEL3]]]`: a relative PATH is under the prefix, and each level is 1
// or 2 digits as ngx_conf_set_path_slot requires.
func (b *builder) clientBodyTempPath(d *Directive, s *scope) error {
	f := &s.proxy.client.bodyTempPath
	if f.set {
		return d.duplicate()
	}
	for _, lv := range d.Args[1:] {
		if n, ok := parseInt(lv); !ok || n < 1 || n > 2 {
			return d.invalidValue()
		}
	}
	path := d.Args[0]
	if !filepath.IsAbs(path) {
		path = filepath.Join(b.prefix, path)
	}
	*f = setting[string]{v: path, set: true}
	return nil
}
