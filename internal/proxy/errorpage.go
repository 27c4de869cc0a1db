package proxy

import (
	"net/http"
	"slices"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/errpage"
	"github.com/limpet-lb/limpet/internal/vars"
)

// errorPage is a compiled error_page line.
type errorPage struct {
	codes    []int
	response int // 0, config.ResponseOfTarget or a code
	target   *vars.Template
}

// compileErrorPages compiles a level's error_page lines.
func compileErrorPages(g *vars.Registry, eps []config.ErrorPage) ([]errorPage, error) {
	var out []errorPage
	for _, ep := range eps {
		t, err := g.Compile(ep.Target)
		if err != nil {
			return nil, &config.Error{Pos: ep.Pos, Msg: err.Error()}
		}
		out = append(out, errorPage{codes: ep.Codes, response: ep.Response, target: t})
	}
	return out, nil
}

// pageFor returns the location's error page of status, or nil.
func (l *location) pageFor(status int) *errorPage {
	for i := range l.errorPages {
		if slices.Contains(l.errorPages[i].codes, status) {
			return &l.errorPages[i]
		}
	}
	return nil
}

var _ errpage.Pager = (*responseWriter)(nil)

// ErrorPage answers status with the location's error_page, for
// errpage.Write; without one, the built-in page goes out with its own
// status, not the one an error page being served would force.
func (w *responseWriter) ErrorPage(status int) bool {
	if w.fl.builtin {
		return false
	}
	if w.errorPage(status) {
		return true
	}
	w.fl.force = 0
	return false
}

// errorPage answers status with the location's error_page for it, if it
// has one and one may be used now; it reports whether it did. Nothing
// must have been written yet.
func (w *responseWriter) errorPage(status int) bool {
	fl := &w.fl
	if fl.h == nil || fl.loc == nil || w.status != 0 {
		return false
	}
	loc := fl.loc
	ep := loc.pageFor(status)
	if ep == nil || (fl.inErrorPage && !loc.recursive) {
		return false
	}
	fl.inErrorPage = true
	target := ep.target.Expand(&w.vr)
	// A redirect's Location (`return 302 URL` with an error_page 302) is
	// not the error page's, as nginx clears it.
	delete(w.Header(), "Location")
	r := w.vr.R
	switch {
	case target != "" && target[0] == '/':
		fl.force = forced(ep.response, status)
		fl.h.internalRedirect(w, r, target, true)
	case target != "" && target[0] == '@':
		fl.force = forced(ep.response, status)
		fl.h.named(w, r, target)
	default:
		// An absolute URL: a redirect, 302 unless =301, =303, =307 or
		// =308 asks for another.
		code := http.StatusFound
		switch ep.response {
		case http.StatusMovedPermanently, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			code = ep.response
		}
		w.Header().Set("Location", target)
		writeDefault(w, code)
	}
	return true
}

// forced is the status an error page's answer is sent with: the
// original one, the target's own (0), or =RESPONSE.
func forced(response, status int) int {
	switch response {
	case 0:
		return status
	case config.ResponseOfTarget:
		return 0
	}
	return response
}

// interceptError hands an upstream's response of status to the
// location's error page, when proxy_intercept_errors is on and there is
// one; it reports whether it did, and the caller then drops the
// upstream's response.
func (w *responseWriter) interceptError(status int) bool {
	loc := w.fl.loc
	if loc == nil || !loc.intercept || status < 300 || loc.pageFor(status) == nil {
		return false
	}
	return w.errorPage(status)
}
