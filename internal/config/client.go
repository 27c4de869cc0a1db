package config

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
