// Package dnstest is test support: a real authoritative DNS server on
// loopback (UDP and TCP on one port, built with miekg/dns) whose records a
// test changes while it runs, to exercise limpet's resolver and service
// discovery against real queries.
package dnstest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// Server is a DNS server on 127.0.0.1 answering from its records. A name
// with no record of any type is NXDOMAIN; a name with records of other
// types only gets an empty NOERROR answer, as real servers give.
type Server struct {
	// Addr is "127.0.0.1:port", for both UDP and TCP.
	Addr string

	udp, tcp *dns.Server

	// mu guards records, rcode and silent.
	mu      sync.Mutex
	records map[string][]dns.RR // by lower-case FQDN
	rcode   int                 // when not 0, every query gets it
	silent  bool                // when set, no query is answered

	queries [2]atomic.Int64 // UDP, TCP
	queried chan struct{}   // signalled, without blocking, on each query
}

// SRV is one SRV record's data.
type SRV struct {
	Priority, Weight, Port uint16
	Target                 string
}

// Start starts a server with no records. Close stops it.
func Start() (*Server, error) {
	var lastErr error
	for range 10 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			// The port is free for UDP only: try another.
			_ = pc.Close()
			lastErr = err
			continue
		}
		s := &Server{Addr: pc.LocalAddr().String(), records: map[string][]dns.RR{}, queried: make(chan struct{}, 1)}
		started := make(chan struct{}, 2)
		notify := func() { started <- struct{}{} }
		s.udp = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve), NotifyStartedFunc: notify}
		s.tcp = &dns.Server{Listener: ln, Handler: dns.HandlerFunc(s.serve), NotifyStartedFunc: notify}
		errs := make(chan error, 2)
		go func() { errs <- s.udp.ActivateAndServe() }()
		go func() { errs <- s.tcp.ActivateAndServe() }()
		for range 2 {
			select {
			case <-started:
			case err := <-errs:
				s.Close()
				return nil, fmt.Errorf("dnstest: serving: %w", err)
			}
		}
		return s, nil
	}
	return nil, fmt.Errorf("dnstest: no port free for both UDP and TCP: %w", lastErr)
}

// Close stops the server.
func (s *Server) Close() {
	_ = s.udp.Shutdown()
	_ = s.tcp.Shutdown()
}

// Queries returns how many queries came over UDP and over TCP.
func (s *Server) Queries() (udp, tcp int64) { return s.queries[0].Load(), s.queries[1].Load() }

// Queried returns a channel that receives when a query has come since
// the last receive (several queries may make one receive).
func (s *Server) Queried() <-chan struct{} { return s.queried }

// SetA makes ips (IPv4 or IPv6 literals) the A and AAAA records of name,
// with the given TTL in seconds; no ips removes them.
func (s *Server) SetA(name string, ttl uint32, ips ...string) {
	var rrs []dns.RR
	for _, ip := range ips {
		p := net.ParseIP(ip)
		if p == nil {
			panic("dnstest: not an IP: " + ip)
		}
		h := dns.RR_Header{Name: dns.Fqdn(name), Class: dns.ClassINET, Ttl: ttl}
		if v4 := p.To4(); v4 != nil {
			h.Rrtype = dns.TypeA
			rrs = append(rrs, &dns.A{Hdr: h, A: v4})
		} else {
			h.Rrtype = dns.TypeAAAA
			rrs = append(rrs, &dns.AAAA{Hdr: h, AAAA: p})
		}
	}
	s.set(name, rrs, dns.TypeA, dns.TypeAAAA)
}

// SetSRV makes recs the SRV records of name (the whole service name,
// "_http._tcp.example.test"), TTL in seconds; no recs removes them.
func (s *Server) SetSRV(name string, ttl uint32, recs ...SRV) {
	var rrs []dns.RR
	for _, r := range recs {
		rrs = append(rrs, &dns.SRV{
			Hdr:      dns.RR_Header{Name: dns.Fqdn(name), Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: ttl},
			Priority: r.Priority, Weight: r.Weight, Port: r.Port, Target: dns.Fqdn(r.Target),
		})
	}
	s.set(name, rrs, dns.TypeSRV)
}

// SetCNAME makes name an alias of target; an empty target removes it.
func (s *Server) SetCNAME(name string, ttl uint32, target string) {
	var rrs []dns.RR
	if target != "" {
		rrs = []dns.RR{&dns.CNAME{Hdr: dns.RR_Header{Name: dns.Fqdn(name), Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: ttl}, Target: dns.Fqdn(target)}}
	}
	s.set(name, rrs, dns.TypeCNAME)
}

// set replaces the records of the given types of name with rrs.
func (s *Server) set(name string, rrs []dns.RR, types ...uint16) {
	key := strings.ToLower(dns.Fqdn(name))
	s.mu.Lock()
	defer s.mu.Unlock()
	var kept []dns.RR
	for _, rr := range s.records[key] {
		if !containsType(types, rr.Header().Rrtype) {
			kept = append(kept, rr)
		}
	}
	kept = append(kept, rrs...)
	if len(kept) == 0 {
		delete(s.records, key)
		return
	}
	s.records[key] = kept
}

func containsType(types []uint16, t uint16) bool {
	for _, x := range types {
		if x == t {
			return true
		}
	}
	return false
}

// Fail makes every query answered with rcode (dns.RcodeServerFailure,
// dns.RcodeRefused, ...); 0 answers from the records again.
func (s *Server) Fail(rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcode = rcode
}

// Silence makes the server read queries and answer none (on), so that
// clients time out; off answers again.
func (s *Server) Silence(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silent = on
}

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	udp := true
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		udp = false
		s.queries[1].Add(1)
	} else {
		s.queries[0].Add(1)
	}
	select {
	case s.queried <- struct{}{}:
	default:
	}
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	s.mu.Lock()
	silent, rcode := s.silent, s.rcode
	var rrs []dns.RR
	exists := false
	if len(req.Question) == 1 {
		q := req.Question[0]
		all := s.records[strings.ToLower(q.Name)]
		exists = len(all) > 0
		for _, rr := range all {
			if t := rr.Header().Rrtype; t == q.Qtype || t == dns.TypeCNAME {
				rrs = append(rrs, dns.Copy(rr))
			}
		}
	}
	s.mu.Unlock()
	switch {
	case silent:
		return
	case len(req.Question) != 1:
		resp.Rcode = dns.RcodeFormatError
	case rcode != 0:
		resp.Rcode = rcode
	case !exists:
		resp.Rcode = dns.RcodeNameError
	default:
		resp.Answer = rrs
	}
	if udp {
		// Without EDNS a UDP answer holds 512 bytes; a longer one is
		// cut and marked truncated, so the client asks over TCP.
		resp.Truncate(dns.MinMsgSize)
	}
	_ = w.WriteMsg(resp)
}
