package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/limpet-lb/limpet/internal/upstream"
)

// params are the server parameters of a POST or PATCH body; nil means
// not given.
type params struct {
	server      *string
	weight      *int
	maxConns    *int
	maxFails    *int
	failTimeout *time.Duration
	slowStart   *time.Duration
	route       *string
	backup      *bool
	down        *bool
	drain       *bool
	id          *int
	service     bool
}

// maxRoute bounds a route, which travels as a cookie value.
const maxRoute = 255

// readParams reads and checks a body of server parameters the way NGINX
// Plus does: a JSON object (else 415 JsonError) of known parameters
// (UpstreamConfFormatError for an unknown one, a nested object or list,
// or a value of the wrong type), each in its range (UpstreamBadWeight,
// UpstreamBadMaxFails, ...).
func readParams(r *http.Request) (*params, *apiError) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return nil, errBodyRead
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errJSON
	}
	p := &params{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errJSON
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, errJSON
		}
		if raw[0] == '{' || raw[0] == '[' {
			return nil, badRequest("UpstreamConfFormatError", "nested object or list")
		}
		if e := p.set(key, raw); e != nil {
			return nil, e
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, errJSON
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errJSON
	}
	return p, nil
}

// set parses one parameter.
func (p *params) set(key string, raw json.RawMessage) *apiError {
	invalid := badRequest("UpstreamConfFormatError", `invalid "`+key+`" value`)
	var ok bool
	switch key {
	case "server":
		p.server, ok = asString(raw)
	case "route":
		if p.route, ok = asString(raw); ok {
			switch {
			case len(*p.route) > maxRoute:
				return badRequest("UpstreamBadRoute", "route is too long")
			case !cookieSafe(*p.route):
				return badRequest("UpstreamBadRoute", `invalid "route"`)
			}
		}
	case "weight":
		if p.weight, ok = asInt(raw); ok && *p.weight < 1 {
			return badRequest("UpstreamBadWeight", `invalid "weight"`)
		}
	case "max_conns":
		if p.maxConns, ok = asInt(raw); ok && *p.maxConns < 0 {
			return badRequest("UpstreamBadMaxConns", `invalid "max_conns"`)
		}
	case "max_fails":
		if p.maxFails, ok = asInt(raw); ok && *p.maxFails < 0 {
			return badRequest("UpstreamBadMaxFails", `invalid "max_fails"`)
		}
	case "fail_timeout", "slow_start":
		var s *string
		if s, ok = asString(raw); ok {
			d, valid := parseTime(*s)
			if !valid {
				code := map[string]string{"fail_timeout": "UpstreamBadFailTimeout", "slow_start": "UpstreamBadSlowStart"}[key]
				return badRequest(code, `invalid "`+key+`"`)
			}
			if key == "fail_timeout" {
				p.failTimeout = &d
			} else {
				p.slowStart = &d
			}
		}
	case "backup":
		p.backup, ok = asBool(raw)
	case "down":
		p.down, ok = asBool(raw)
	case "drain":
		p.drain, ok = asBool(raw)
	case "id":
		p.id, ok = asInt(raw)
	case "service":
		return badRequest("UpstreamBadService", `invalid "service": limpet does not resolve SRV records`)
	default:
		return badRequest("UpstreamConfFormatError", `unknown parameter "`+key+`"`)
	}
	if !ok {
		return invalid
	}
	return nil
}

func asString(raw json.RawMessage) (*string, bool) {
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return nil, false
	}
	return &s, true
}

func asInt(raw json.RawMessage) (*int, bool) {
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n > math.MaxInt32 || n < math.MinInt32 {
		return nil, false
	}
	i := int(n)
	return &i, true
}

func asBool(raw json.RawMessage) (*bool, bool) {
	switch string(raw) {
	case "true":
		return new(true), true
	case "false":
		return new(false), true
	}
	return nil, false
}

// cookieSafe reports whether s may be a cookie value (RFC 6265 section
// 4.1.1): the route becomes the server's sticky cookie value.
func cookieSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == ',' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}

// parseTime reads a time as nginx does for values kept in seconds
// (fail_timeout, slow_start): units y, M, w, d, h, m, s in that order,
// "1m30s", a bare number meaning seconds; "ms" is refused.
func parseTime(s string) (time.Duration, bool) {
	units := []struct {
		c byte
		d time.Duration
	}{
		{'y', 365 * 24 * time.Hour}, {'M', 30 * 24 * time.Hour}, {'w', 7 * 24 * time.Hour},
		{'d', 24 * time.Hour}, {'h', time.Hour}, {'m', time.Minute}, {'s', time.Second},
	}
	var total time.Duration
	next := 0       // the first unit still allowed
	value := -1     // the number being read, -1 before its first digit
	const big = 1e9 // bounds a number so that the sum cannot overflow
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' {
			value = max(value, 0)*10 + int(c-'0')
			if value > big {
				return 0, false
			}
			continue
		}
		if value < 0 || (c == 'm' && i+1 < len(s) && s[i+1] == 's') {
			return 0, false
		}
		j := next
		for j < len(units) && units[j].c != c {
			j++
		}
		if j == len(units) {
			return 0, false
		}
		total += time.Duration(value) * units[j].d
		next, value = j+1, -1
	}
	if value >= 0 {
		if next == len(units) {
			return 0, false // "10s5": nginx refuses a number after seconds
		}
		total += time.Duration(value) * time.Second
	} else if next == 0 {
		return 0, false // empty
	}
	return total, true
}

// splitHostPort splits a server address, "host", "host:port", "[v6]" or
// "[v6]:port", with port 80 when none is written, as the configuration's
// `server` does. A unix-domain address, "unix:/path", is its own host,
// with no port. msg is nginx's complaint, or "".
func splitHostPort(s string) (host, port, msg string) {
	if upstream.IsUnix(s) {
		return s, "", checkUnixPath(s[len(upstream.UnixPrefix):])
	}
	rest := ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", "invalid host"
		}
		host, rest = s[1:end], s[end+1:]
		if ip, err := netip.ParseAddr(host); err != nil || !ip.Is6() {
			return "", "", "invalid IPv6 address"
		}
		if rest != "" && rest[0] != ':' {
			return "", "", "invalid host"
		}
	} else {
		host = s
		if i := strings.IndexByte(s, ':'); i >= 0 {
			host, rest = s[:i], s[i:]
		}
		if host == "" {
			return "", "", "no host"
		}
		if strings.ContainsAny(host, "/?#@[] \t") {
			return "", "", "invalid host"
		}
	}
	if rest == "" {
		return host, "80", ""
	}
	n, err := strconv.Atoi(rest[1:])
	if err != nil || n < 1 || n > 65535 || strings.ContainsAny(rest[1:], "+-") {
		return "", "", "invalid port"
	}
	return host, strconv.Itoa(n), ""
}
