package h1srv

import (
	"io"
	"net/http"
	"time"
)

var _ io.ReaderFrom = (*response)(nil)

// ReadFrom sends what src holds as body bytes. A body whose length the
// handler declared (Content-Length), on a connection that can take a
// reader itself (*net.TCPConn), goes there once the header block is
// flushed: for a file, an *os.File or an *io.LimitedReader of one (what
// http.ServeContent hands over), that is the kernel's sendfile(2), with
// no copy through limpet's buffers. Anything else is copied through
// Write.
func (w *response) ReadFrom(src io.Reader) (int64, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	rf, ok := w.c.rwc.(io.ReaderFrom)
	if !ok || w.isHEAD || w.contentLength < 0 || w.chunked || !bodyAllowed(w.status) || w.werr != nil || len(w.pending) > 0 {
		return io.Copy(writerOnly{w}, src)
	}
	w.sendHeader()
	err := w.c.bw.Flush()
	w.c.wnow = time.Time{}
	if err != nil {
		w.flushErr(err)
		return 0, err
	}
	// The kernel writes rwc itself: a write deadline the handler set
	// since the last write must be in place first, and one it sets
	// while the kernel writes must reach the write.
	w.c.beginRawWrite()
	left := w.contentLength - w.written
	// One LimitedReader only: the kernel path looks through one.
	lr, isLimited := src.(*io.LimitedReader)
	if !isLimited || lr.N > left {
		lr = &io.LimitedReader{R: src, N: left}
	}
	n, err := rf.ReadFrom(lr)
	w.c.endRawWrite()
	w.written += n
	if err != nil {
		w.flushErr(err)
	}
	return n, err
}

// writerOnly hides a ReadFrom, so io.Copy uses Write and a buffer.
type writerOnly struct{ io.Writer }
