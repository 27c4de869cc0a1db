package h2srv

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// serve runs s on a loopback listener with handler h until the test ends.
func serve(t *testing.T, s *Server, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.ServeConn(c, h)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// attacker is a raw HTTP/2 client: x/net's Framer on a TCP connection,
// with the frames the server sends read by a goroutine of its own.
type attacker struct {
	t      *testing.T
	c      net.Conn
	fr     *http2.Framer
	enc    *hpack.Encoder
	hbuf   bytes.Buffer
	frames chan http2.Frame // closed when the connection ends
	// seen holds the outcome of the streams status has read past
	// while waiting for another.
	seen map[uint32]string
	away *http2.GoAwayFrame // the GOAWAY status read past
}

// attack opens a connection, sends the preface and empty SETTINGS, and
// waits for the server's SETTINGS, which it acknowledges.
func attack(t *testing.T, addr string) *attacker {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	// Every test ends within this, whatever the server does.
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	a := &attacker{t: t, c: c, fr: http2.NewFramer(c, c), frames: make(chan http2.Frame, 1024), seen: make(map[uint32]string)}
	a.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	a.fr.MaxHeaderListSize = 1 << 20
	a.enc = hpack.NewEncoder(&a.hbuf)
	t.Cleanup(func() { _ = c.Close() })
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	// Windows wide enough for every response of a test: the reader
	// goroutine sends nothing back (the Framer's writes are the test's).
	if err := a.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	if err := a.fr.WriteWindowUpdate(0, 1<<30); err != nil {
		t.Fatal(err)
	}
	f, err := a.fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
		t.Fatalf("first frame from the server is %v, want SETTINGS", f)
	}
	if err := a.fr.WriteSettingsAck(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(a.frames)
		for {
			f, err := a.fr.ReadFrame()
			if err != nil {
				return
			}
			// ReadFrame's frame is valid until the next call: keep
			// only what the tests look at.
			switch f := f.(type) {
			case *http2.MetaHeadersFrame, *http2.RSTStreamFrame, *http2.GoAwayFrame:
				a.frames <- f
			}
		}
	}()
	return a
}

// block encodes a request's header block: GET /, then extra fields.
func (a *attacker) block(extra ...hpack.HeaderField) []byte {
	a.hbuf.Reset()
	for _, f := range append([]hpack.HeaderField{
		{Name: ":method", Value: "GET"},
		{Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: "example.com"},
		{Name: ":path", Value: "/"},
	}, extra...) {
		_ = a.enc.WriteField(f)
	}
	return bytes.Clone(a.hbuf.Bytes())
}

// request sends a whole GET on stream id.
func (a *attacker) request(id uint32, extra ...hpack.HeaderField) error {
	return a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: a.block(extra...), EndStream: true, EndHeaders: true})
}

// goAway waits for the server's GOAWAY, or the connection's end (nil).
func (a *attacker) goAway() *http2.GoAwayFrame {
	if a.away != nil {
		return a.away
	}
	for f := range a.frames {
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			return ga
		}
	}
	return nil
}

// status waits for the response headers of stream id and returns their
// :status, or "RST_STREAM CODE" if the stream was reset.
func (a *attacker) status(id uint32) string {
	if st, ok := a.seen[id]; ok {
		return st
	}
	for f := range a.frames {
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			a.seen[f.StreamID] = f.PseudoValue("status")
		case *http2.RSTStreamFrame:
			a.seen[f.StreamID] = "RST_STREAM " + f.ErrCode.String()
		case *http2.GoAwayFrame:
			// Streams up to its LastStreamID may still be answered.
			a.away = f
		}
		if st, ok := a.seen[id]; ok {
			return st
		}
	}
	return "connection closed"
}

// gauge counts handlers running, remembering the most at once and the
// most goroutines the process had while one ran.
type gauge struct {
	cur, peak, goroutines atomic.Int64
	calls                 atomic.Int64
}

func (g *gauge) enter() {
	g.calls.Add(1)
	n := g.cur.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	ng := int64(runtime.NumGoroutine())
	for p := g.goroutines.Load(); ng > p && !g.goroutines.CompareAndSwap(p, ng); p = g.goroutines.Load() {
	}
}

func (g *gauge) leave() { g.cur.Add(-1) }

// TestRapidReset: a client that opens streams and resets them at once
// (CVE-2023-44487) cannot make the server run more handlers at a time
// than the stream limit, even when the handlers ignore the reset (an
// upstream request that takes its time), nor more goroutines than those;
// when it goes on, it is sent GOAWAY ENHANCE_YOUR_CALM.
func TestRapidReset(t *testing.T) {
	const limit = 16
	var g gauge
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.enter()
		defer g.leave()
		<-release
	})
	addr := serve(t, New(Config{MaxConcurrentStreams: limit}), h)
	base := int64(runtime.NumGoroutine())
	a := attack(t, addr)
	const streams = 10000
	var sent int
	for id := uint32(1); sent < streams; id += 2 {
		if err := a.request(id); err != nil {
			break // the server closed the connection
		}
		if err := a.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
			break
		}
		sent++
	}
	ga := a.goAway()
	close(release)
	if ga == nil || ga.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Errorf("after %d reset streams the server sent %v, want GOAWAY ENHANCE_YOUR_CALM", sent, ga)
	}
	if p := g.peak.Load(); p > limit {
		t.Errorf("%d handlers ran at once, want at most %d", p, limit)
	}
	if g.calls.Load() == 0 {
		t.Error("no handler ran")
	}
	// The goroutines a connection may have: its handlers, its serve and
	// reader goroutines, a frame writer and timers; a handful more for
	// the test's own.
	if n := g.goroutines.Load(); n > base+limit+16 {
		t.Errorf("%d goroutines while under attack (%d before), want at most %d", n, base, base+limit+16)
	}
	t.Logf("%d streams opened and reset; %d handlers ran, %d at most at once; peak %d goroutines (%d before)",
		sent, g.calls.Load(), g.peak.Load(), g.goroutines.Load(), base)
}

// TestStreamFlood: streams beyond http2_max_concurrent_streams are
// refused, and no more handlers run than the limit.
func TestStreamFlood(t *testing.T) {
	const limit = 8
	var g gauge
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.enter()
		defer g.leave()
		<-release
	})
	addr := serve(t, New(Config{MaxConcurrentStreams: limit}), h)
	a := attack(t, addr)
	const streams = 3 * limit
	for i := range streams {
		if err := a.request(uint32(2*i + 1)); err != nil {
			t.Fatal(err)
		}
	}
	refused := 0
	for refused < streams-limit {
		f, ok := <-a.frames
		if !ok {
			t.Fatalf("connection closed after %d refused streams", refused)
		}
		rst, isRST := f.(*http2.RSTStreamFrame)
		if !isRST {
			t.Fatalf("got %v, want RST_STREAM for the streams past the limit", f)
		}
		if rst.StreamID <= 2*limit {
			t.Errorf("stream %d, within the limit, was reset", rst.StreamID)
		}
		refused++
	}
	close(release)
	for i := range limit {
		if st := a.status(uint32(2*i + 1)); st != "200" {
			t.Errorf("stream %d: %s, want 200", 2*i+1, st)
		}
	}
	if p := g.peak.Load(); p != limit {
		t.Errorf("%d handlers ran at once, want %d", p, limit)
	}
}

// TestContinuationFlood: a header block that never ends, sent as endless
// CONTINUATION frames (CVE-2023-45288), is read no further than about the
// header list limit before the server closes the connection.
func TestContinuationFlood(t *testing.T) {
	const listLimit = 16 << 10
	var g gauge
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { g.enter(); g.leave() })
	addr := serve(t, New(Config{MaxHeaderListSize: listLimit}), h)
	a := attack(t, addr)
	if err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: a.block(), EndStream: true}); err != nil {
		t.Fatal(err)
	}
	// Each CONTINUATION holds one new 1000-byte field.
	value := strings.Repeat("v", 1000)
	const budget = 64 << 20 // what the flood would send unchecked
	sent := 0
	for i := 0; sent < budget; i++ {
		a.hbuf.Reset()
		_ = a.enc.WriteField(hpack.HeaderField{Name: "x-flood-" + strconv.Itoa(i), Value: value, Sensitive: true})
		frag := a.hbuf.Bytes()
		if err := a.fr.WriteContinuation(1, false, frag); err != nil {
			break
		}
		sent += len(frag)
	}
	if sent >= budget {
		t.Fatalf("the server read %d bytes of one header block", sent)
	}
	// The server stopped reading: whatever it said last, it is not a
	// response, and the handler never ran.
	ga := a.goAway()
	if ga != nil && ga.ErrCode == http2.ErrCodeNo {
		t.Errorf("GOAWAY %v, want an error code", ga.ErrCode)
	}
	if g.calls.Load() != 0 {
		t.Error("the handler ran for the flooding stream")
	}
	// The kernel's socket buffers hold some of what was sent unread.
	if sent > 16<<20 {
		t.Errorf("%d bytes of one header block were taken in, want about %d", sent, listLimit)
	}
	t.Logf("the flood stopped after %d bytes; GOAWAY %v", sent, ga)
}

// TestHPACKBomb: a small header block whose fields refer again and again
// to one large entry of the decoder's table expands past the header list
// limit: the request is answered 431 without its handler, and the next
// request on the connection is served.
func TestHPACKBomb(t *testing.T) {
	var g gauge
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { g.enter(); g.leave() })
	addr := serve(t, New(Config{}), h)
	a := attack(t, addr)
	a.hbuf.Reset()
	for _, f := range []hpack.HeaderField{
		{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: "example.com"}, {Name: ":path", Value: "/"},
	} {
		_ = a.enc.WriteField(f)
	}
	// One 3000-byte entry in the table, then 2000 one-byte references:
	// 6 MB of header list from a 5 KB block.
	big := hpack.HeaderField{Name: "x-bomb", Value: strings.Repeat("b", 3000)}
	for range 2001 {
		_ = a.enc.WriteField(big)
	}
	blk := a.hbuf.Bytes()
	if len(blk) > 16<<10 {
		t.Fatalf("the bomb's block is %d bytes, want one frame", len(blk))
	}
	if err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk, EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if st := a.status(1); st != "431" {
		t.Fatalf("the bomb was answered %s, want 431", st)
	}
	if g.calls.Load() != 0 {
		t.Error("the handler ran for the bomb")
	}
	if err := a.request(3); err != nil {
		t.Fatal(err)
	}
	if st := a.status(3); st != "200" {
		t.Errorf("the request after the bomb: %s, want 200", st)
	}
}

// TestHeaderListLimit: the header list is bounded by
// large_client_header_buffers' number × size, as in nginx: a request
// within it is served, one past it answered 431.
func TestHeaderListLimit(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	addr := serve(t, New(Config{MaxHeaderListSize: 4 * 1024}), h)
	a := attack(t, addr)
	for i, tc := range []struct {
		size int
		want string
	}{
		{3000, "200"},
		{8000, "431"},
	} {
		id := uint32(2*i + 1)
		// Several fields: none alone passes the limit.
		var extra []hpack.HeaderField
		for j := 0; j*1000 < tc.size; j++ {
			extra = append(extra, hpack.HeaderField{Name: "x-f" + strconv.Itoa(j), Value: strings.Repeat("a", 1000), Sensitive: true})
		}
		if err := a.request(id, extra...); err != nil {
			t.Fatal(err)
		}
		if st := a.status(id); st != tc.want {
			t.Errorf("a %d-byte header list: %s, want %s", tc.size, st, tc.want)
		}
	}
}

// TestIdleTimeout: a connection without streams is sent GOAWAY after
// keepalive_timeout.
func TestIdleTimeout(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	addr := serve(t, New(Config{IdleTimeout: 50 * time.Millisecond}), h)
	a := attack(t, addr)
	if err := a.request(1); err != nil {
		t.Fatal(err)
	}
	if st := a.status(1); st != "200" {
		t.Fatalf("status %s", st)
	}
	start := time.Now()
	ga := a.goAway()
	if ga == nil || ga.ErrCode != http2.ErrCodeNo {
		t.Fatalf("got %v, want GOAWAY NO_ERROR", ga)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("GOAWAY after %v, before the idle timeout", d)
	}
}

// TestRefusedMethods: CONNECT and TRACE get 405 and a request without
// :authority or Host 400, as nginx answers them, without the handler.
func TestRefusedMethods(t *testing.T) {
	var g gauge
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { g.enter(); g.leave() })
	addr := serve(t, New(Config{}), h)
	a := attack(t, addr)
	enc := func(fields ...string) []byte {
		a.hbuf.Reset()
		for i := 0; i < len(fields); i += 2 {
			_ = a.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		return bytes.Clone(a.hbuf.Bytes())
	}
	for i, tc := range []struct {
		name  string
		block []byte
		want  string
	}{
		{"CONNECT", enc(":method", "CONNECT", ":authority", "example.com:443"), "405"},
		{"TRACE", enc(":method", "TRACE", ":scheme", "http", ":authority", "example.com", ":path", "/"), "405"},
		{"no host", enc(":method", "GET", ":scheme", "http", ":path", "/"), "400"},
	} {
		id := uint32(2*i + 1)
		if err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: tc.block, EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		if st := a.status(id); st != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, st, tc.want)
		}
	}
	if g.calls.Load() != 0 {
		t.Errorf("the handler ran %d times", g.calls.Load())
	}
}

// TestShutdown: Shutdown sends GOAWAY; the stream in flight finishes.
func TestShutdown(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	s := New(Config{})
	addr := serve(t, s, h)
	a := attack(t, addr)
	if err := a.request(1); err != nil {
		t.Fatal(err)
	}
	<-started
	s.Shutdown()
	var ga *http2.GoAwayFrame
	for f := range a.frames {
		if f, ok := f.(*http2.GoAwayFrame); ok {
			ga = f
			break
		}
	}
	if ga == nil || ga.ErrCode != http2.ErrCodeNo {
		t.Fatalf("got %v, want GOAWAY NO_ERROR", ga)
	}
	close(release)
	if st := a.status(1); st != "200" {
		t.Errorf("the stream in flight: %s, want 200", st)
	}
	if err := a.request(3); err == nil {
		if st := a.status(3); st == "200" {
			t.Error("a stream opened after GOAWAY was served")
		}
	} else if !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "broken pipe") && !strings.Contains(err.Error(), "reset") {
		t.Logf("write after GOAWAY: %v", err)
	}
}

// TestMaxRequests: the stream that reaches keepalive_requests is served
// and followed by GOAWAY NO_ERROR naming it as the last.
func TestMaxRequests(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	addr := serve(t, New(Config{MaxRequests: 2}), h)
	a := attack(t, addr)
	for _, id := range []uint32{1, 3} {
		if err := a.request(id); err != nil {
			t.Fatal(err)
		}
		if st := a.status(id); st != "200" {
			t.Fatalf("stream %d: %s", id, st)
		}
	}
	ga := a.goAway()
	if ga == nil || ga.ErrCode != http2.ErrCodeNo || ga.LastStreamID != 3 {
		t.Fatalf("got %v, want GOAWAY NO_ERROR after stream 3", ga)
	}
}
