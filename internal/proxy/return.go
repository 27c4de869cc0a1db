package proxy

import (
	"net/http"
	"strconv"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/vars"
)

// statusNoResponse is nginx's 444: close the connection without answering.
const statusNoResponse = 444

// returnAction is a compiled `return` directive.
type returnAction struct {
	code int
	text *vars.Template // body, or Location for redirects; nil when absent
}

func compileReturn(g *vars.Registry, r *config.Return) (*returnAction, error) {
	a := &returnAction{code: r.Code}
	if r.Text != "" {
		t, err := g.Compile(r.Text)
		if err != nil {
			return nil, &config.Error{Pos: r.Pos, Msg: err.Error()}
		}
		a.text = t
	}
	return a, nil
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// serve answers the request as nginx's `return` does: redirects carry a
// Location and nginx's small page, other codes the given text or, without
// one, the standard error page for error codes and an empty body otherwise.
// rs is the serving level's absolute_redirect and its kin.
func (a *returnAction) serve(w *responseWriter, r *http.Request, vr *vars.Request, rs config.Redirects) {
	switch {
	case a.code == statusNoResponse:
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			w.status = statusNoResponse // for the access log
			_ = c.Close()
		}
		return
	case isRedirect(a.code):
		if a.text != nil {
			setRedirect(w, vr, rs, a.text.Expand(vr))
		}
		writeError(w, a.code)
	case a.text != nil:
		body := a.text.Expand(vr)
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(a.code)
		if r.Method != http.MethodHead {
			_, _ = w.Write([]byte(body))
		}
	case a.code >= 400:
		writeError(w, a.code)
	default:
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(a.code)
	}
}
