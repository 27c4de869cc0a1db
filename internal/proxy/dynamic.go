package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/limpet-lb/limpet/internal/accesslog"
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/uptls"
	"github.com/limpet-lb/limpet/internal/vars"
)

// Targets finds, per request, where a proxy_pass with variables sends
// (the runtime builds them, see Env.Dynamic).
type Targets interface {
	// Target returns the upstream and transport of host for scheme
	// ("http" or "https"), with port as the URL wrote it ("" for none):
	// an upstream block of that name when no port is written, else an
	// upstream made for host:port, its name resolved if it is not an
	// address. made reports the latter: an upstream not in the API nor
	// in the metrics, whose names a client may choose. The error is the
	// one to log, in nginx's words ("no resolver defined to resolve
	// HOST").
	Target(ctx context.Context, scheme, host, port string) (u *live.Upstream, tr http.RoundTripper, made bool, err error)
}

// dynamicPass is a compiled proxy_pass with variables.
type dynamicPass struct {
	target  *vars.Template // the whole URL
	targets Targets
}

// compileDynamic compiles a proxy_pass with variables: its target, and
// for https the TLS client, whose proxy_ssl_name $proxy_host (the
// default) is each target's own host.
func (l *location) compileDynamic(env *Env, t Timeouts) error {
	pp := l.proxyPass
	l.scheme = pp.Scheme
	tpl, err := env.Vars.Compile(pp.Target)
	if err != nil {
		return &config.Error{Pos: pp.Pos, Msg: err.Error()}
	}
	if env.Dynamic == nil {
		return &config.Error{Pos: pp.Pos, Msg: "variables in proxy_pass are not supported here"}
	}
	var c *uptls.Client
	name := ""
	if pp.Scheme != "http" {
		// https, or a scheme read per request.
		ssl := &l.cfg.Proxy.SSL
		if c, err = uptls.New(ssl); err != nil {
			return err
		}
		if ssl.Name != "$proxy_host" {
			nt, err := env.Vars.Compile(ssl.Name)
			if err != nil {
				return &config.Error{Pos: ssl.NamePos, Msg: err.Error()}
			}
			if s, ok := nt.Static(); ok {
				name = s
			} else {
				l.tlsName = nt
			}
		}
	}
	targets, err := env.Dynamic(l.cfg, t, c, name)
	if err != nil {
		return err
	}
	l.dynamic = &dynamicPass{target: tpl, targets: targets}
	return nil
}

// proxyDynamic serves a request of a location whose proxy_pass holds
// variables: the URL is expanded, its host found (Targets), and the
// request proxied as to a static proxy_pass of that URL, except that a
// URI part, when the URL has one, replaces the whole request URI, as in
// nginx; without one the client's URI is sent as it came.
func (h *Handler) proxyDynamic(w *responseWriter, r *http.Request, l *location, vr *vars.Request, prefix string, entry *accesslog.Entry) {
	s := l.dynamic.target.Expand(vr)
	var scheme, rest string
	switch {
	case len(s) > 7 && strings.EqualFold(s[:7], "http://"):
		scheme, rest = "http", s[7:]
	case len(s) > 8 && strings.EqualFold(s[:8], "https://"):
		scheme, rest = "https", s[8:]
	default:
		// ngx_http_proxy_eval's failures are 500s.
		h.errorLog.Error(fmt.Sprintf("invalid URL prefix in %q", s), slog.String("request", r.Method+" "+r.RequestURI))
		writeError(w, http.StatusInternalServerError)
		return
	}
	hostPort, uri := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		hostPort, uri = rest[:i], rest[i:]
		if uri[0] == '?' {
			uri = "/" + uri
		}
	}
	host, port, ok := splitTarget(hostPort)
	if !ok {
		h.errorLog.Error(fmt.Sprintf("invalid host in upstream %q", rest), slog.String("request", r.Method+" "+r.RequestURI))
		writeError(w, http.StatusInternalServerError)
		return
	}
	u, tr, made, err := l.dynamic.targets.Target(r.Context(), scheme, host, port)
	if err != nil {
		if r.Context().Err() != nil {
			writeError(w, StatusClientClosed)
			return
		}
		h.errorLog.Error(err.Error(), slog.String("client", vr.Remote.Addr().String()), slog.String("request", r.Method+" "+r.RequestURI))
		writeError(w, http.StatusBadGateway)
		return
	}
	// A copy of the location for this request: one allocation, on
	// this path only.
	dl := *l
	dl.upstream, dl.transport, dl.proxyHost, dl.dynURI, dl.scheme = u, tr, hostPort, uri, scheme
	// Upstreams made on the fly stay out of the metrics: their number is
	// bounded here, their names are not.
	dl.unobserved = made
	vr.ProxyHost = hostPort
	w.fresh = false // Target may have waited for the resolver
	h.proxy(w, r, &dl, vr, prefix, entry)
}

// splitTarget splits "host[:port]" or "[v6][:port]"; port is "" when
// none is written.
func splitTarget(hp string) (host, port string, ok bool) {
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return "", "", false
		}
		host, rest := hp[1:end], hp[end+1:]
		if rest == "" {
			return host, "", true
		}
		if rest[0] != ':' || rest == ":" {
			return "", "", false
		}
		return host, rest[1:], validPort(rest[1:])
	}
	host, port, found := strings.Cut(hp, ":")
	if host == "" || strings.ContainsAny(host, " \t@#") || found && !validPort(port) {
		return "", "", false
	}
	return host, port, true
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for _, c := range []byte(p) {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n > 0 && n < 65536
}

// dynamicURL parses the URI a proxy_pass with variables sends instead of
// the request's, or returns nil when it does not parse.
func dynamicURL(uri string) *url.URL {
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil
	}
	return u
}
