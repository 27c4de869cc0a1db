// Package h2srv serves HTTP/2 client connections for limpet with
// golang.org/x/net/http2's server, configured as nginx's ngx_http_v2_module
// is. It implements h1srv.HTTP2Server: h1srv hands it the connections
// that chose "h2" by ALPN and, on a plain listener with `http2 on`, those
// that open with the HTTP/2 connection preface (prior knowledge).
//
// # What maps to what
//
// nginx's settings become x/net's as follows (Config holds them):
//
//   - http2_max_concurrent_streams (128): SETTINGS_MAX_CONCURRENT_STREAMS,
//     and so the most handler goroutines a connection runs at once;
//   - http2_recv_buffer_size (256k), nginx's per-worker read buffer: the
//     connection's flow-control window (the most request-body bytes a
//     client may send that limpet has not yet read) and the largest frame
//     limpet reads (SETTINGS_MAX_FRAME_SIZE, kept within HTTP/2's 16k..16M);
//   - http2_body_preread_size (64k): each stream's initial window;
//   - large_client_header_buffers (4 8k): the header list's size bound
//     (SETTINGS_MAX_HEADER_LIST_SIZE, number × size, as nginx's
//     header_limit; x/net adds 320 bytes for HTTP/2's 32 per field), past
//     which a request gets 431;
//   - keepalive_timeout (75s): IdleTimeout, after which a connection with
//     no open stream is sent GOAWAY;
//   - client_header_timeout (60s): ReadIdleTimeout, after which a silent
//     connection is pinged (and closed when the ping is not answered in
//     PingTimeout, 15s), so a dead peer does not hold its streams; x/net
//     waits 10s for the client's preface;
//   - send_timeout (60s): WriteByteTimeout, the longest a write may make
//     no progress, as nginx's send_timeout is the time between two writes;
//   - keepalive_requests (1000) and keepalive_time (1h): the stream that
//     reaches either is the connection's last (GOAWAY), and
//     keepalive_timeout 0 makes every connection serve one stream, as in
//     nginx.
//
// # The HTTP/2 attacks
//
// The limits that stop the known attacks are x/net's, with the values
// above: rapid reset (CVE-2023-44487) — a connection runs at most
// MaxConcurrentStreams handlers, streams reset before their handler
// started wait in a queue of 4× that, and a client that overflows the
// queue gets GOAWAY ENHANCE_YOUR_CALM; CONTINUATION floods
// (CVE-2023-45288) — a header block's CONTINUATION frames are counted
// against the header list bound as they arrive, and the connection is
// closed when it is passed; HPACK bombs — the decoder's table is
// MaxDecoderHeaderTableSize (4k) and decoded fields are counted against
// the header list bound, so a few bytes that expand to a large list are
// answered 431; stream floods — streams beyond MaxConcurrentStreams are
// refused, and control frames queued for a client that does not read
// (PING and SETTINGS floods) are bounded. The tests in this package attack
// a real server with x/net's Framer to show each.
package h2srv

import (
	"cmp"
	"context"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/limpet-lb/limpet/internal/errpage"
)

// nginx's defaults.
const (
	// DefaultMaxConcurrentStreams is http2_max_concurrent_streams' default.
	DefaultMaxConcurrentStreams = 128
	// DefaultRecvBufferSize is http2_recv_buffer_size's default.
	DefaultRecvBufferSize = 256 << 10
	// DefaultBodyPrereadSize is http2_body_preread_size's default.
	DefaultBodyPrereadSize = 64 << 10
	// DefaultMaxHeaderListSize is large_client_header_buffers' default,
	// 4 buffers of 8k.
	DefaultMaxHeaderListSize = 4 * 8 << 10
	// DefaultMaxRequests is keepalive_requests' default.
	DefaultMaxRequests = 1000
	// DefaultMaxAge is keepalive_time's default.
	DefaultMaxAge = time.Hour
)

// HTTP/2's bounds on SETTINGS_MAX_FRAME_SIZE (RFC 9113 section 6.5.2) and
// on a flow-control window (section 6.9.1).
const (
	minFrameSize = 16 << 10
	maxFrameSize = 1<<24 - 1
	minWindow    = 65535
	maxWindow    = 1<<31 - 1
)

// Config is how HTTP/2 connections are served: nginx's settings (see the
// package comment for what each becomes). Zero values mean nginx's
// defaults, except the timeouts, where 0 means none.
type Config struct {
	// MaxConcurrentStreams is http2_max_concurrent_streams (128).
	MaxConcurrentStreams int
	// RecvBufferSize is http2_recv_buffer_size in bytes (256k).
	RecvBufferSize int
	// BodyPrereadSize is http2_body_preread_size in bytes (64k).
	BodyPrereadSize int
	// MaxHeaderListSize bounds a request's header list in bytes:
	// large_client_header_buffers' number × size (32k).
	MaxHeaderListSize int
	// IdleTimeout is keepalive_timeout: how long a connection without
	// open streams stays open.
	IdleTimeout time.Duration
	// ReadIdleTimeout is client_header_timeout: how long a connection may
	// send nothing before it is pinged.
	ReadIdleTimeout time.Duration
	// WriteTimeout is send_timeout: the longest a write to the client
	// may make no progress.
	WriteTimeout time.Duration
	// MaxRequests is keepalive_requests (1000): after this many streams
	// the connection is sent GOAWAY, and serves no more; 1 is what
	// keepalive_timeout 0 means on HTTP/2 in nginx.
	MaxRequests int
	// MaxAge is keepalive_time (1h): a stream that begins later than
	// this after the connection's start is the connection's last.
	MaxAge time.Duration
	// ErrorLog receives x/net's connection errors; nil means the log
	// package's standard logger.
	ErrorLog *log.Logger
}

// Server serves HTTP/2 connections with one Config. It is safe for
// concurrent use; a reload makes a new one (connections keep the Server
// they began with, as nginx's old workers keep theirs).
type Server struct {
	h2          *http2.Server
	maxRequests int64
	maxAge      time.Duration
	// base is the http.Server x/net reads its HTTP/1 settings from
	// (MaxHeaderBytes, ErrorLog) and whose Shutdown makes x/net send
	// GOAWAY on every connection of h2 (http2.ConfigureServer).
	base *http.Server

	// mu guards conns, the connections being served, for Close.
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// New returns a Server for c.
func New(c Config) *Server {
	streams := orDefault(c.MaxConcurrentStreams, DefaultMaxConcurrentStreams)
	recv := orDefault(c.RecvBufferSize, DefaultRecvBufferSize)
	preread := orDefault(c.BodyPrereadSize, DefaultBodyPrereadSize)
	hdr := orDefault(c.MaxHeaderListSize, DefaultMaxHeaderListSize)
	h2 := &http2.Server{
		MaxConcurrentStreams:         uint32(streams),
		MaxReadFrameSize:             uint32(clamp(recv, minFrameSize, maxFrameSize)),
		MaxUploadBufferPerConnection: int32(clamp(recv, minWindow, maxWindow)),
		// x/net treats 0 as "its default"; nginx allows a preread
		// size of 0 (no body before the handler asks): the smallest
		// window x/net takes is 1 byte.
		MaxUploadBufferPerStream: int32(clamp(max(preread, 1), 1, maxWindow)),
		IdleTimeout:              c.IdleTimeout,
		ReadIdleTimeout:          c.ReadIdleTimeout,
		WriteByteTimeout:         c.WriteTimeout,
	}
	base := &http.Server{
		MaxHeaderBytes: hdr,
		ErrorLog:       c.ErrorLog,
		// x/net copies IdleTimeout from here when its own is 0; keep
		// "no timeout" meaning none.
		IdleTimeout: c.IdleTimeout,
	}
	// ConfigureServer only registers h2 with base (for GOAWAY on
	// Shutdown) and fills base.TLSConfig's NextProtos, which nothing
	// uses: base never serves a listener.
	if err := http2.ConfigureServer(base, h2); err != nil {
		panic("h2srv: " + err.Error()) // only for a nil server
	}
	return &Server{
		h2: h2, base: base, conns: make(map[net.Conn]struct{}),
		maxRequests: int64(orDefault(c.MaxRequests, DefaultMaxRequests)),
		maxAge:      cmp.Or(c.MaxAge, DefaultMaxAge),
	}
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

func clamp(v, lo, hi int) int {
	return min(max(v, lo), hi)
}

// ServeConn serves the HTTP/2 connection c, calling h for each stream,
// until the connection ends. c's reads must begin with the client's
// connection preface.
func (s *Server) ServeConn(c net.Conn, h http.Handler) {
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	s.h2.ServeConn(c, &http2.ServeConnOpts{
		Context:    context.Background(),
		BaseConfig: s.base,
		Handler:    &guard{h: h, s: s, start: time.Now()},
	})
}

// Shutdown sends GOAWAY on every connection being served, so that clients
// open no more streams; each connection closes once its streams are done.
// It does not wait.
func (s *Server) Shutdown() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// With no listener and no HTTP/1 connection of its own, base's
	// Shutdown only runs the GOAWAY hook x/net registered.
	_ = s.base.Shutdown(ctx)
}

// Close closes every connection being served at once.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.Close()
	}
}

// guard is one connection's handler. It answers, before the handler
// sees them, the requests nginx refuses on HTTP/2 as on HTTP/1: CONNECT
// and TRACE (405), and a request with neither :authority nor Host (400,
// "client sent ... request without Host header"); and it makes the
// connection's last stream, by keepalive_requests or keepalive_time, say
// "Connection: close", which x/net turns into GOAWAY (and does not send).
type guard struct {
	h     http.Handler
	s     *Server
	start time.Time
	n     atomic.Int64 // streams so far
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if n := g.n.Add(1); n >= g.s.maxRequests || time.Since(g.start) > g.s.maxAge {
		w.Header()["Connection"] = []string{"close"}
	}
	switch {
	case r.Method == http.MethodConnect || r.Method == http.MethodTrace:
		errpage.Write(w, http.StatusMethodNotAllowed)
	case r.Host == "":
		errpage.Write(w, http.StatusBadRequest)
	default:
		g.h.ServeHTTP(w, r)
	}
}
