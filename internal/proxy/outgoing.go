package proxy

import (
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"

	"github.com/limpet-lb/limpet/internal/h1"
	"github.com/limpet-lb/limpet/internal/httpsyntax"

	"github.com/limpet-lb/limpet/internal/router"
	"github.com/limpet-lb/limpet/internal/vars"
)

// outgoingRequest builds the request sent upstream, shared by every
// attempt, with the URI per nginx's proxy_pass rules, and fills in fwd,
// its header: the client's fields without hop-by-hop ones and without
// those proxy_set_header sets or clears, then the proxy_set_header values.
// h1 writes fwd as it stands (a transport that takes only a map is given
// fwd.Header()): the client's fields are not copied into a new map for
// every request.
//
// sc is where the request, its URL and the expansion buffer live: the
// exchange holds it, so they are not three allocations of their own.
func outgoingRequest(r *http.Request, l *location, vr *vars.Request, prefix string, fwd *h1.Forward, sc *outgoingScratch) *http.Request {
	fwd.Client = r.Header
	// RFC 9110 section 7.6.1: the fields the client's Connection names
	// are hop-by-hop too. Only those the client sent (h1.Forward looks
	// a long list up in a set: a client may name thousands).
	for _, v := range r.Header["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = textproto.TrimString(name); name == "" {
				continue
			}
			name = textproto.CanonicalMIMEHeaderKey(name)
			if _, sent := r.Header[name]; sent && !httpsyntax.HopByHop(name) {
				fwd.Omit = append(fwd.Omit, name)
			}
		}
	}
	if upgrade := upgradeType(r.Header); upgrade != "" {
		// limpet proxies protocol upgrades (WebSocket) without the
		// proxy_set_header Upgrade/Connection lines nginx needs.
		fwd.Fields = append(fwd.Fields, h1.Field{Name: "Connection", Value: "Upgrade"}, h1.Field{Name: "Upgrade", Value: upgrade})
	}
	host := vr.ProxyHost
	// The values of every proxy_set_header are expanded into one buffer
	// and become one string: one allocation for the whole list instead
	// of one a header.
	b := sc.buf[:0]
	var ends [16]int
	for i := range l.headers {
		b = l.headers[i].value.Append(b, vr)
		if i < len(ends) {
			ends[i] = len(b)
		}
	}
	all := string(b)
	start := 0
	for i := range l.headers {
		sh := &l.headers[i]
		var v string
		if i < len(ends) {
			v, start = all[start:ends[i]], ends[i]
		} else {
			v = sh.value.Expand(vr) // beyond the first 16: rare, plain
		}
		v = headerSafe(v)
		if sh.host {
			if v != "" {
				host = v
			}
			continue
		}
		// A later proxy_set_header of the same name wins, as the map
		// assignment it once was did.
		if sh.replaces {
			fwd.Fields = slices.DeleteFunc(fwd.Fields, func(f h1.Field) bool { return f.Name == sh.name })
		}
		if v == "" {
			fwd.Omit = append(fwd.Omit, sh.name)
			continue
		}
		fwd.Fields = append(fwd.Fields, h1.Field{Name: sh.name, Value: v})
	}

	var u *url.URL
	// An empty prefix is a URI a rewrite changed in the location itself:
	// nginx then passes the whole new URI, without replacing a prefix.
	if l.dynURI != "" {
		u = dynamicURL(l.dynURI)
	} else if l.proxyPass.HasURI && l.cfg.Regexp == nil && prefix != "" {
		target := router.UpstreamURI(l.proxyPass, l.cfg, prefix, vr.URI, r.URL.RawQuery, r.RequestURI)
		var err error
		if u, err = url.ParseRequestURI(target); err != nil {
			u = nil
		}
	}
	if u == nil {
		// No URI replacement: the client's request-target as Go
		// parsed it, which writes back as the client sent it (nginx
		// passes $request_uri unchanged), without parsing it again.
		u = &sc.url
		*u = url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery, ForceQuery: r.URL.ForceQuery}
	}

	out := &sc.req
	*out = http.Request{
		Method:        r.Method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Host:          host,
		ContentLength: r.ContentLength,
	}
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		out.Body = r.Body
	}
	if l.pass != nil {
		l.pass.apply(out, fwd, vr)
	}
	// No context: the transport gets the client's apart (see
	// exchange.roundTrip), sparing the copy WithContext makes.
	return out
}

// outgoingScratch is the storage of one exchange's outgoing request
// (outgoingRequest): the request, the URL it sends when the client's is
// passed unchanged, and the buffer the proxy_set_header values are
// expanded into before they become one string. The buffer would escape
// (vars.Template.Append keeps no promise about its argument), so on the
// stack it would be moved to the heap anyway.
type outgoingScratch struct {
	req http.Request
	url url.URL
	buf [512]byte
}

// headerSafe returns v fit to be a header value. Variables such as $uri
// hold decoded text, which may contain control characters a header must
// not carry (RFC 9110 section 5.5); they are percent-encoded, so the
// request is still sent and the value still says what it was, instead of
// the transport refusing the request and the failure being blamed on the
// server.
func headerSafe(v string) string {
	i := 0
	for i < len(v) && !isCTL(v[i]) {
		i++
	}
	if i == len(v) {
		return v
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(v)+8)
	b = append(b, v[:i]...)
	for ; i < len(v); i++ {
		if c := v[i]; isCTL(c) {
			b = append(b, '%', hex[c>>4], hex[c&0xf])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

// isCTL reports a control character other than horizontal tab.
func isCTL(c byte) bool { return (c < 0x20 && c != '\t') || c == 0x7f }
