// Package access is limpet's access control, as nginx's
// ngx_http_access_module (allow/deny), ngx_http_auth_basic_module
// (auth_basic, auth_basic_user_file) and the core `limit_except` block do
// it.
//
// A location's effective access (inheritance already applied by the config
// package) is compiled once by New into a Policy: the address rules are
// kept in order, and the htpasswd file is read and checked at start, so a
// file limpet cannot use is a configuration error with the file and line
// of its auth_basic_user_file, not a surprise at the first request. Unlike
// nginx, which opens the file on every request, limpet reads it once:
// changing it takes a restart (or, later, a reload).
//
// The decision follows nginx's defaults:
//
//   - allow/deny rules are tried in order and the first one matching the
//     client decides; when none matches, the client is allowed. A refusal
//     is 403.
//   - auth_basic checks the Authorization header against the file's
//     users; only bcrypt hashes ($2y$, $2a$, $2b$, "htpasswd -B") are
//     supported. A refusal is 401 with `WWW-Authenticate: Basic
//     realm="REALM"`.
//   - both apply when both are configured (nginx's `satisfy all`), the
//     address rules first: a denied client gets 403, never a password
//     prompt.
//   - with `limit_except METHOD ... { ... }`, requests whose method is
//     listed (GET implies HEAD) pass the location's own access; any other
//     method passes the block's access instead, which inherits from the
//     location as nginx's does.
package access

import (
	"encoding/base64"
	"net/http"
	"net/netip"
	"strings"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/errpage"
	"golang.org/x/crypto/bcrypt"
)

// Policy is the compiled access control of one location. A nil *Policy is
// valid and allows every request. A Policy is immutable and safe for
// concurrent use.
type Policy struct {
	// base is the location's own access; nil allows all.
	base *level
	// except is the limit_except block's access, applied to methods not
	// in unlimited; nil when the location has no limit_except.
	except    *level
	unlimited map[string]bool
}

// level is one set of allow/deny rules and basic authentication.
type level struct {
	rules []config.AccessRule
	// realm is sent in WWW-Authenticate; users is nil when auth_basic is
	// off, and holds each user's bcrypt hash otherwise (possibly none).
	realm string
	users map[string][]byte
	// dummy is a hash of the users' cost, compared against when the user
	// is unknown, so that a wrong user name costs as much time as a wrong
	// password and response times do not tell which users exist.
	dummy []byte
}

// New compiles the effective access of a location, a, and of its
// limit_except block, le (nil when there is none). It reads the htpasswd
// files now and fails, with the position of auth_basic_user_file, when one
// cannot be read or holds passwords in a format other than bcrypt. It
// returns a nil Policy, which allows everything, when there is nothing to
// check.
func New(a config.Access, le *config.LimitExcept) (*Policy, error) {
	files := map[string]*userFile{} // a file shared by both levels is read once
	base, err := compile(a, files)
	if err != nil {
		return nil, err
	}
	p := &Policy{base: base}
	if le != nil {
		if p.except, err = compile(le.Access, files); err != nil {
			return nil, err
		}
		p.unlimited = make(map[string]bool, len(le.Methods)+1)
		for _, m := range le.Methods {
			p.unlimited[m] = true
			if m == http.MethodGet {
				p.unlimited[http.MethodHead] = true
			}
		}
	}
	if p.base == nil && p.except == nil {
		return nil, nil
	}
	return p, nil
}

// compile returns the level of a, or nil when a checks nothing.
func compile(a config.Access, files map[string]*userFile) (*level, error) {
	lv := &level{rules: a.Rules}
	// As in nginx, auth_basic without a user file checks nothing.
	if a.AuthBasic != "" && a.AuthBasicUserFile != "" {
		f, ok := files[a.AuthBasicUserFile]
		if !ok {
			var err error
			if f, err = readUsers(a.AuthBasicUserFile, a.AuthPos); err != nil {
				return nil, err
			}
			files[a.AuthBasicUserFile] = f
		}
		lv.realm, lv.users, lv.dummy = a.AuthBasic, f.users, f.dummy
	}
	if len(lv.rules) == 0 && lv.users == nil {
		return nil, nil
	}
	return lv, nil
}

// Allow reports whether the request r from client may proceed. When it may
// not, Allow has written the response (403, or 401 asking for a password)
// and returns false; the caller must write nothing more.
func (p *Policy) Allow(w http.ResponseWriter, r *http.Request, client netip.Addr) bool {
	if p == nil {
		return true
	}
	lv := p.base
	if p.except != nil && !p.unlimited[r.Method] {
		lv = p.except
	}
	if lv == nil {
		return true
	}
	if !lv.addressAllowed(client) {
		errpage.Write(w, http.StatusForbidden)
		return false
	}
	if lv.users != nil && !lv.authenticated(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+lv.realm+`"`)
		errpage.Write(w, http.StatusUnauthorized)
		return false
	}
	return true
}

// addressAllowed applies the allow/deny rules: the first rule matching the
// client decides, and a client no rule matches is allowed.
func (lv *level) addressAllowed(client netip.Addr) bool {
	// nginx checks an IPv4-mapped IPv6 client (::ffff:10.0.0.1, a dual
	// stack listener) against the IPv4 rules; a zone never takes part.
	client = client.Unmap().WithZone("")
	for _, rule := range lv.rules {
		if rule.Unix {
			continue // no client of limpet's comes over a unix socket
		}
		if rule.All || (client.IsValid() && rule.Prefix.Contains(client)) {
			return rule.Allow
		}
	}
	return true
}

// authenticated checks the request's Basic credentials, parsed as nginx's
// ngx_http_auth_basic_user does: the scheme in any case, spaces, base64 of
// "user:password".
func (lv *level) authenticated(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if len(h) < len("Basic ") || !strings.EqualFold(h[:len("Basic ")], "Basic ") {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimLeft(h[len("Basic "):], " "))
	if err != nil {
		return false
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return false
	}
	hash, known := lv.users[user]
	if !known {
		if lv.dummy != nil {
			_ = bcrypt.CompareHashAndPassword(lv.dummy, []byte(pass))
		}
		return false
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(pass)) == nil
}
