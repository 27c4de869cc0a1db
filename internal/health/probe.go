package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/upstream"
	"github.com/limpet-lb/limpet/internal/uptls"
)

// maxBody is how much of a response body a probe reads: NGINX Plus
// examines "only the first 256k of the response body".
const maxBody = 256 << 10

// check is the runtime form of a Check, with defaults applied.
type check struct {
	c  *Checker
	up *live.Upstream
	// key names the check across reloads: its upstream and its rank
	// among that upstream's checks.
	key string

	pos        config.Pos
	interval   time.Duration
	jitterMax  time.Duration
	fails      int
	passes     int
	uri        string
	port       int
	mandatory  bool
	persistent bool
	host       string
	match      *matcher

	connectTimeout time.Duration
	readTimeout    time.Duration
	scheme         string // "http", or "https" with Check.TLS

	// transport is the check's own: HTTP/1.1, at most one idle
	// connection per server, no compression, no proxy from the
	// environment.
	transport *http.Transport

	// targets are the servers the check probes. Owned by the check's
	// scheduler goroutine (and by Start before that goroutine exists),
	// so unguarded.
	targets map[*upstream.Server]*target
}

func newCheck(c *Checker, ch Check) *check {
	cfg := ch.Config
	k := &check{
		c:              c,
		up:             ch.Upstream,
		pos:            cfg.Pos,
		interval:       cfg.Interval,
		jitterMax:      max(cfg.Jitter, 0),
		fails:          max(cfg.Fails, 1),
		passes:         max(cfg.Passes, 1),
		uri:            cfg.URI,
		port:           cfg.Port,
		mandatory:      cfg.Mandatory,
		persistent:     cfg.Persistent,
		host:           ch.Host,
		match:          newMatcher(cfg.Match),
		connectTimeout: ch.ConnectTimeout,
		readTimeout:    ch.ReadTimeout,
		targets:        make(map[*upstream.Server]*target),
		scheme:         "http",
	}
	if k.interval <= 0 {
		k.interval = defaultInterval
	}
	if k.uri == "" {
		k.uri = "/"
	}
	if k.host == "" {
		k.host = ch.Upstream.Name
	}
	if k.connectTimeout <= 0 {
		k.connectTimeout = defaultTimeout
	}
	if k.readTimeout <= 0 {
		k.readTimeout = defaultTimeout
	}
	dialer := &net.Dialer{Timeout: k.connectTimeout}
	k.transport = &http.Transport{
		Proxy: nil, // never HTTP_PROXY: probes go to the server itself
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return upstream.Dial(ctx, dialer, network, addr)
		},
		MaxIdleConnsPerHost:   1,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: k.readTimeout,
		DisableCompression:    true,
		// A non-nil empty map turns HTTP/2 off: probes speak HTTP/1.1.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	if ch.TLS != nil {
		k.scheme = "https"
		k.transport.DialTLSContext = tlsDialer(k.connectTimeout, ch.TLS, ch.TLSName)
	}
	return k
}

// tlsDialer dials a server and makes the connection a TLS one with the
// location's client, both within the connect timeout, as the proxied
// requests' connections are made.
func tlsDialer(timeout time.Duration, c *uptls.Client, name string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := upstream.Dial(ctx, d, network, addr)
		if err != nil {
			return nil, err
		}
		_ = nc.SetDeadline(time.Now().Add(timeout))
		tc, err := c.Handshake(ctx, nc, name)
		if err != nil {
			_ = nc.Close()
			return nil, err
		}
		_ = nc.SetDeadline(time.Time{})
		return tc, nil
	}
}

// probe sends one health check request to s and reports whether the
// answer passes, and if not, why. Connection errors and timeouts fail.
func (k *check) probe(ctx context.Context, s *upstream.Server) (passed bool, reason string) {
	addr := s.Addr
	// A unix-domain server has no port to replace: port= applies to the
	// TCP servers of the upstream, and a socket is probed on its path.
	if k.port != 0 && !upstream.IsUnix(addr) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return false, fmt.Sprintf("server address %q: %v", addr, err)
		}
		addr = net.JoinHostPort(host, strconv.Itoa(k.port))
	}
	// The whole probe, body included, gets the connect plus the read
	// timeout; the transport bounds each phase on its own too.
	ctx, cancel := context.WithTimeout(ctx, k.connectTimeout+k.readTimeout)
	defer cancel()
	// The address is set after parsing: "http://unix:/path/uri" would
	// not parse as a host and a path.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.scheme+"://localhost"+k.uri, nil)
	if err != nil {
		return false, fmt.Sprintf("health check uri %q: %v", k.uri, err)
	}
	req.URL.Host = addr
	req.Host = k.host
	req.Header.Set("User-Agent", "") // present but empty: Go sends none, like nginx
	// RoundTrip, not a Client: redirects are answers, never followed.
	resp, err := k.transport.RoundTrip(req)
	if err != nil {
		return false, failure(ctx, err)
	}
	defer resp.Body.Close()
	var body []byte
	if k.match.needsBody() {
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody))
	} else {
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	}
	if err != nil {
		return false, "reading response body: " + failure(ctx, err)
	}
	return k.match.test(resp.StatusCode, resp.Header, body)
}

// failure describes a probe's error, naming a timeout as such.
func failure(ctx context.Context, err error) string {
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "timed out: " + err.Error()
	}
	return err.Error()
}
