package h1

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"testing"
)

func TestRoundTripForward(t *testing.T) {
	tests := []struct {
		name   string
		client http.Header
		omit   []string
		fields []Field
		want   http.Header // as the server reads it, without Host
	}{
		{
			name:   "client fields then the proxy's",
			client: http.Header{"Cookie": {"a=1"}, "Accept": {"x", "y"}, "User-Agent": {"curl"}},
			fields: []Field{{"X-Real-Ip", "127.0.0.1"}},
			want:   http.Header{"Cookie": {"a=1"}, "Accept": {"x", "y"}, "User-Agent": {"curl"}, "X-Real-Ip": {"127.0.0.1"}},
		},
		{
			name: "hop-by-hop fields are not passed on",
			client: http.Header{
				"Connection": {"close, X-Hop"}, "Keep-Alive": {"1"}, "Proxy-Connection": {"keep-alive"},
				"Proxy-Authorization": {"secret"}, "Te": {"trailers"}, "Upgrade": {"h2c"}, "X-Kept": {"1"},
			},
			want: http.Header{"X-Kept": {"1"}},
		},
		{
			name:   "omitted fields",
			client: http.Header{"X-Hop": {"1"}, "Accept-Encoding": {"gzip"}, "X-Kept": {"1"}},
			omit:   []string{"X-Hop", "Accept-Encoding"},
			want:   http.Header{"X-Kept": {"1"}},
		},
		{
			name:   "the proxy's fields replace the client's",
			client: http.Header{"X-Forwarded-For": {"203.0.113.7"}, "User-Agent": {"curl"}},
			fields: []Field{{"X-Forwarded-For", "203.0.113.7, 127.0.0.1"}, {"User-Agent", "limpet"}},
			want:   http.Header{"X-Forwarded-For": {"203.0.113.7, 127.0.0.1"}, "User-Agent": {"limpet"}},
		},
		{
			name:   "no User-Agent of the transport's own",
			client: http.Header{"Accept": {"*/*"}},
			want:   http.Header{"Accept": {"*/*"}},
		},
		{
			name:   "an empty User-Agent is none",
			client: http.Header{"User-Agent": {""}},
			want:   http.Header{},
		},
		{
			name:   "framing fields are the transport's",
			client: http.Header{"Content-Length": {"5"}, "Transfer-Encoding": {"chunked"}},
			fields: []Field{{"Content-Length", "7"}},
			want:   http.Header{},
		},
		// checkRequest lists up to maxListed client fields for
		// writeRequest, which goes through the map for more (User-Agent
		// is not listed, X-Field-0 is replaced, Connection is
		// hop-by-hop).
		{
			name:   "as many client fields as are listed",
			client: manyFields(maxListed+1, "User-Agent", "Connection"),
			fields: []Field{{"X-Field-0", "replaced"}},
			want:   with(manyFields(maxListed+1, "User-Agent"), "X-Field-0", "replaced"),
		},
		{
			name:   "more client fields than are listed",
			client: manyFields(maxListed+2, "User-Agent", "Connection"),
			fields: []Field{{"X-Field-0", "replaced"}},
			want:   with(manyFields(maxListed+2, "User-Agent"), "X-Field-0", "replaced"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan http.Header, 1)
			s := newServer(t, func(w http.ResponseWriter, r *http.Request) { got <- r.Header })
			req := newRequest(t, context.Background(), http.MethodGet, s.URL+"/", nil)
			req.Header = nil
			fwd := &Forward{Client: tt.client, Omit: tt.omit, Fields: tt.fields}
			res, err := New(Options{}).RoundTripForward(context.Background(), req, fwd)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if h := <-got; !reflect.DeepEqual(h, tt.want) {
				t.Errorf("server got %v, want %v", h, tt.want)
			}
		})
	}
}

// manyFields returns a header of n fields X-Field-0 ... X-Field-n-1, of
// two values each, and of the fields extra, of one.
func manyFields(n int, extra ...string) http.Header {
	h := http.Header{}
	for i := range n {
		h["X-Field-"+strconv.Itoa(i)] = []string{"a" + strconv.Itoa(i), "b"}
	}
	for _, name := range extra {
		h[name] = []string{"x"}
	}
	return h
}

// with returns h with the field name set to value.
func with(h http.Header, name, value string) http.Header {
	h[name] = []string{value}
	return h
}

// TestForwardHeader checks the map given to transports that take one: the
// same fields as the fast path sends, and an empty User-Agent when there
// is none.
func TestForwardHeader(t *testing.T) {
	client := http.Header{"Connection": {"X-Hop"}, "X-Hop": {"1"}, "Cookie": {"a=1"}, "X-Forwarded-For": {"a"}}
	fwd := &Forward{Client: client, Omit: []string{"X-Hop"}, Fields: []Field{{"X-Forwarded-For", "a, b"}, {"Connection", "Upgrade"}, {"Upgrade", "websocket"}}}
	want := http.Header{"Cookie": {"a=1"}, "X-Forwarded-For": {"a, b"}, "Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "User-Agent": {""}}
	if got := fwd.Header(); !reflect.DeepEqual(got, want) {
		t.Errorf("Header() = %v, want %v", got, want)
	}
	if len(client) != 4 || client["X-Forwarded-For"][0] != "a" {
		t.Errorf("the client's header changed: %v", client)
	}
}

// TestRoundTripForwardFallback checks that a request the fast path does not
// send reaches the fallback with the merged header and the context.
func TestRoundTripForwardFallback(t *testing.T) {
	type ctxKey struct{}
	ctx := context.WithValue(context.Background(), ctxKey{}, 1)
	for _, tt := range []struct {
		name   string
		url    string
		client http.Header
		fields []Field
	}{
		{"upgrade", "http://127.0.0.1:1/", http.Header{"Upgrade": {"websocket"}}, []Field{{"Connection", "Upgrade"}, {"Upgrade", "websocket"}}},
		{"expect", "http://127.0.0.1:1/", http.Header{"Expect": {"100-continue"}}, nil},
		{"https", "https://127.0.0.1:1/", http.Header{"Cookie": {"a=1"}}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			req := newRequest(t, context.Background(), http.MethodGet, tt.url, nil)
			req.Header = nil
			fwd := &Forward{Client: tt.client, Fields: tt.fields}
			if _, err := New(Options{Fallback: rec}).RoundTripForward(ctx, req, fwd); err != nil {
				t.Fatal(err)
			}
			if rec.count() != 1 {
				t.Fatalf("the fallback got %d requests, want 1", rec.count())
			}
			got := rec.reqs[0]
			if !reflect.DeepEqual(got.Header, fwd.Header()) {
				t.Errorf("the fallback got header %v, want %v", got.Header, fwd.Header())
			}
			if got.Context().Value(ctxKey{}) != 1 {
				t.Error("the fallback's request lacks the context")
			}
			if req.Header != nil {
				t.Error("the caller's request was changed")
			}
		})
	}
}

// TestRoundTripForwardChecksFields checks that a field that could smuggle
// a request is refused, from the client or the proxy, before anything is
// sent.
func TestRoundTripForwardChecksFields(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	for _, fwd := range []*Forward{
		{Client: http.Header{"X-A": {"1\r\nX-B: 2"}}},
		{Client: http.Header{"X A": {"1"}}},
		{Fields: []Field{{"X-A", "1\nGET / HTTP/1.1"}}},
		{Fields: []Field{{"X:A", "1"}}},
	} {
		req := newRequest(t, context.Background(), http.MethodGet, s.URL+"/", nil)
		_, err := New(Options{}).RoundTripForward(context.Background(), req, fwd)
		var rerr *requestError
		if !errors.As(err, &rerr) {
			t.Errorf("%+v: error %v, want a *requestError", fwd, err)
		}
	}
	if n := s.conns.Load(); n != 0 {
		t.Errorf("%d connections made, want none", n)
	}
}

// TestRoundTripForwardReplay checks that an idempotency key among the
// fields makes a POST without a body replayable, from either source.
func TestRoundTripForwardReplay(t *testing.T) {
	req := &http.Request{Method: http.MethodPost}
	for _, fwd := range []*Forward{
		{Client: http.Header{"Idempotency-Key": {"k"}}},
		{Fields: []Field{{"X-Idempotency-Key", "k"}}},
	} {
		if !replayable(req, header{fwd: fwd}) {
			t.Errorf("%+v: not replayable", fwd)
		}
	}
	if replayable(req, header{fwd: &Forward{Client: http.Header{"Idempotency-Key": {"k"}}, Omit: []string{"Idempotency-Key"}}}) {
		t.Error("an omitted key made the request replayable")
	}
}

// TestForwardLongOmit checks that a long Omit list is looked up in a set,
// so that a client naming thousands of fields in its Connection header
// costs linear time, and that the set answers as the list does.
func TestForwardLongOmit(t *testing.T) {
	for _, n := range []int{omitSetMin - 1, omitSetMin, 1000} {
		fwd := &Forward{Client: http.Header{}}
		for i := range n {
			name := "X-" + strconv.Itoa(i)
			fwd.Client[name] = []string{"1"}
			fwd.Omit = append(fwd.Omit, name)
		}
		fwd.Client["X-Kept"] = []string{"1"}
		for k := range fwd.Client {
			if want := k == "X-Kept"; fwd.passes(k) != want {
				t.Errorf("%d omitted: passes(%q) = %v, want %v", n, k, !want, want)
			}
		}
		if set := fwd.omitSet != nil; set != (n >= omitSetMin) {
			t.Errorf("%d omitted: a set made: %v", n, set)
		}
	}
}

// BenchmarkForwardLongConnection writes a header of 10,000 fields the
// client's Connection field names: linear, not quadratic.
func BenchmarkForwardLongConnection(b *testing.B) {
	fwd := &Forward{Client: http.Header{}}
	for i := range 10000 {
		name := "X-" + strconv.Itoa(i)
		fwd.Client[name] = []string{"1"}
		fwd.Omit = append(fwd.Omit, name)
	}
	b.ReportAllocs()
	for b.Loop() {
		fwd.omitSet = nil
		for k := range fwd.Client {
			_ = fwd.passes(k)
		}
	}
}
