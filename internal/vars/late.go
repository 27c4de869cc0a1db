package vars

import (
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"
)

// This file holds the variables whose values come from the response and
// the connection rather than the request line and header: $status,
// $request_time, $upstream_*, $request_id, the times, and limpet's
// $sticky_reason. They are what access logs are made of; where the
// response is not known yet (add_header runs as the header goes out)
// they show what is known so far, as in nginx.

// Response is what a request's variables know beside the request: the
// proxy keeps one per request, next to its Request, and fills it as the
// request is served.
type Response struct {
	// Start is when the request began ($request_time, $msec counts from
	// it).
	Start time.Time
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// End is when the response ended, zero until then. Once it is set
	// (for the access log), $request_time, $msec and the times read it,
	// not the clock: one reading for the whole line, as nginx's log
	// phase reads its cached time.
	End time.Time
	// Status is the status sent ($status); 0 before.
	Status int
	// BodyBytes is the response body bytes sent ($body_bytes_sent) and
	// HeaderBytes an estimate of the status line and header sent
	// ($bytes_sent is their sum).
	BodyBytes   int64
	HeaderBytes int64
	// Upstream gives the attempts made to upstream servers ($upstream_*);
	// nil when the request was not proxied.
	Upstream Upstreams
	// Header is the response's header as it goes to the client
	// ($sent_http_NAME), and UpstreamHeader the header of the response
	// the last attempt received ($upstream_http_NAME); nil when none.
	Header, UpstreamHeader http.Header
	// Sticky is the persistence decision's label ($sticky_reason), ""
	// when the upstream has no persistence.
	Sticky string
	// Completed says the response was sent whole ($request_completion).
	Completed bool
	// id is $request_id's 16 random bytes, made on first use.
	id    [16]byte
	idSet bool
}

// Conn is what a client connection tells of itself ($connection,
// $connection_requests). The server stores it in each request's context
// under ConnContextKey.
type Conn interface {
	// Serial is the connection's number, unique in the process.
	Serial() uint64
	// Requests is the number of requests the connection has read, the
	// current one included.
	Requests() int
	// Start is when the connection was accepted.
	Start() time.Time
}

// ConnContextKey is the context key of a request's Conn.
var ConnContextKey = &contextKey{"limpet connection"}

// contextKey is a context key of this package, named for debugging.
type contextKey struct{ name string }

func (k *contextKey) String() string { return "vars context key " + k.name }

// Upstreams lists the attempts of a proxied request, in order.
type Upstreams interface {
	// Attempts is the number of attempts made.
	Attempts() int
	// Attempt returns attempt i, 0 <= i < Attempts().
	Attempt(i int) UpstreamAttempt
}

// UpstreamRedirects is implemented by Upstreams whose attempts span
// internal redirects: RedirectBefore reports whether an internal redirect
// came before attempt i, which the variables then separate with " : "
// instead of ", ", as nginx's $upstream_addr does.
type UpstreamRedirects interface {
	RedirectBefore(i int) bool
}

// UpstreamAttempt is one attempt as the $upstream_* variables show it.
type UpstreamAttempt struct {
	// Addr is the server's address.
	Addr string
	// Status is the status the server answered, 0 when it did not.
	Status int
	// ConnectTime is the time spent connecting (0 on a pooled
	// connection), HeaderTime until the response header arrived and
	// ResponseTime until the attempt ended; ConnectTime and HeaderTime
	// are negative when unknown or when it did not happen.
	ConnectTime, HeaderTime, ResponseTime time.Duration
}

// Kinds of the late variables, numbered apart from the others so that
// both lists may grow without touching each other.
const (
	kStatus kind = 128 + iota
	kBodyBytesSent
	kBytesSent
	kRequestTime
	kUpstreamAddr
	kUpstreamStatus
	kUpstreamResponseTime
	kUpstreamHeaderTime
	kRequestID
	kConnection
	kConnectionRequests
	kStickyReason
	kMsec
	kTimeLocal
	kTimeISO8601
	kPid
	kHostname
	kNginxVersion
	kRequestCompletion
	kRemoteUser
	kRequest
	kRequestLength
	kUpstreamConnectTime
	kGzipRatio
	kConnectionTime
	kSentHTTP     // $sent_http_NAME; text is the canonical header key
	kUpstreamHTTP // $upstream_http_NAME; text is the canonical header key

	kLateEnd // the first kind after this file's (ssl.go's start at 200)
)

// isLate reports a kind of this file's.
func isLate(k kind) bool { return k >= kStatus && k < kLateEnd }

// NginxVersion is what $nginx_version says: the nginx release whose
// behaviour limpet follows for the directives it shares.
const NginxVersion = "1.27.0"

var (
	pid      = strconv.Itoa(os.Getpid())
	hostname = func() string {
		h, err := os.Hostname()
		if err != nil {
			return "localhost"
		}
		return h
	}()
)

func init() {
	for name, k := range map[string]kind{
		"status":                 kStatus,
		"body_bytes_sent":        kBodyBytesSent,
		"bytes_sent":             kBytesSent,
		"request_time":           kRequestTime,
		"upstream_addr":          kUpstreamAddr,
		"upstream_status":        kUpstreamStatus,
		"upstream_response_time": kUpstreamResponseTime,
		"upstream_header_time":   kUpstreamHeaderTime,
		"request_id":             kRequestID,
		"connection":             kConnection,
		"connection_requests":    kConnectionRequests,
		"sticky_reason":          kStickyReason,
		"msec":                   kMsec,
		"time_local":             kTimeLocal,
		"time_iso8601":           kTimeISO8601,
		"pid":                    kPid,
		"hostname":               kHostname,
		"nginx_version":          kNginxVersion,
		"request_completion":     kRequestCompletion,
		"remote_user":            kRemoteUser,
		"request":                kRequest,
		"request_length":         kRequestLength,
		"upstream_connect_time":  kUpstreamConnectTime,
		"gzip_ratio":             kGzipRatio,
		"connection_time":        kConnectionTime,
	} {
		simple[name] = k
	}
}

// resolveLate resolves the names of the header families of the response:
// $sent_http_NAME and $upstream_http_NAME.
func resolveLate(lower string) (segment, bool) {
	for prefix, k := range map[string]kind{"sent_http_": kSentHTTP, "upstream_http_": kUpstreamHTTP} {
		if arg, ok := strings.CutPrefix(lower, prefix); ok && arg != "" {
			return segment{kind: k, text: textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(arg, "_", "-"))}, true
		}
	}
	return segment{}, false
}

// appendHeader appends the lines of a header field joined with ", ", as
// nginx's ngx_http_variable_unknown_header does; false when there are
// none.
func appendHeader(dst []byte, h http.Header, key string) ([]byte, bool) {
	vals := h[key]
	if len(vals) == 0 {
		return dst, false
	}
	for i, v := range vals {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, v...)
	}
	return dst, true
}

// now is the response's clock.
func (p *Response) now() time.Time {
	if !p.End.IsZero() {
		return p.End
	}
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// RequestID returns $request_id: 32 hexadecimal digits of randomness,
// made once per request (nginx's 16 random bytes).
func (p *Response) RequestID() string {
	return string(p.appendID(nil))
}

func (p *Response) appendID(dst []byte) []byte {
	if !p.idSet {
		a, b := rand.Uint64(), rand.Uint64()
		for i := range 8 {
			p.id[i], p.id[8+i] = byte(a>>(8*i)), byte(b>>(8*i))
		}
		p.idSet = true
	}
	return hex.AppendEncode(dst, p.id[:])
}

// appendLate appends the value of a late variable; found is false where
// nginx's variable is "not found" (an access log writes "-" for it).
func appendLate(dst []byte, seg *segment, r *Request) (out []byte, found bool) {
	k := seg.kind
	switch k {
	case kPid:
		return append(dst, pid...), true
	case kHostname:
		return append(dst, hostname...), true
	case kNginxVersion:
		return append(dst, NginxVersion...), true
	case kRemoteUser:
		// The user name of a Basic authorization, whether or not
		// auth_basic checked it (nginx's $remote_user).
		if r.R == nil {
			return dst, false
		}
		u, _, ok := r.R.BasicAuth()
		if !ok || u == "" {
			return dst, false
		}
		return append(dst, u...), true
	case kRequest:
		if r.R == nil {
			return dst, false
		}
		dst = append(dst, r.R.Method...)
		dst = append(dst, ' ')
		dst = append(dst, requestURI(r.R)...)
		dst = append(dst, ' ')
		return append(dst, r.R.Proto...), true
	case kConnection, kConnectionRequests, kConnectionTime:
		if r.R == nil {
			return dst, false
		}
		c, ok := r.R.Context().Value(ConnContextKey).(Conn)
		if !ok {
			return dst, false
		}
		switch k {
		case kConnection:
			return strconv.AppendUint(dst, c.Serial(), 10), true
		case kConnectionTime:
			return AppendSeconds(dst, time.Since(c.Start())), true
		}
		return strconv.AppendInt(dst, int64(c.Requests()), 10), true
	case kRequestLength:
		if r.R == nil {
			return dst, false
		}
		return strconv.AppendInt(dst, requestLength(r), 10), true
	}
	p := r.Response
	if p == nil {
		switch k {
		case kMsec, kTimeLocal, kTimeISO8601:
			p = &Response{}
		default:
			return dst, false
		}
	}
	switch k {
	case kStatus:
		// nginx's "000" before a status is known.
		return appendStatus(dst, p.Status), true
	case kBodyBytesSent:
		return strconv.AppendInt(dst, p.BodyBytes, 10), true
	case kBytesSent:
		return strconv.AppendInt(dst, p.HeaderBytes+p.BodyBytes, 10), true
	case kRequestTime:
		d := time.Duration(0)
		if !p.Start.IsZero() {
			d = max(p.now().Sub(p.Start), 0)
		}
		return AppendSeconds(dst, d), true
	case kMsec:
		t := p.now()
		dst = strconv.AppendInt(dst, t.Unix(), 10)
		dst = append(dst, '.')
		ms := t.Nanosecond() / 1e6
		return append(dst, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10)), true
	case kTimeLocal:
		return p.now().AppendFormat(dst, "02/Jan/2006:15:04:05 -0700"), true
	case kTimeISO8601:
		return p.now().AppendFormat(dst, "2006-01-02T15:04:05-07:00"), true
	case kRequestID:
		return p.appendID(dst), true
	case kStickyReason:
		if p.Sticky == "" {
			return dst, false
		}
		return append(dst, p.Sticky...), true
	case kRequestCompletion:
		if p.Completed {
			return append(dst, "OK"...), true
		}
		return dst, true
	case kGzipRatio:
		return dst, false // limpet compresses nothing
	case kSentHTTP:
		return appendHeader(dst, p.Header, seg.text)
	case kUpstreamHTTP:
		return appendHeader(dst, p.UpstreamHeader, seg.text)
	}
	u := p.Upstream
	if u == nil || u.Attempts() == 0 {
		return dst, false
	}
	redirects, _ := u.(UpstreamRedirects)
	for i := range u.Attempts() {
		switch {
		case i == 0:
		case redirects != nil && redirects.RedirectBefore(i):
			dst = append(dst, " : "...)
		default:
			dst = append(dst, ", "...)
		}
		a := u.Attempt(i)
		switch k {
		case kUpstreamAddr:
			dst = append(dst, a.Addr...)
		case kUpstreamStatus:
			if a.Status == 0 {
				dst = append(dst, '-')
			} else {
				dst = strconv.AppendInt(dst, int64(a.Status), 10)
			}
		case kUpstreamResponseTime:
			dst = AppendSeconds(dst, a.ResponseTime)
		case kUpstreamHeaderTime:
			dst = appendKnownSeconds(dst, a.HeaderTime)
		case kUpstreamConnectTime:
			dst = appendKnownSeconds(dst, a.ConnectTime)
		}
	}
	return dst, true
}

// appendStatus appends a status code as three digits ("000" for none).
func appendStatus(dst []byte, code int) []byte {
	if code < 0 || code > 999 {
		return strconv.AppendInt(dst, int64(code), 10)
	}
	return append(dst, byte('0'+code/100), byte('0'+code/10%10), byte('0'+code%10))
}

// appendKnownSeconds is AppendSeconds, or "-" for a negative d.
func appendKnownSeconds(dst []byte, d time.Duration) []byte {
	if d < 0 {
		return append(dst, '-')
	}
	return AppendSeconds(dst, d)
}

// AppendSeconds appends d in seconds with millisecond resolution
// ("0.002"), as nginx writes $request_time and $upstream_response_time.
func AppendSeconds(dst []byte, d time.Duration) []byte {
	ms := d.Milliseconds()
	dst = strconv.AppendInt(dst, ms/1000, 10)
	ms %= 1000
	return append(dst, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
}

// Slot returns the slot of the configuration's variable name, false
// when the configuration does not define it: the proxy looks up the
// variables nginx lets `set` change its behaviour with ($limit_rate).
func (g *Registry) Slot(name string) (int, bool) {
	if g == nil {
		return 0, false
	}
	uv, ok := g.index[strings.ToLower(name)]
	if !ok {
		return 0, false
	}
	return uv.slot, true
}

// Assigned returns the value `set` gave the variable in slot, false
// while it has none.
func (v *Values) Assigned(slot int) (string, bool) {
	if slot < 0 || slot >= len(v.vals) || !v.vals[slot].ok {
		return "", false
	}
	return v.vals[slot].s, true
}
