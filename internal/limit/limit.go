// Package limit is limpet's request and connection limiting, as nginx's
// ngx_http_limit_req_module and ngx_http_limit_conn_module do it.
//
// A zone (RequestZone, ConnZone) holds one state per value of its key, in
// a table of its own bounded by the zone's size (see StateCost): sixteen
// shards, each a map with its own mutex, so the request path takes no
// lock shared by all keys. A location's limits are compiled into a
// Requests and a Conns, which the proxy asks before the access control,
// in nginx's PREACCESS phase: limit_req first, then limit_conn.
//
// limit_req is nginx's leaky bucket, in nginx's units: a state keeps its
// excess in thousandths of a request and the millisecond of its last
// request; each request adds one request to the excess, less what the
// rate has drained since. Beyond burst the request is rejected; beyond
// the delay threshold (0 by default, unlimited with nodelay) it waits
// until the bucket has drained to the threshold. States are kept in
// least-recently-used order; a new key first frees states idle for a
// minute and drained, then, when the zone is full, the oldest state, and
// when none can be freed the request is answered with the limit's status,
// as nginx answers it ("could not allocate node").
//
// limit_conn counts the requests of a key being processed (in HTTP/1.1,
// requests in flight, one per connection at a time); the count is taken
// before the request is served and given back when it ends. A state whose
// count falls to zero is kept for the key's next request (nginx frees it
// at once; keeping it spares an allocation per request) and is the first
// freed when a new key needs room; a state with requests in flight is
// never freed, and when the zone is full of those a new key is refused.
//
// Time comes from an injected clock, so tests run the bucket without
// sleeping.
package limit

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/limpet-lb/limpet/internal/vars"
)

// Outcome is what a limit did to a request: the values of
// $limit_req_status and $limit_conn_status.
type Outcome uint8

// The outcomes, nginx's.
const (
	// None: no limit applied (no limit, or every key empty); the
	// variables are not found.
	None Outcome = iota
	Passed
	Delayed
	Rejected
	DelayedDryRun
	RejectedDryRun
)

// outcomeNames are nginx's spellings of the outcomes.
var outcomeNames = [...]string{"", "PASSED", "DELAYED", "REJECTED", "DELAYED_DRY_RUN", "REJECTED_DRY_RUN"}

// String returns nginx's name of the outcome ("PASSED", ...), or "" for
// None.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return ""
}

// Decision is the answer of a limiter for one request.
type Decision struct {
	Outcome Outcome
	// Delay is how long a Delayed request must wait before it is served.
	Delay time.Duration
	// Status is the code to answer a Rejected request with
	// (limit_req_status, limit_conn_status).
	Status int
}

// LevelNotice is nginx's notice level, between slog's Info and Warn
// (slog names it "INFO+2").
const LevelNotice = slog.LevelInfo + 2

// ParseLevel maps nginx's limit_*_log_level words to slog levels. Other
// words are an error.
func ParseLevel(s string) (slog.Level, error) {
	switch s {
	case "info":
		return slog.LevelInfo, nil
	case "notice":
		return LevelNotice, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("invalid log level %q", s)
}

// lessSevere is nginx's delay level: one below the limit's level
// (error → warn → notice → info), info staying info.
func lessSevere(l slog.Level) slog.Level {
	switch {
	case l >= slog.LevelError:
		return slog.LevelWarn
	case l >= slog.LevelWarn:
		return LevelNotice
	}
	return slog.LevelInfo
}

// Options are what both limiters of a location share.
type Options struct {
	// Log receives the limiting messages; nil means slog.Default().
	Log *slog.Logger
	// Now is the clock; nil means time.Now. Tests inject a fake one.
	Now func() time.Time
}

func (o Options) logger() *slog.Logger {
	if o.Log == nil {
		return slog.Default()
	}
	return o.Log
}

func (o Options) clock() func() time.Time {
	if o.Now == nil {
		return time.Now
	}
	return o.Now
}

// requestAttrs are the fields nginx appends to a message about a
// request: client, server, request line and host.
func requestAttrs(vr *vars.Request) []any {
	client := vr.Remote.Addr()
	if !client.IsValid() && vr.R != nil {
		if ap, err := netip.ParseAddrPort(vr.R.RemoteAddr); err == nil {
			client = ap.Addr()
		}
	}
	attrs := []any{slog.String("client", client.Unmap().String()), slog.String("server", vr.ServerName)}
	if r := vr.R; r != nil {
		attrs = append(attrs, slog.String("request", r.Method+" "+r.RequestURI+" "+r.Proto), slog.String("host", r.Host))
	}
	return attrs
}

// formatExcess writes an excess in thousandths as nginx does: "1.000".
func formatExcess(excess int64) string {
	return fmt.Sprintf("%d.%03d", excess/1000, excess%1000)
}

// printableKey shortens a key for a log line; keys may be binary.
func printableKey(key []byte) string {
	const max = 64
	s := string(key)
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
