package proxy

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/vars"
)

// This file is auth_request (ngx_http_auth_request_module): before a
// location serves a request, after its allow/deny and auth_basic, a
// subrequest to the auth_request URI is served through the server's own
// locations, and its status decides: 2xx lets the request through, 401
// and 403 are sent to the client (401 with the subrequest's
// WWW-Authenticate), anything else is a 500. The subrequest has the
// client's header, no body, and method GET, as nginx's subrequests; its
// response body is discarded, and it has no access log line of its own
// (nginx's log_subrequest off).

// authRequest is a location's compiled auth_request and auth_request_set.
type authRequest struct {
	uri string
	// path is uri before a "?", args after it: a subrequest has only
	// the arguments of its URI, not the client's, as in nginx.
	path, args string
	sets       []authSet
}

// authSet is one auth_request_set: the slot of its variable and the
// value, expanded against the subrequest.
type authSet struct {
	slot  int
	value *vars.Template
}

// compileAuthRequest compiles a level's auth_request; nil when it is off.
func compileAuthRequest(g *vars.Registry, a config.Access) (*authRequest, error) {
	if a.AuthRequest == "" {
		return nil, nil
	}
	ar := &authRequest{uri: a.AuthRequest}
	ar.path, ar.args, _ = strings.Cut(a.AuthRequest, "?")
	for _, s := range a.AuthRequestSet {
		slot, ok := g.Slot(s.Var)
		if !ok {
			// CompileVariables defines every auth_request_set variable.
			return nil, &config.Error{Pos: s.Pos, Msg: "auth_request_set variable " + s.Var + " is not defined"}
		}
		t, err := g.Compile(s.Value)
		if err != nil {
			return nil, &config.Error{Pos: s.Pos, Msg: err.Error()}
		}
		ar.sets = append(ar.sets, authSet{slot: slot, value: t})
	}
	return ar, nil
}

// defineAuthSets defines in g the variables of every auth_request_set of
// the servers and their locations, so templates may read them.
func defineAuthSets(g *vars.Registry, cfg *config.Config) error {
	define := func(a config.Access) error {
		for _, s := range a.AuthRequestSet {
			if _, err := g.Define(s.Var); err != nil {
				return &config.Error{Pos: s.Pos, Msg: err.Error()}
			}
		}
		return nil
	}
	var walk func([]*config.Location) error
	walk = func(list []*config.Location) error {
		for _, l := range list {
			if err := define(l.Access); err != nil {
				return err
			}
			if err := walk(l.Locations); err != nil {
				return err
			}
		}
		return nil
	}
	for _, s := range cfg.Servers {
		if err := define(s.Access); err != nil {
			return err
		}
		if err := walk(s.Locations); err != nil {
			return err
		}
		for _, l := range s.Named {
			if err := define(l.Access); err != nil {
				return err
			}
		}
	}
	return nil
}

// authorize runs loc's auth_request for the request; when it refuses,
// it has written the answer and reports false.
func (h *Handler) authorize(rw *responseWriter, r *http.Request, a *authRequest) bool {
	// The subrequest's own request: the new URI, method GET, the
	// client's header without what would announce a body or an upgrade.
	// vr.R keeps the client's method, as nginx's $request_method reads
	// the main request's.
	hdr := r.Header.Clone()
	for _, k := range []string{"Content-Length", "Transfer-Encoding", "Upgrade", "Connection", "Expect"} {
		delete(hdr, k)
	}
	u := new(url.URL)
	*u = *r.URL
	u.Path, u.RawPath, u.RawQuery, u.ForceQuery = a.path, "", a.args, false
	forVars := new(http.Request)
	*forVars = *r
	forVars.URL, forVars.Header = u, hdr
	forVars.Body, forVars.ContentLength, forVars.TransferEncoding = http.NoBody, 0, nil
	sr := new(http.Request)
	*sr = *forVars
	sr.Method = http.MethodGet

	sub := &discardWriter{header: make(http.Header)}
	srw := &responseWriter{ResponseWriter: sub}
	srw.vr = rw.vr // the same variables, as nginx's subrequests share them
	srw.vr.R, srw.vr.URI, srw.vr.Response = forVars, a.path, &srw.resp
	srw.resp.Start, srw.resp.Now, srw.resp.Header = rw.resp.Start, rw.resp.Now, sub.header
	srw.fl.h, srw.fl.vs, srw.fl.sub = rw.fl.h, rw.fl.vs, true
	srw.fl.redirects = rw.fl.redirects
	func() {
		defer func() {
			// A response body cut short aborts the subrequest only: its
			// status is known already.
			if p := recover(); p != nil && p != http.ErrAbortHandler {
				panic(p)
			}
		}()
		loc, prefix, sr2, done := h.locate(srw, sr, &srw.vr, a.path)
		if !done {
			h.run(srw, sr2, loc, prefix)
		}
	}()

	status := srw.status
	if status == 0 {
		status = http.StatusOK // a handler that wrote nothing
	}
	if len(a.sets) > 0 && rw.vr.User != nil {
		for _, s := range a.sets {
			rw.vr.User.Set(s.slot, s.value.Expand(&srw.vr))
		}
	}
	switch {
	case status >= 200 && status < 300:
		return true
	case status == StatusClientClosed:
		rw.status = StatusClientClosed
		return false
	case status == http.StatusForbidden:
		writeError(rw, status)
		return false
	case status == http.StatusUnauthorized:
		www := sub.header.Values("Www-Authenticate")
		if len(www) == 0 && srw.resp.UpstreamHeader != nil {
			www = srw.resp.UpstreamHeader.Values("Www-Authenticate")
		}
		for _, v := range www {
			rw.Header().Add("Www-Authenticate", v)
		}
		writeError(rw, status)
		return false
	}
	h.errorLog.Error("auth request unexpected status: "+strconv.Itoa(status), "client", rw.vr.Remote.Addr().String(), "uri", rw.vr.URI, "auth_request", a.uri)
	writeError(rw, http.StatusInternalServerError)
	return false
}

// discardWriter is the subrequest's client: it keeps the header and the
// status, and drops the body (nginx's header_only subrequest).
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.header }

func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 || w.status < 200 {
		w.status = code
	}
}

func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
