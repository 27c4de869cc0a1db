package proxy

import (
	"github.com/limpet-lb/limpet/internal/vars"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/limpet-lb/limpet/internal/accesslog"
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/errpage"
	"github.com/limpet-lb/limpet/internal/static"
)

// This file holds what happens once a request has its location: the
// access check, try_files, the location's action (a content handler,
// return, proxying or its static files), and the internal redirects of
// error_page, try_files and index, which choose a location again for a
// new URI (or go to a named one), as nginx's ngx_http_internal_redirect
// and ngx_http_named_location do.

// flow is a request's state across internal redirects. It lives in the
// response writer, so a request without a redirect pays nothing for it.
type flow struct {
	h     *Handler
	vs    *virtualServer
	entry accesslog.Entry // the access log line's, see ServeHTTP
	// loc is the location serving the request now.
	loc *location
	// redirects counts internal redirects: past
	// config.MaxInternalRedirects the request gets 500, as nginx's
	// NGX_HTTP_MAX_URI_CHANGES.
	redirects int
	// inErrorPage is set once an error page is being served: without
	// recursive_error_pages, a second error gets the built-in page.
	inErrorPage bool
	// force is the status an error page is sent with instead of its
	// target's (error_page's original code, or =RESPONSE); 0 for none.
	force int
	// builtin is set while writeDefault sends a built-in page, which no
	// error_page may replace.
	builtin bool
	// sub is set in an auth_request subrequest, which nginx's access
	// phase skips (authrequest.go).
	sub bool
	// realIP is set once set_real_ip_from replaced the client's
	// address (realip.go), which no later level then does again.
	realIP bool
}

// run serves the request in loc: its access check, try_files, then its
// action. prefix is the part of the URI the location matched.
func (h *Handler) run(rw *responseWriter, r *http.Request, loc *location, prefix string) {
	fl := &rw.fl
	fl.loc = loc
	rw.doneAt = time.Time{} // a new action: an earlier exchange's end is not the response's
	if !rw.added {
		rw.add = loc.addHeaders
	}
	vr := &rw.vr
	vr.Referers, vr.AddURIToAlias = loc.referers, false
	rw.client = &loc.cfg.Proxy.Client // send_timeout, limit_rate (client.go)
	if loc.lastRequest != nil && loc.lastRequest(r) {
		rw.Header().Set("Connection", "close")
	}
	if loc.ret != nil {
		// A lone `return` answers in nginx's rewrite phase, before the
		// access phase's allow/deny and auth_basic (and the limits,
		// which ServeHTTP skips for it).
		loc.ret.serve(rw, r, vr, loc.cfg.Proxy.Redirects)
		return
	}
	rw.realIPPhase(r, loc) // PREACCESS, after an internal redirect too
	if !fl.sub {           // a subrequest skips the access phase (authrequest.go)
		if loc.guard != nil || loc.auth != nil {
			rw.fresh = false // auth_basic's hashing, the subrequest
		}
		if loc.guard != nil && !loc.guard.Allow(rw, r, vr.Remote.Addr()) {
			return
		}
		if loc.auth != nil && !h.authorize(rw, r, loc.auth) {
			return
		}
	}
	if loc.content == nil && loc.files.HasTryFiles() {
		uri, found, fallback, code := loc.files.Try(vr)
		switch {
		case found:
			vr.URI = uri
		case code != 0:
			writeError(rw, code)
			return
		case strings.HasPrefix(fallback, "@"):
			h.named(rw, r, fallback)
			return
		default:
			h.internalRedirect(rw, r, fallback, false)
			return
		}
	}
	switch {
	case loc.content != nil:
		loc.content.ServeHTTP(rw, r)
	case loc.upstream != nil:
		vr.ProxyHost = loc.proxyHost
		h.proxy(rw, r, loc, vr, prefix, &fl.entry)
	case loc.dynamic != nil:
		h.proxyDynamic(rw, r, loc, vr, prefix, &fl.entry)
	default:
		h.serveFiles(rw, r, loc)
	}
}

// serveFiles serves the location's static files.
func (h *Handler) serveFiles(rw *responseWriter, r *http.Request, loc *location) {
	vr := &rw.vr
	// limit_rate paces files too, as nginx's write filter does (client.go).
	res := loc.files.Serve(h.paced(rw), r, vr)
	if res.Log != "" && (res.Status != http.StatusNotFound || loc.logNotFound) {
		h.errorLog.Error(res.Log, "client", vr.Remote.Addr().String(), "uri", vr.URI)
	}
	switch {
	case res.Redirect != "":
		h.internalRedirect(rw, r, res.Redirect, false)
	case res.Status == http.StatusMovedPermanently:
		// As every redirect limpet makes (redirect.go): the scheme of
		// the connection, and absolute_redirect, port_in_redirect and
		// server_name_in_redirect of the location.
		setRedirect(rw, vr, loc.cfg.Proxy.Redirects, res.Location)
		writeError(rw, res.Status)
	case res.Status != 0:
		writeError(rw, res.Status)
	}
}

// countRedirect counts one internal redirect; past the bound it answers
// 500 with the built-in page and reports false.
func (h *Handler) countRedirect(rw *responseWriter, to string) bool {
	fl := &rw.fl
	rw.fresh = false
	fl.redirects++
	if fl.redirects <= config.MaxInternalRedirects {
		return true
	}
	h.errorLog.Error("rewrite or internal redirection cycle while internally redirecting", "to", to, "uri", rw.vr.R.RequestURI)
	fl.force = 0
	fl.inErrorPage = true
	writeDefault(rw, http.StatusInternalServerError)
	return false
}

// internalRedirect serves the request again for target, a URI with
// optional arguments: the location is chosen anew. toGET changes the
// method to GET (HEAD stays), as error_page does.
func (h *Handler) internalRedirect(rw *responseWriter, r *http.Request, target string, toGET bool) {
	if !h.countRedirect(rw, target) {
		return
	}
	path, query, hasQuery := strings.Cut(target, "?")
	if path == "" || path[0] != '/' {
		writeDefault(rw, http.StatusInternalServerError)
		return
	}
	// A request of its own, so the proxy sends the new URI: only an
	// internal redirect pays for the copy.
	r2 := new(http.Request)
	*r2 = *r
	u := new(url.URL)
	*u = *r.URL
	u.Path, u.RawPath = path, ""
	if hasQuery {
		u.RawQuery = query
	}
	r2.URL = u
	if toGET && r.Method != http.MethodHead {
		r2.Method = http.MethodGet
	}
	if fl := &rw.fl; fl.force != 0 && fl.force != http.StatusOK {
		// An error page is not a range, nor a 304 (nginx applies both
		// only to 200).
		r2.Header = r.Header.Clone()
		for _, k := range []string{"Range", "If-Range", "If-Modified-Since", "If-None-Match", "If-Match", "If-Unmodified-Since"} {
			delete(r2.Header, k)
		}
	}
	vr := &rw.vr
	vr.R, vr.URI = r2, path
	loc, prefix, r2, done := h.locate(rw, r2, vr, path)
	if done {
		return
	}
	h.run(rw, r2, loc, prefix)
}

// locate chooses the location of a request whose URI became path (an
// internal redirect, an auth_request subrequest); done means the rewrite
// phase has answered it.
func (h *Handler) locate(rw *responseWriter, r *http.Request, vr *vars.Request, path string) (loc *location, prefix string, r2 *http.Request, done bool) {
	vs := rw.fl.vs
	loc, r2 = vs.noLocation, r
	if vs.rewrites != nil {
		// As in nginx, an internal redirect runs the server's rewrite
		// phase again, then the new location's (rewrite.go).
		return h.rewritePhase(vs, rw, r, vr, path)
	} else if vs.noLocation.ret == nil {
		if l, p := vs.locations.Match(path); l != nil {
			loc, prefix = vs.compiled[l], p
		}
	}
	return loc, prefix, r2, false
}

// named serves the request in the named location name ("@name"), with
// its URI and method unchanged.
func (h *Handler) named(rw *responseWriter, r *http.Request, name string) {
	if !h.countRedirect(rw, name) {
		return
	}
	loc := rw.fl.vs.named[name]
	if loc == nil {
		h.errorLog.Error("could not find named location", "name", name)
		writeDefault(rw, http.StatusInternalServerError)
		return
	}
	if len(loc.script) > 0 {
		// Its rewrite phase runs, and may send the request elsewhere.
		l, prefix, r2, done := h.namedRewritePhase(rw.fl.vs, rw, r, &rw.vr, loc)
		if done {
			return
		}
		h.run(rw, r2, l, prefix)
		return
	}
	h.run(rw, r, loc, "")
}

// ReadFrom lets a file body reach the connection's ReadFrom, which
// sends it with sendfile(2) (h1srv); a writer without one gets a copy.
func (w *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.status < 200 {
		w.WriteHeader(http.StatusOK)
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{w.ResponseWriter}, src)
	}
	w.bytes += n
	return n, err
}

// writerOnly hides a ReadFrom, so io.Copy uses Write and a buffer.
type writerOnly struct{ io.Writer }

// writeDefault sends the built-in page of status, never an error_page.
func writeDefault(rw *responseWriter, status int) {
	rw.fl.force = 0
	rw.fl.builtin = true
	errpage.Write(rw, status)
	rw.fl.builtin = false
}

// compileFiles compiles the location's static settings and error pages.
func (l *location) compileFiles(s *config.Static, g *vars.Registry) error {
	var err error
	if l.files, err = static.New(s, g); err != nil {
		return err
	}
	l.errorPages, err = compileErrorPages(g, s.ErrorPages)
	l.intercept = s.InterceptErrors
	l.recursive = s.RecursiveErrorPages
	l.logNotFound = s.LogNotFound
	return err
}
