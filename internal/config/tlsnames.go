package config

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
)

// This file maps OpenSSL's names, which nginx's ssl_* directives use, to
// what crypto/tls calls the same things: cipher suites (ssl_ciphers),
// protocol versions (ssl_protocols) and groups (ssl_ecdh_curve). It lives in config, not with
// the rest of the TLS code (internal/tlsconf), because the configuration
// must refuse an unknown name at its line.

// suiteInfo is one cipher suite crypto/tls implements for TLS 1.0 to 1.2,
// with the attributes OpenSSL's cipher-string keywords select by.
type suiteInfo struct {
	id      uint16
	openssl string // OpenSSL's name, as $ssl_cipher prints it
	kx      string // key exchange: "ECDHE" or "RSA"
	auth    string // authentication: "RSA" or "ECDSA"
	enc     string // "AES128GCM", "AES256GCM", "CHACHA20", "AES128", "AES256", "3DES", "RC4"
	mac     string // "AEAD", "SHA1" or "SHA256"
	tls12   bool   // usable with TLS 1.2 only
	bits    int    // the cipher's key length, for @STRENGTH
}

// suites is every TLS 1.0–1.2 suite crypto/tls implements, in its order
// of preference (tls.CipherSuites first, then tls.InsecureCipherSuites).
var suites = []suiteInfo{
	{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE", "ECDSA", "AES128GCM", "AEAD", true, 128},
	{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE", "RSA", "AES128GCM", "AEAD", true, 128},
	{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE", "ECDSA", "AES256GCM", "AEAD", true, 256},
	{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE", "RSA", "AES256GCM", "AEAD", true, 256},
	{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE", "ECDSA", "CHACHA20", "AEAD", true, 256},
	{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-RSA-CHACHA20-POLY1305", "ECDHE", "RSA", "CHACHA20", "AEAD", true, 256},
	{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, "ECDHE-ECDSA-AES128-SHA", "ECDHE", "ECDSA", "AES128", "SHA1", false, 128},
	{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, "ECDHE-RSA-AES128-SHA", "ECDHE", "RSA", "AES128", "SHA1", false, 128},
	{tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, "ECDHE-ECDSA-AES256-SHA", "ECDHE", "ECDSA", "AES256", "SHA1", false, 256},
	{tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, "ECDHE-RSA-AES256-SHA", "ECDHE", "RSA", "AES256", "SHA1", false, 256},
	{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, "AES128-GCM-SHA256", "RSA", "RSA", "AES128GCM", "AEAD", true, 128},
	{tls.TLS_RSA_WITH_AES_256_GCM_SHA384, "AES256-GCM-SHA384", "RSA", "RSA", "AES256GCM", "AEAD", true, 256},
	{tls.TLS_RSA_WITH_AES_128_CBC_SHA, "AES128-SHA", "RSA", "RSA", "AES128", "SHA1", false, 128},
	{tls.TLS_RSA_WITH_AES_256_CBC_SHA, "AES256-SHA", "RSA", "RSA", "AES256", "SHA1", false, 256},
	{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, "ECDHE-ECDSA-AES128-SHA256", "ECDHE", "ECDSA", "AES128", "SHA256", true, 128},
	{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, "ECDHE-RSA-AES128-SHA256", "ECDHE", "RSA", "AES128", "SHA256", true, 128},
	{tls.TLS_RSA_WITH_AES_128_CBC_SHA256, "AES128-SHA256", "RSA", "RSA", "AES128", "SHA256", true, 128},
	{tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, "ECDHE-RSA-DES-CBC3-SHA", "ECDHE", "RSA", "3DES", "SHA1", false, 112},
	{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, "DES-CBC3-SHA", "RSA", "RSA", "3DES", "SHA1", false, 112},
	{tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA, "ECDHE-ECDSA-RC4-SHA", "ECDHE", "ECDSA", "RC4", "SHA1", false, 128},
	{tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA, "ECDHE-RSA-RC4-SHA", "ECDHE", "RSA", "RC4", "SHA1", false, 128},
	{tls.TLS_RSA_WITH_RC4_128_SHA, "RC4-SHA", "RSA", "RSA", "RC4", "SHA1", false, 128},
}

// CipherNames returns OpenSSL's names of the TLS 1.0–1.2 suites
// ssl_ciphers can select, by crypto/tls's ID: internal/vars prints the
// same names in $ssl_cipher, and its test holds the two tables alike.
func CipherNames() map[uint16]string {
	m := make(map[uint16]string, len(suites))
	for _, s := range suites {
		m[s.id] = s.openssl
	}
	return m
}

// protocolVersions are the values of ssl_protocols crypto/tls speaks.
var protocolVersions = map[string]uint16{
	"TLSv1":   tls.VersionTLS10,
	"TLSv1.1": tls.VersionTLS11,
	"TLSv1.2": tls.VersionTLS12,
	"TLSv1.3": tls.VersionTLS13,
}

// curveNames are the names ssl_ecdh_curve takes (OpenSSL's group names,
// the NIST ones too) for the groups crypto/tls implements.
var curveNames = map[string]tls.CurveID{
	"x25519":         tls.X25519,
	"prime256v1":     tls.CurveP256,
	"secp256r1":      tls.CurveP256,
	"p-256":          tls.CurveP256,
	"secp384r1":      tls.CurveP384,
	"p-384":          tls.CurveP384,
	"secp521r1":      tls.CurveP521,
	"p-521":          tls.CurveP521,
	"x25519mlkem768": tls.X25519MLKEM768,
}

// cipherOutcome is what parseCiphers made of an ssl_ciphers string: the
// suites it allows, in its order, and the names OpenSSL knows that
// crypto/tls does not implement, which are skipped (as OpenSSL skips
// names it lacks).
type cipherOutcome struct {
	ids     []uint16
	skipped []string
}

// opensslOnly are the cipher-string words OpenSSL knows that select no
// suite crypto/tls implements (key exchanges, ciphers and digests Go
// lacks, or that it refuses as insecure), whole names and keywords alike.
var opensslOnly = []string{
	"DHE-", "EDH-", "DH-", "ADH-", "AECDH-", "PSK-", "SRP-", "RSA-PSK-", "DHE-PSK-", "ECDHE-PSK-",
	"CAMELLIA", "ARIA", "SEED", "IDEA", "GOST", "CCM", "NULL", "EXP", "DES-CBC-",
}

// cipherKeywords are OpenSSL's cipher-string keywords, each as the set of
// crypto/tls suites it selects (empty for those that select none of them).
func cipherKeyword(word string) (func(*suiteInfo) bool, bool) {
	is := func(f func(*suiteInfo) bool) (func(*suiteInfo) bool, bool) { return f, true }
	none := func(*suiteInfo) bool { return false }
	switch word {
	case "ALL":
		return is(func(*suiteInfo) bool { return true })
	case "DEFAULT":
		return is(func(s *suiteInfo) bool { return s.enc != "3DES" && s.enc != "RC4" })
	case "HIGH":
		return is(func(s *suiteInfo) bool { return s.enc != "3DES" && s.enc != "RC4" })
	case "MEDIUM":
		return is(func(s *suiteInfo) bool { return s.enc == "3DES" || s.enc == "RC4" })
	case "ECDHE", "EECDH", "kECDHE", "kEECDH", "ECDH", "kECDH":
		return is(func(s *suiteInfo) bool { return s.kx == "ECDHE" })
	case "RSA", "kRSA":
		return is(func(s *suiteInfo) bool { return s.kx == "RSA" })
	case "aRSA":
		return is(func(s *suiteInfo) bool { return s.auth == "RSA" })
	case "aECDSA", "ECDSA":
		return is(func(s *suiteInfo) bool { return s.auth == "ECDSA" })
	case "AES":
		return is(func(s *suiteInfo) bool { return strings.HasPrefix(s.enc, "AES") })
	case "AES128":
		return is(func(s *suiteInfo) bool { return strings.HasPrefix(s.enc, "AES128") })
	case "AES256":
		return is(func(s *suiteInfo) bool { return strings.HasPrefix(s.enc, "AES256") })
	case "AESGCM":
		return is(func(s *suiteInfo) bool { return strings.HasSuffix(s.enc, "GCM") })
	case "CHACHA20":
		return is(func(s *suiteInfo) bool { return s.enc == "CHACHA20" })
	case "3DES":
		return is(func(s *suiteInfo) bool { return s.enc == "3DES" })
	case "RC4":
		return is(func(s *suiteInfo) bool { return s.enc == "RC4" })
	case "SHA1", "SHA":
		return is(func(s *suiteInfo) bool { return s.mac == "SHA1" })
	case "SHA256":
		return is(func(s *suiteInfo) bool { return s.mac == "SHA256" })
	case "AEAD":
		return is(func(s *suiteInfo) bool { return s.mac == "AEAD" })
	case "TLSv1.2":
		return is(func(s *suiteInfo) bool { return s.tls12 })
	case "TLSv1", "SSLv3", "TLSv1.0":
		return is(func(s *suiteInfo) bool { return !s.tls12 })
	case "LOW", "EXPORT", "EXP", "aNULL", "eNULL", "NULL", "COMPLEMENTOFDEFAULT", "COMPLEMENTOFALL",
		"MD5", "DES", "IDEA", "SEED", "DSS", "aDSS", "PSK", "SRP", "CAMELLIA", "CAMELLIA128", "CAMELLIA256",
		"ARIA", "ARIA128", "ARIA256", "ARIAGCM", "CCM", "CCM8", "AESCCM", "AESCCM8", "DHE", "EDH", "kDHE", "kEDH",
		"ADH", "AECDH", "aPSK", "kPSK", "kECDHEPSK", "kDHEPSK", "kRSAPSK", "aGOST", "GOST94", "GOST89MAC",
		"kGOST", "aDH", "kDHr", "kDHd", "kDH", "aECDH", "SHA384", "RC2", "SSLv2", "aSRP", "kSRP",
		"SUITEB128", "SUITEB128ONLY", "SUITEB192", "CBC":
		return none, true
	}
	return nil, false
}

// parseCiphers reads an OpenSSL cipher string (ssl_ciphers) over the
// suites crypto/tls implements: words separated by ':' (or ',' or
// spaces), each a suite name or a keyword, or several joined by '+' (all
// must match), optionally prefixed by '!' (removed for good), '-'
// (removed) or '+' (moved to the end); "@STRENGTH" sorts by key length,
// "@SECLEVEL=N" is accepted. It returns an error for a word OpenSSL does
// not know either.
func parseCiphers(spec string) (cipherOutcome, error) {
	var out cipherOutcome
	var list []int // indices into suites, in the string's order
	banned := make(map[int]bool)
	words := strings.FieldsFunc(spec, func(r rune) bool { return r == ':' || r == ',' || r == ' ' })
	for _, w := range words {
		op := byte(0)
		if w[0] == '!' || w[0] == '-' || w[0] == '+' {
			op, w = w[0], w[1:]
		}
		switch {
		case w == "@STRENGTH":
			slices.SortStableFunc(list, func(a, b int) int { return suites[b].bits - suites[a].bits })
			continue
		case strings.HasPrefix(w, "@SECLEVEL="):
			continue
		case strings.HasPrefix(w, "TLS_"):
			// A TLS 1.3 suite: OpenSSL takes them from another
			// setting, and crypto/tls has none.
			out.skipped = append(out.skipped, w)
			continue
		}
		match, known := cipherMatcher(w)
		if !known {
			if opensslName(w) {
				out.skipped = append(out.skipped, w)
				continue
			}
			return out, fmt.Errorf("unknown cipher %q", w)
		}
		switch op {
		case '!':
			for i := range suites {
				if match(&suites[i]) {
					banned[i] = true
				}
			}
			list = slices.DeleteFunc(list, func(i int) bool { return banned[i] })
		case '-':
			list = slices.DeleteFunc(list, func(i int) bool { return match(&suites[i]) })
		case '+':
			var moved []int
			list = slices.DeleteFunc(list, func(i int) bool {
				if match(&suites[i]) {
					moved = append(moved, i)
					return true
				}
				return false
			})
			list = append(list, moved...)
		default:
			for i := range suites {
				if match(&suites[i]) && !banned[i] && !slices.Contains(list, i) {
					list = append(list, i)
				}
			}
		}
	}
	if len(list) == 0 {
		return out, fmt.Errorf("no cipher match")
	}
	for _, i := range list {
		out.ids = append(out.ids, suites[i].id)
	}
	return out, nil
}

// cipherMatcher returns the predicate of one word: a suite name, a
// keyword, or keywords joined by '+'.
func cipherMatcher(w string) (func(*suiteInfo) bool, bool) {
	for i := range suites {
		if suites[i].openssl == w {
			id := suites[i].id
			return func(s *suiteInfo) bool { return s.id == id }, true
		}
	}
	parts := strings.Split(w, "+")
	var preds []func(*suiteInfo) bool
	for _, p := range parts {
		f, ok := cipherKeyword(p)
		if !ok {
			return nil, false
		}
		preds = append(preds, f)
	}
	return func(s *suiteInfo) bool {
		for _, f := range preds {
			if !f(s) {
				return false
			}
		}
		return true
	}, true
}

// opensslName reports whether w is a name OpenSSL knows for a suite
// crypto/tls does not implement.
func opensslName(w string) bool {
	switch w {
	case "ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384", "AES256-SHA256", "ECDHE-ECDSA-DES-CBC3-SHA",
		"ECDHE-ECDSA-AES128-CCM", "ECDHE-ECDSA-AES256-CCM", "RC4-MD5":
		return true
	}
	for _, p := range opensslOnly {
		if strings.HasPrefix(w, p) || strings.Contains(w, "-"+p) {
			return true
		}
	}
	return false
}
