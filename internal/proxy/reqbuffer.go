package proxy

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
)

// This file is proxy_request_buffering on, nginx's default: the whole
// request body is read from the client before an upstream is chosen
// (ngx_http_read_client_request_body), in memory up to
// client_body_buffer_size and in a temporary file under
// client_body_temp_path beyond it. A slow upload then holds no upstream
// connection and no max_conns slot, a body that fails never reaches an
// upstream, and every attempt sends the whole body again from its start.

// bufferedBody is a request body read whole from the client. Its data
// never changes once read, so each attempt reads it through a view of its
// own, and a view a transport still reads after giving its attempt up
// (net/http's may, in its own goroutine, until it closes the body) reads
// the same bytes as the newer one. refs counts the exchange's hold and
// each view not yet closed; the memory goes back to its pool and the file
// is closed when the last lets go.
type bufferedBody struct {
	mem  []byte   // the body when it fit in client_body_buffer_size; from bodyPools when class >= 0
	file *os.File // the body when it did not; unnamed, so it leaves no trace
	size int64
	// class is the bodyPools index mem came from, -1 if none.
	class int8
	refs  atomic.Int32
	// first is the first attempt's view, kept here so the usual request
	// (one attempt) allocates nothing for its view.
	first bodyReader
}

// bodyPools hold the memory of buffered bodies by size class: 4k, 8k,
// ... 1M. A body buffer larger than that is allocated for its request
// alone.
var bodyPools [9]sync.Pool

const (
	minBodyClass = 12 // 4k
	maxBodyClass = minBodyClass + len(bodyPools) - 1
	// spillChunk is the least scratch memory used to copy a body to
	// its file, so that client_body_buffer_size 0 still copies in
	// pieces of a useful size.
	spillChunk = 16 << 10
)

// getBodyBuffer returns a buffer of at least n bytes and its pool class
// (-1: not pooled).
func getBodyBuffer(n int) ([]byte, int8) {
	shift := max(minBodyClass, bits.Len(uint(max(n, 1)-1)))
	if shift > maxBodyClass {
		return make([]byte, n), -1
	}
	c := shift - minBodyClass
	if p, ok := bodyPools[c].Get().(*[]byte); ok {
		return *p, int8(c)
	}
	return make([]byte, 1<<shift), int8(c)
}

func putBodyBuffer(b []byte, class int8) {
	if class >= 0 {
		b = b[:cap(b)]
		bodyPools[class].Put(&b)
	}
}

// errBodyFile is a failure to keep a body in its temporary file:
// limpet's fault (500), not the client's.
var errBodyFile = errors.New("client body temporary file")

// read reads the whole of src, whose length is length (-1: unknown,
// chunked), keeping up to limit bytes in memory and the rest in a file
// in dir. An error reading src is the client's (its clientBody records
// why); one wrapping errBodyFile is the file's.
func (b *bufferedBody) read(src io.Reader, length, limit int64, dir string) error {
	b.refs.Store(1)
	b.class = -1
	need := limit
	if length >= 0 && length <= limit {
		need = length
	}
	buf, class := getBodyBuffer(int(max(need, spillChunk)))
	n, err := io.ReadFull(src, buf[:need])
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		// The end of a body shorter than the buffer, or a body cut
		// short, which src (a clientBody) recorded; the caller asks it.
		b.mem, b.class, b.size = buf[:n], class, int64(n)
		return nil
	case err != nil:
		putBodyBuffer(buf, class)
		return err
	case int64(n) == length:
		b.mem, b.class, b.size = buf[:n], class, int64(n)
		return nil
	}
	// More than fits in memory: to a file, as nginx writes the buffer
	// out when it is full, with the buffer as the copy's scratch.
	f, err := openBodyFile(dir)
	if err != nil {
		putBodyBuffer(buf, class)
		return err
	}
	b.file = f
	defer putBodyBuffer(buf, class)
	if _, err := f.Write(buf[:n]); err != nil {
		return fmt.Errorf("%w: writing: %w", errBodyFile, err)
	}
	// The plain Writer and Reader keep io.CopyBuffer from os.File's
	// ReadFrom, which would copy with buffers of its own.
	copied, err := io.CopyBuffer(struct{ io.Writer }{fileWriter{f}}, struct{ io.Reader }{src}, buf)
	b.size = int64(n) + copied
	return err
}

// fileWriter marks write errors as the file's, so a failed write is
// told from a failed read of the client in io.CopyBuffer's error.
type fileWriter struct{ f *os.File }

func (w fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		err = fmt.Errorf("%w: writing: %w", errBodyFile, err)
	}
	return n, err
}

// view returns a reader of the whole body from its first byte, for one
// attempt; the transport closes it.
func (b *bufferedBody) view() *bodyReader {
	b.refs.Add(1)
	r := &b.first
	if r.b != nil {
		r = new(bodyReader)
	}
	r.b = b
	return r
}

// release lets go of one hold on the body.
func (b *bufferedBody) release() {
	if b.refs.Add(-1) != 0 {
		return
	}
	if b.mem != nil {
		putBodyBuffer(b.mem, b.class)
		b.mem = nil
	}
	if b.file != nil {
		_ = b.file.Close()
		b.file = nil
	}
}

// bodyReader is one attempt's reader of a bufferedBody.
type bodyReader struct {
	b      *bufferedBody
	off    int64
	closed atomic.Bool
}

func (r *bodyReader) Read(p []byte) (int, error) {
	b := r.b
	if r.off >= b.size {
		return 0, io.EOF
	}
	if b.file == nil {
		n := copy(p, b.mem[r.off:])
		r.off += int64(n)
		return n, nil
	}
	if rest := b.size - r.off; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := b.file.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && r.off < b.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Close lets go of the view's hold on the body, once.
func (r *bodyReader) Close() error {
	if r.closed.CompareAndSwap(false, true) {
		r.b.release()
	}
	return nil
}

// openUnlinked makes a named temporary file in dir and unlinks it at
// once, for systems and file systems without unnamed files.
func openUnlinked(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, "body")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBodyFile, err)
	}
	_ = os.Remove(f.Name())
	return f, nil
}

// bufferBody reads the client's whole body before any upstream is chosen
// and reports whether the request goes on; if not, it has been answered:
// 400, 408 or 413 for the client's failure, 500 for the file's. The body
// goes upstream with its length, as nginx sends a buffered chunked body.
func (x *exchange) bufferBody(w *responseWriter) bool {
	c := &x.l.cfg.Proxy.Client
	err := x.body.read(x.client, x.r.ContentLength, c.BodyBufferSize, c.BodyTempPath)
	if f, ok := x.client.failure(); ok {
		x.fail(w, f.status)
		return false
	}
	if err != nil {
		x.h.errorLog.Error("buffering the client request body", slog.String("error", err.Error()),
			slog.String("client", x.vr.Remote.Addr().String()), slog.String("request", x.r.Method+" "+x.r.RequestURI))
		x.fail(w, http.StatusInternalServerError)
		return false
	}
	x.out.ContentLength = x.body.size
	if x.body.size == 0 {
		x.out.Body = nil
	}
	return true
}
