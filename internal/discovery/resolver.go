// Package discovery finds an upstream's servers in DNS while limpet runs,
// as nginx does for `server NAME resolve [service=NAME]`: a Resolver sends
// the queries (A and AAAA, or SRV) to the configured name servers, and a
// Watcher per upstream re-resolves each name when its answer expires and
// adds and removes servers through live.Upstream.Update, the same atomic
// change the runtime API makes. A server's identity is its address
// (upstream.IDFor), so users of an address that stays keep their server
// and users of one that goes are told "server_removed".
//
// The package knows nothing of the configuration: the runtime gives it
// name servers, names and the parameters of the server lines.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Config is what a Resolver needs: nginx's `resolver` and
// `resolver_timeout`.
type Config struct {
	// Servers are the name servers, "ip:port", asked in turn.
	Servers []string
	// Timeout bounds one whole lookup (resolver_timeout); 30s if 0.
	Timeout time.Duration
	// Valid, when not 0, is how long every answer is used, whatever the
	// TTL of its records (the resolver's valid=).
	Valid time.Duration
	// IPv4 and IPv6 tell which of A and AAAA records are looked up; with
	// neither set, both are.
	IPv4, IPv6 bool
}

// resendTimeout is how long one name server is waited for before the
// next is asked, as nginx resends a query after 5s.
const resendTimeout = 5 * time.Second

// negativeTTL is how long "no such name" is believed without valid=, as
// in nginx.
const negativeTTL = 10 * time.Second

// maxCNAMEs bounds a chain of CNAME records followed for one name.
const maxCNAMEs = 8

// Resolver sends DNS queries over UDP, and over TCP when an answer is
// truncated, to its name servers. It keeps no cache: a Watcher asks again
// only when the previous answer expired. It is safe for concurrent use.
type Resolver struct {
	cfg  Config
	next atomic.Uint32 // the name server to ask first, rotated per query
}

// NewResolver returns a resolver of cfg.
func NewResolver(cfg Config) *Resolver {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if !cfg.IPv4 && !cfg.IPv6 {
		cfg.IPv4, cfg.IPv6 = true, true
	}
	return &Resolver{cfg: cfg}
}

// Timeout returns the bound of one lookup.
func (r *Resolver) Timeout() time.Duration { return r.cfg.Timeout }

// Addr is one address a lookup found.
type Addr struct {
	IP netip.Addr
	// Port, Target, Weight and Priority come from an SRV record; they are
	// zero for a host lookup. A weight of 0 reads as 1, as in nginx.
	Port     int
	Target   string
	Weight   int
	Priority int
}

// Answer is what a lookup found.
type Answer struct {
	Addrs []Addr
	// TTL is how long the answer may be used: Config.Valid when set, else
	// the smallest TTL of the records it was made of (for "no such name",
	// 10s).
	TTL time.Duration
}

// Error codes of a failed lookup: the DNS response codes, and
// CodeTimedOut when no name server answered in time, as nginx numbers
// them in its messages.
const (
	CodeFormat    = dns.RcodeFormatError
	CodeServer    = dns.RcodeServerFailure
	CodeNotFound  = dns.RcodeNameError
	CodeNotImpl   = dns.RcodeNotImplemented
	CodeRefused   = dns.RcodeRefused
	CodeTimedOut  = 110 // ETIMEDOUT, nginx's NGX_RESOLVE_TIMEDOUT
	codeNoAnswer  = -1  // internal: a network error, reported as timed out
	unknownRcodes = "Unknown error"
)

// LookupError is a failed lookup, worded as nginx's ngx_resolver_strerror.
type LookupError struct {
	Name string
	Code int
	// Err is the network error behind CodeTimedOut, if any.
	Err error
}

// Error returns "NAME could not be resolved (CODE: TEXT)", nginx's message.
func (e *LookupError) Error() string {
	return fmt.Sprintf("%s could not be resolved (%d: %s)", e.Name, e.Code, e.Text())
}

// Text is nginx's text for the code.
func (e *LookupError) Text() string {
	switch e.Code {
	case CodeFormat:
		return "Format error"
	case CodeServer:
		return "Server failure"
	case CodeNotFound:
		return "Host not found"
	case CodeNotImpl:
		return "Unimplemented"
	case CodeRefused:
		return "Operation refused"
	case CodeTimedOut:
		return "Operation timed out"
	}
	return unknownRcodes
}

// Unwrap returns the network error behind a time-out, or nil.
func (e *LookupError) Unwrap() error { return e.Err }

// NotFound reports whether the error says the name has no addresses
// (NXDOMAIN, or a name without records of the type asked), which, unlike
// other failures, is an answer: nginx removes the name's servers.
func NotFound(err error) bool {
	var le *LookupError
	return errors.As(err, &le) && le.Code == CodeNotFound
}

// LookupHost returns the A and AAAA addresses of name (as the Config
// allows), following CNAME records. A name with no address of either
// family is a NotFound error, with an Answer whose TTL says when to ask
// again.
func (r *Resolver) LookupHost(ctx context.Context, name string) (Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	return r.lookupHost(ctx, name)
}

func (r *Resolver) lookupHost(ctx context.Context, name string) (Answer, error) {
	var types []uint16
	if r.cfg.IPv4 {
		types = append(types, dns.TypeA)
	}
	if r.cfg.IPv6 {
		types = append(types, dns.TypeAAAA)
	}
	var ans Answer
	ttl := time.Duration(-1)
	found := false
	for _, qt := range types {
		rrs, t, err := r.query(ctx, name, qt)
		if NotFound(err) {
			continue
		}
		if err != nil {
			return Answer{}, err
		}
		for _, rr := range rrs {
			var ip netip.Addr
			switch rr := rr.(type) {
			case *dns.A:
				ip, _ = netip.AddrFromSlice(rr.A.To4())
			case *dns.AAAA:
				ip, _ = netip.AddrFromSlice(rr.AAAA.To16())
			}
			if ip.IsValid() {
				ans.Addrs = append(ans.Addrs, Addr{IP: ip})
				found = true
			}
		}
		if found && (ttl < 0 || t < ttl) {
			ttl = t
		}
	}
	if !found {
		return Answer{TTL: r.valid(negativeTTL)}, &LookupError{Name: name, Code: CodeNotFound}
	}
	ans.TTL = r.valid(ttl)
	return ans, nil
}

// LookupSRV returns the addresses of the SRV records of name (the whole
// service name, "_http._tcp.example.com"): each target resolved with
// LookupHost's rules, with the record's port, weight and priority. Targets
// without addresses are left out; a name without records, or whose
// targets all have no address, is a NotFound error.
func (r *Resolver) LookupSRV(ctx context.Context, name string) (Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	rrs, ttl, err := r.query(ctx, name, dns.TypeSRV)
	if NotFound(err) {
		return Answer{TTL: r.valid(negativeTTL)}, err
	}
	if err != nil {
		return Answer{}, err
	}
	var ans Answer
	for _, rr := range rrs {
		srv, ok := rr.(*dns.SRV)
		if !ok || srv.Target == "." {
			// "." says the service is not offered there (RFC 2782).
			continue
		}
		target := strings.TrimSuffix(srv.Target, ".")
		hosts, err := r.lookupHost(ctx, target)
		if NotFound(err) {
			continue
		}
		if err != nil {
			return Answer{}, err
		}
		ttl = min(ttl, hosts.TTL)
		w := int(srv.Weight)
		if w == 0 {
			w = 1
		}
		for _, a := range hosts.Addrs {
			ans.Addrs = append(ans.Addrs, Addr{IP: a.IP, Port: int(srv.Port), Target: target, Weight: w, Priority: int(srv.Priority)})
		}
	}
	if len(ans.Addrs) == 0 {
		return Answer{TTL: r.valid(negativeTTL)}, &LookupError{Name: name, Code: CodeNotFound}
	}
	ans.TTL = r.valid(ttl)
	return ans, nil
}

// valid returns Config.Valid when set, else ttl.
func (r *Resolver) valid(ttl time.Duration) time.Duration {
	if r.cfg.Valid > 0 {
		return r.cfg.Valid
	}
	return ttl
}

// query asks for the records of type qt of name, following CNAMEs, and
// returns them with the smallest TTL of the chain.
func (r *Resolver) query(ctx context.Context, name string, qt uint16) ([]dns.RR, time.Duration, error) {
	ttl := time.Duration(-1)
	cur := dns.Fqdn(name)
	for range maxCNAMEs {
		msg, err := r.exchange(ctx, name, cur, qt)
		if err != nil {
			return nil, 0, err
		}
		var out []dns.RR
		next := ""
		for _, rr := range msg.Answer {
			h := rr.Header()
			t := time.Duration(h.Ttl) * time.Second
			switch {
			case h.Rrtype == qt:
				out = append(out, rr)
			case h.Rrtype == dns.TypeCNAME && strings.EqualFold(h.Name, cur):
				next = rr.(*dns.CNAME).Target
			default:
				continue
			}
			if ttl < 0 || t < ttl {
				ttl = t
			}
		}
		if len(out) > 0 {
			return out, ttl, nil
		}
		if next == "" {
			// NOERROR without records: nginx reports it as not found.
			return nil, 0, &LookupError{Name: name, Code: CodeNotFound}
		}
		cur = next
	}
	return nil, 0, &LookupError{Name: name, Code: CodeServer, Err: errors.New("too many CNAME records")}
}

// exchange sends one question to the name servers in turn until one
// answers with a response code other than SERVFAIL or REFUSED, or ctx
// ends. name is the name asked by the caller, for errors.
func (r *Resolver) exchange(ctx context.Context, name, q string, qt uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(q, qt)
	servers := r.cfg.Servers
	if len(servers) == 0 {
		return nil, &LookupError{Name: name, Code: CodeTimedOut, Err: errors.New("no name servers")}
	}
	first := int(r.next.Add(1)-1) % len(servers)
	var last error
	var lastCode int
	for i := 0; ; i++ {
		if ctx.Err() != nil {
			break
		}
		if i > 0 && i%len(servers) == 0 && lastCode == codeNoAnswer && isFast(last) {
			// Every server refused the connection at once: waiting
			// would only spin.
			break
		}
		addr := servers[(first+i)%len(servers)]
		resp, err := r.exchangeOne(ctx, m, addr)
		if err != nil {
			last, lastCode = err, codeNoAnswer
			continue
		}
		switch resp.Rcode {
		case dns.RcodeSuccess:
			return resp, nil
		case dns.RcodeNameError:
			return nil, &LookupError{Name: name, Code: CodeNotFound}
		}
		last, lastCode = nil, resp.Rcode
		if i+1 >= len(servers) {
			// Every server said no: that is the answer.
			return nil, &LookupError{Name: name, Code: resp.Rcode}
		}
	}
	if lastCode > 0 {
		return nil, &LookupError{Name: name, Code: lastCode}
	}
	if last == nil {
		last = ctx.Err()
	}
	return nil, &LookupError{Name: name, Code: CodeTimedOut, Err: last}
}

// isFast reports whether a network error came at once (the port is
// closed) rather than after a wait.
func isFast(err error) bool {
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// exchangeOne asks one name server, over UDP and then over TCP when the
// answer is truncated. Each try is bounded by ctx and resendTimeout; a
// cancelled ctx closes the connection at once.
func (r *Resolver) exchangeOne(ctx context.Context, m *dns.Msg, addr string) (*dns.Msg, error) {
	actx, cancel := context.WithTimeout(ctx, resendTimeout)
	defer cancel()
	resp, err := exchangeOver(actx, "udp", m, addr)
	if err != nil || !resp.Truncated {
		return resp, err
	}
	return exchangeOver(actx, "tcp", m, addr)
}

// exchangeOver sends m to addr over network and reads the answer.
func exchangeOver(ctx context.Context, network string, m *dns.Msg, addr string) (*dns.Msg, error) {
	c := &dns.Client{Net: network}
	conn, err := c.DialContext(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	m.Id = dns.Id()
	resp, _, err := c.ExchangeWithConnContext(ctx, m, conn)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", network, addr, err)
	}
	return resp, nil
}

// ServiceName returns the name whose SRV records `service=SERVICE` of
// host looks up, by nginx's rule (ngx_resolve_name): a service without a
// dot becomes "_SERVICE._tcp.HOST"; one with a dot is put before the host
// as written ("_http._tcp" gives "_http._tcp.HOST").
func ServiceName(service, host string) string {
	host = strings.TrimSuffix(host, ".")
	if strings.Contains(service, ".") {
		return service + "." + host
	}
	return "_" + service + "._tcp." + host
}

// hostPort joins an address and a port.
func hostPort(ip netip.Addr, port int) string {
	return net.JoinHostPort(ip.String(), strconv.Itoa(port))
}
