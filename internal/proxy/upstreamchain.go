package proxy

import (
	"strconv"
	"time"

	"github.com/limpet-lb/limpet/internal/vars"
)

// upstreamChain is the exchanges of a request that proxied more than
// once, across internal redirects (an intercepted error whose error_page
// location proxies again): the $upstream_* variables and the access log
// list every attempt of each, a redirect between two exchanges written
// " : " as nginx's $upstream_addr writes it ("a, b : c"). A request that
// proxies once never builds one. It is a pointer, so the exchanges can
// tell whether a later one replaced it (interfaces compare pointers).
type upstreamChain struct{ xs []*exchange }

// chainAfter is the Upstreams of a request whose earlier exchanges are
// prev (nil, an *exchange or an upstreamChain) and whose latest is x.
func chainAfter(prev vars.Upstreams, x *exchange) vars.Upstreams {
	switch p := prev.(type) {
	case *exchange:
		return &upstreamChain{xs: []*exchange{p, x}}
	case *upstreamChain:
		return &upstreamChain{xs: append(p.xs[:len(p.xs):len(p.xs)], x)}
	}
	return x
}

// Attempts is the number of attempts of every exchange.
func (c *upstreamChain) Attempts() int {
	n := 0
	for _, x := range c.xs {
		n += x.Attempts()
	}
	return n
}

// Attempt returns attempt i, counted across the exchanges.
func (c *upstreamChain) Attempt(i int) vars.UpstreamAttempt {
	for _, x := range c.xs {
		if i < x.Attempts() {
			return x.Attempt(i)
		}
		i -= x.Attempts()
	}
	return vars.UpstreamAttempt{}
}

// RedirectBefore reports whether attempt i is the first of an exchange
// after an internal redirect (vars.UpstreamRedirects).
func (c *upstreamChain) RedirectBefore(i int) bool {
	for k, x := range c.xs {
		if i == 0 {
			return k > 0
		}
		if i < x.Attempts() {
			return false
		}
		i -= x.Attempts()
	}
	return false
}

var _ vars.UpstreamRedirects = (*upstreamChain)(nil)

// format returns the servers tried and their statuses as the access log
// writes them, and the time spent on all of them.
func (c *upstreamChain) format() (addrs, statuses string, took time.Duration) {
	var a, s []byte
	for k, x := range c.xs {
		if k > 0 {
			a = append(a, " : "...)
			s = append(s, " : "...)
		}
		for i := 0; i < x.tries; i++ {
			if i > 0 {
				a = append(a, ", "...)
				s = append(s, ", "...)
			}
			rec := x.Attempt(i)
			a = append(a, rec.Addr...)
			if rec.Status == 0 {
				s = append(s, '-')
			} else {
				s = strconv.AppendInt(s, int64(rec.Status), 10)
			}
		}
		took += x.upTime
	}
	return string(a), string(s), took
}
