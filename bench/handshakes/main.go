// Command handshakes is the load generator of the benchmark's "tlsnew"
// mode, which measures full TLS handshakes per second. Each of -c workers
// loops until -d has passed: it dials a new TCP connection, makes a full
// TLS 1.3 handshake (no session cache and no tickets, so nothing is ever
// resumed), sends one GET with "Connection: close", reads the whole
// response and closes. At the end it prints one line in the format of
// bench/wrk/clients.lua's done(), so that bench/run reads both alike:
//
//	RESULT requests=N duration_us=N p50_us=N p90_us=N p99_us=N
//	       errors_connect=N errors_read=N errors_write=N errors_status=N
//	       errors_timeout=N set_cookie=N
//
// where a request's latency runs from the dial to the response's last
// byte, and a failed handshake is a connect error, as in wrk.
//
// With -check it makes one connection instead, verifies the server's
// certificate against -ca for the name "localhost", requires TLS 1.3, an
// ECDSA P-256 certificate and the -alpn protocol, and prints what was
// negotiated:
//
//	TLS version=TLSv1.3 cipher=TLS_AES_128_GCM_SHA256 group=X25519 cert=ECDSA-P256 alpn=h2
//
//	handshakes -addr 127.0.0.1:18080 -c 50 -d 10s [-group X25519] [-cookie NAME=VALUE]
//	handshakes -addr 127.0.0.1:18080 -check -ca ca.pem [-alpn h2]
//
// The load workers do not verify the certificate chain (-check does,
// once): chain verification is the client's work, not the server's, and
// on the benchmark's shared load core it would only slow the client. The
// handshake's own signature is still checked, as crypto/tls always does.
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// groups maps -group's names to Go's key exchange groups. One group is
// offered, so every server does the same key exchange and none needs a
// second round trip (HelloRetryRequest).
var groups = map[string]tls.CurveID{
	"X25519": tls.X25519,
	"P-256":  tls.CurveP256,
	"P-384":  tls.CurveP384,
}

// options is what a run is given on the command line.
type options struct {
	addr     string        // the server, a loopback host:port
	conns    int           // concurrent workers, one connection each at a time
	duration time.Duration // how long workers start new connections
	timeout  time.Duration // bound on one connection, dial to last byte
	group    tls.CurveID   // the one key exchange group offered
	cookie   string        // a Cookie header to send, or ""
	alpn     string        // the ALPN protocol offered
}

func main() {
	var o options
	var groupName, caFile string
	check := flag.Bool("check", false, "make one verified connection, print what was negotiated, and exit")
	flag.StringVar(&o.addr, "addr", "127.0.0.1:18080", "server `address` (loopback)")
	flag.IntVar(&o.conns, "c", 50, "concurrent `connections`")
	flag.DurationVar(&o.duration, "d", 10*time.Second, "how long to open new connections")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "bound on one connection, from dial to the response's last byte")
	flag.StringVar(&groupName, "group", "X25519", "the key exchange `group` offered: X25519, P-256 or P-384")
	flag.StringVar(&o.cookie, "cookie", "", "a `NAME=VALUE` Cookie header to send with every request")
	flag.StringVar(&o.alpn, "alpn", "http/1.1", "the ALPN `protocol` offered")
	flag.StringVar(&caFile, "ca", "", "with -check: the authority's PEM `file` to verify the server against")
	flag.Parse()
	if host, _, err := net.SplitHostPort(o.addr); err != nil || net.ParseIP(host) == nil || !net.ParseIP(host).IsLoopback() {
		fail(2, "-addr must be a loopback address with a port, got %q", o.addr)
	}
	g, ok := groups[groupName]
	if !ok {
		fail(2, "unknown -group %q (X25519, P-256 or P-384)", groupName)
	}
	o.group = g
	if o.conns < 1 || o.duration <= 0 || o.timeout <= 0 {
		fail(2, "-c, -d and -timeout must be positive")
	}
	if strings.ContainsAny(o.cookie, "\r\n") {
		fail(2, "-cookie must be one line")
	}

	if *check {
		if caFile == "" {
			fail(2, "-check needs -ca")
		}
		pemData, err := os.ReadFile(caFile)
		if err != nil {
			fail(1, "%v", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pemData) {
			fail(1, "%s holds no PEM certificate", caFile)
		}
		line, err := checkOnce(o, roots)
		if err != nil {
			fail(1, "%v", err)
		}
		fmt.Println(line)
		return
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	fmt.Println(run(ctx, o).String())
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "handshakes: "+format+"\n", args...)
	os.Exit(code)
}

// clientConfig is the TLS configuration of every connection: TLS 1.3
// only, one key exchange group, and no resumption of any kind.
func clientConfig(o options) *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		MaxVersion:             tls.VersionTLS13,
		CurvePreferences:       []tls.CurveID{o.group},
		ServerName:             "localhost", // sent as SNI, as a browser would
		NextProtos:             []string{o.alpn},
		SessionTicketsDisabled: true, // and no ClientSessionCache: every handshake is full
	}
}

// checkOnce makes one connection with the chain verified against roots
// and returns the line that says what was negotiated, or why it is not
// what the benchmark measures.
func checkOnce(o options, roots *x509.CertPool) (string, error) {
	cfg := clientConfig(o)
	cfg.RootCAs = roots
	d := &net.Dialer{Timeout: o.timeout}
	c, err := tls.DialWithDialer(d, "tcp", o.addr, cfg)
	if err != nil {
		return "", fmt.Errorf("tls handshake with %s: %w", o.addr, err)
	}
	defer c.Close()
	st := c.ConnectionState()
	if st.DidResume {
		return "", fmt.Errorf("the handshake with %s resumed a session; want a full one", o.addr)
	}
	if st.NegotiatedProtocol != o.alpn {
		return "", fmt.Errorf("%s negotiated ALPN %q, want %q", o.addr, st.NegotiatedProtocol, o.alpn)
	}
	leaf := st.PeerCertificates[0]
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		return "", fmt.Errorf("%s sent a %s certificate, want ECDSA P-256", o.addr, leaf.PublicKeyAlgorithm)
	}
	return fmt.Sprintf("TLS version=%s cipher=%s group=%s cert=ECDSA-P256 alpn=%s",
		versionName(st.Version), tls.CipherSuiteName(st.CipherSuite),
		groupName(st.CurveID), st.NegotiatedProtocol), nil
}

// versionName names a protocol version as OpenSSL, nginx's
// $ssl_protocol and HAProxy do: TLSv1.3.
func versionName(v uint16) string {
	return strings.Replace(tls.VersionName(v), "TLS 1", "TLSv1", 1)
}

// groupName names a key exchange group as -group does.
func groupName(id tls.CurveID) string {
	for name, g := range groups {
		if g == id {
			return name
		}
	}
	return id.String()
}

// result is what a run counts, the workers' tallies added.
type result struct {
	requests, setCookie                                  int64
	errConnect, errRead, errWrite, errStatus, errTimeout int64
	latencies                                            []int64 // µs, of each complete response
	elapsed                                              time.Duration
}

// String is the RESULT line, with the latency percentiles by nearest rank.
func (r *result) String() string {
	slices.Sort(r.latencies)
	return fmt.Sprintf("RESULT requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d "+
		"errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d set_cookie=%d",
		r.requests, r.elapsed.Microseconds(), percentile(r.latencies, 50), percentile(r.latencies, 90),
		percentile(r.latencies, 99), r.errConnect, r.errRead, r.errWrite, r.errStatus, r.errTimeout, r.setCookie)
}

// percentile is the p-th percentile of sorted by nearest rank, 0 for none.
func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

func (r *result) add(w *result) {
	r.requests += w.requests
	r.setCookie += w.setCookie
	r.errConnect += w.errConnect
	r.errRead += w.errRead
	r.errWrite += w.errWrite
	r.errStatus += w.errStatus
	r.errTimeout += w.errTimeout
	r.latencies = append(r.latencies, w.latencies...)
}

// run opens connections with o.conns workers until o.duration has passed
// or ctx is done, and waits for the connections under way (each bounded
// by o.timeout).
func run(ctx context.Context, o options) *result {
	cfg := clientConfig(o)
	cfg.InsecureSkipVerify = true // see the package comment
	req := "GET / HTTP/1.1\r\nHost: " + o.addr + "\r\nConnection: close\r\n"
	if o.cookie != "" {
		req += "Cookie: " + o.cookie + "\r\n"
	}
	reqBytes := []byte(req + "\r\n")

	start := time.Now()
	end := start.Add(o.duration)
	tallies := make([]result, o.conns)
	var wg sync.WaitGroup
	for i := range tallies {
		wg.Go(func() {
			w := &tallies[i]
			br := bufio.NewReaderSize(nil, 4096)
			d := &net.Dialer{Timeout: o.timeout}
			for ctx.Err() == nil && time.Now().Before(end) {
				one(w, d, cfg, o.addr, reqBytes, br, o.timeout)
			}
		})
	}
	wg.Wait()
	total := &result{elapsed: time.Since(start)}
	for i := range tallies {
		total.add(&tallies[i])
	}
	return total
}

// one makes one connection, one handshake and one request, and counts
// the outcome in w.
func one(w *result, d *net.Dialer, cfg *tls.Config, addr string, req []byte, br *bufio.Reader, timeout time.Duration) {
	t0 := time.Now()
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		w.count(err, &w.errConnect)
		return
	}
	_ = raw.SetDeadline(t0.Add(timeout))
	c := tls.Client(raw, cfg)
	defer c.Close()
	if err := c.Handshake(); err != nil {
		w.count(err, &w.errConnect)
		return
	}
	if _, err := c.Write(req); err != nil {
		w.count(err, &w.errWrite)
		return
	}
	br.Reset(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		w.count(err, &w.errRead)
		return
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err != nil {
		w.count(err, &w.errRead)
		return
	}
	w.requests++
	w.latencies = append(w.latencies, time.Since(t0).Microseconds())
	if res.StatusCode > 399 { // as wrk counts status errors
		w.errStatus++
	}
	if len(res.Header["Set-Cookie"]) > 0 {
		w.setCookie++
	}
}

// count adds one to kind, or to the timeouts when err is one.
func (w *result) count(err error, kind *int64) {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		w.errTimeout++
		return
	}
	*kind++
}
