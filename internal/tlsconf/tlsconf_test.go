package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/tlstest"
)

// anyCache is a client session cache that offers its last session to
// every server, whatever its name: a client replaying a ticket elsewhere.
type anyCache struct {
	mu sync.Mutex // guards cs
	cs *tls.ClientSessionState
}

func (c *anyCache) Get(string) (*tls.ClientSessionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cs, c.cs != nil
}

func (c *anyCache) Put(_ string, cs *tls.ClientSessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs != nil {
		c.cs = cs
	}
}

// serve accepts TLS connections with cfg, and on each writes one byte
// after the handshake (so that a TLS 1.3 client reads its tickets).
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, cfg)
				_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
				if tc.Handshake() == nil {
					_, _ = tc.Write([]byte{'.'})
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestSessionLifetime: a ticket resumes within ssl_session_timeout, not
// after it, and not on another server block of the socket.
func TestSessionLifetime(t *testing.T) {
	ca := tlstest.NewCA(t, "Test Root")
	leaf := ca.Issue(t, "a.test", tlstest.Opts{ECDSA: true, DNS: []string{"a.test", "b.test"}})
	cert, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	key := config.TicketKey{Key: [32]byte{1, 2, 3}}
	ssl := func() *config.SSL {
		return &config.SSL{
			Certificates: []config.Certificate{{Cert: cert}}, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13,
			SessionTimeout: 5 * time.Minute, SessionTickets: true, TicketKeys: []config.TicketKey{key}, VerifyClient: "off", VerifyDepth: 1,
		}
	}
	servers := []*config.Server{{Names: []string{"a.test"}, SSL: ssl()}, {Names: []string{"b.test"}, SSL: ssl()}}
	var mu sync.Mutex // guards now
	now := time.Now()
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	l, err := New(servers, -1, Options{ALPN: []string{"http/1.1"}, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, l.Config)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cache := &anyCache{}
		resumed := func(sni string) bool {
			t.Helper()
			c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: sni, ClientSessionCache: cache, MinVersion: version, MaxVersion: version})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Read(make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
			return c.ConnectionState().DidResume
		}
		mu.Lock()
		now = time.Now()
		mu.Unlock()
		steps := []struct {
			sni     string
			advance time.Duration
			want    bool
		}{
			{"a.test", 0, false},
			{"a.test", 4 * time.Minute, true},
			{"a.test", 6 * time.Minute, false}, // past ssl_session_timeout
			{"b.test", 0, false},               // a's ticket, offered to b
			{"b.test", 0, true},
		}
		for i, st := range steps {
			mu.Lock()
			now = now.Add(st.advance)
			mu.Unlock()
			if got := resumed(st.sni); got != st.want {
				t.Errorf("version %x step %d (%s): resumed %v, want %v", version, i, st.sni, got, st.want)
			}
		}
	}
}

// TestVerifyClientChain: ssl_verify_depth counts the certificates above
// the client's, the CA included, and failures read as OpenSSL's.
func TestVerifyClientChain(t *testing.T) {
	root := tlstest.NewCA(t, "Root")
	inter := root.Intermediate(t, "Intermediate")
	direct := root.Issue(t, "direct", tlstest.Opts{ECDSA: true, Client: true})
	below := inter.Issue(t, "below", tlstest.Opts{ECDSA: true, Client: true})
	serverCert := root.Issue(t, "server", tlstest.Opts{ECDSA: true})
	stranger := tlstest.NewCA(t, "Stranger").Issue(t, "stranger", tlstest.Opts{ECDSA: true, Client: true})
	now := time.Now()
	tests := []struct {
		name     string
		chain    []*tlstest.Leaf
		withInt  bool
		depth    int
		want     string
		optional bool
	}{
		{"issued by the CA, depth 1", []*tlstest.Leaf{direct}, false, 1, "SUCCESS", false},
		{"below an intermediate, depth 1", []*tlstest.Leaf{below}, true, 1, "FAILED:certificate chain too long", false},
		{"below an intermediate, depth 2", []*tlstest.Leaf{below}, true, 2, "SUCCESS", false},
		{"intermediate not sent", []*tlstest.Leaf{below}, false, 2, "FAILED:unable to get local issuer certificate", true},
		{"unknown CA", []*tlstest.Leaf{stranger}, false, 1, "FAILED:unable to get local issuer certificate", true},
		{"a server certificate", []*tlstest.Leaf{serverCert}, false, 1, "FAILED:unsupported certificate purpose", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &server{ssl: &config.SSL{ClientCAs: root.Pool(), VerifyDepth: tt.depth}}
			chain := []*x509.Certificate{tt.chain[0].Cert}
			if tt.withInt {
				chain = append(chain, inter.Cert)
			}
			got := s.verify(chain, now)
			if got.Result != tt.want || got.Optional != tt.optional {
				t.Errorf("got %+v, want %q (optional %v)", got, tt.want, tt.optional)
			}
		})
	}
}
