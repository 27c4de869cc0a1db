package h1

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/benchcpu"
)

// The benchmarks send the same requests through h1 and through the
// standard transport configured as internal/proxy.NewTransport configures
// it, to an in-process httptest server; the server's share of the CPU is
// the same for both. Requests carry a cancellable context, as the proxy's
// do (the client's request context).
//
// ns/op is wall time, mostly loopback round trips; cpu-ns/op is the CPU
// time of the whole process (client and server) per request, which is
// what a proxy's throughput depends on.

func benchServer(b *testing.B) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			_, _ = io.Copy(io.Discard, r.Body)
		}
		w.Header().Set("Content-Length", "11")
		_, _ = io.WriteString(w, "hello world")
	}))
	b.Cleanup(s.Close)
	return s
}

func stdTransport() *http.Transport {
	return &http.Transport{MaxIdleConnsPerHost: DefaultMaxIdlePerHost, DisableCompression: true, MaxResponseHeaderBytes: 1 << 20}
}

// chunkedServer answers with a chunked body: h1 reads those with
// http.ReadResponse, not its one-pass parser.
func chunkedServer(b *testing.B) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello world")
		w.(http.Flusher).Flush()
	}))
	b.Cleanup(s.Close)
	return s
}

func benchGet(b *testing.B, tr http.RoundTripper) { benchGetFrom(b, tr, benchServer(b)) }

func benchGetFrom(b *testing.B, tr http.RoundTripper, s *httptest.Server) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := newRequest(b, ctx, "GET", s.URL+"/path?q=1", nil)
	req.Header.Set("User-Agent", "bench")
	req.Header.Set("Accept", "*/*")
	req.Header.Set("X-Forwarded-For", "192.0.2.1")
	b.ReportAllocs()
	defer benchcpu.Report(b, benchcpu.Now())
	for b.Loop() {
		res, err := tr.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
	}
}

func benchGetParallel(b *testing.B, tr http.RoundTripper) {
	s := benchServer(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReportAllocs()
	defer benchcpu.Report(b, benchcpu.Now())
	b.RunParallel(func(pb *testing.PB) {
		req := newRequest(b, ctx, "GET", s.URL+"/path?q=1", nil)
		req.Header.Set("User-Agent", "bench")
		for pb.Next() {
			res, err := tr.RoundTrip(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
		}
	})
}

func benchPost(b *testing.B, tr http.RoundTripper) {
	s := benchServer(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const payload = `{"user":"someone","items":[1,2,3],"note":"a small JSON body"}`
	b.ReportAllocs()
	defer benchcpu.Report(b, benchcpu.Now())
	r := strings.NewReader(payload)
	for b.Loop() {
		r.Reset(payload)
		req := newRequest(b, ctx, "POST", s.URL+"/submit", io.NopCloser(r))
		req.ContentLength = int64(len(payload))
		res, err := tr.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
	}
}

func BenchmarkRoundTrip(b *testing.B)    { benchGet(b, New(Options{})) }
func BenchmarkStdTransport(b *testing.B) { benchGet(b, stdTransport()) }

func BenchmarkRoundTripChunked(b *testing.B) { benchGetFrom(b, New(Options{}), chunkedServer(b)) }

func BenchmarkRoundTripParallel(b *testing.B)    { benchGetParallel(b, New(Options{})) }
func BenchmarkStdTransportParallel(b *testing.B) { benchGetParallel(b, stdTransport()) }

func BenchmarkRoundTripPost(b *testing.B)    { benchPost(b, New(Options{})) }
func BenchmarkStdTransportPost(b *testing.B) { benchPost(b, stdTransport()) }

// proxyOptions are the timeouts internal/proxy.NewTransport sets from
// nginx's defaults (proxy_read_timeout, proxy_send_timeout 60s): every
// read and write of a request has a deadline.
var proxyOptions = Options{ResponseHeaderTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second, BodyReadTimeout: 60 * time.Second}

func BenchmarkRoundTripTimeouts(b *testing.B)         { benchGet(b, New(proxyOptions)) }
func BenchmarkRoundTripTimeoutsParallel(b *testing.B) { benchGetParallel(b, New(proxyOptions)) }
func BenchmarkRoundTripTimeoutsPost(b *testing.B)     { benchPost(b, New(proxyOptions)) }
