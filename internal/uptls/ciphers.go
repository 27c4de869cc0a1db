package uptls

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
)

// This file maps proxy_ssl_ciphers, a cipher list in OpenSSL's syntax,
// to Go's cipher suites. It is limpet's own small table for the TLS
// client; the TLS termination side has its own for ssl_ciphers, and the
// two are meant to become one.
//
// Go's TLS 1.3 suites cannot be chosen (nor can OpenSSL's through this
// directive: they are set by Ciphersuites), so TLS 1.3 names are accepted
// and change nothing. Of the TLS 1.2 and older suites, Go has the ECDHE
// and RSA key exchanges with AES, ChaCha20, 3DES and RC4; a list element
// naming only what Go lacks (DHE, PSK, Camellia, ...) selects nothing,
// as it would in an OpenSSL without those suites, and a name neither
// OpenSSL nor this table knows is an error.

// suiteTags are the OpenSSL words that select each suite Go has, by the
// suite's OpenSSL name.
var suiteTags = func() map[string][]string {
	secure := map[uint16]bool{}
	for _, cs := range tls.CipherSuites() {
		secure[cs.ID] = true
	}
	m := make(map[string][]string)
	for name, id := range openSSLSuites {
		tags := tagsOf(name)
		if !secure[id] {
			// HIGH (and DEFAULT) stand for what Go deems secure.
			tags = slices.DeleteFunc(tags, func(t string) bool { return t == "HIGH" })
		}
		m[name] = tags
	}
	return m
}()

// openSSLSuites maps OpenSSL's names of the suites Go has to their IDs.
var openSSLSuites = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"ECDHE-ECDSA-AES128-SHA256":     tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-RSA-AES128-SHA256":       tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	"AES128-SHA256":                 tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
	"DES-CBC3-SHA":                  tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
	"ECDHE-RSA-DES-CBC3-SHA":        tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA,
	"RC4-SHA":                       tls.TLS_RSA_WITH_RC4_128_SHA,
	"ECDHE-RSA-RC4-SHA":             tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA,
	"ECDHE-ECDSA-RC4-SHA":           tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA,
}

// tagsOf derives the OpenSSL words that select a suite from its name.
func tagsOf(name string) []string {
	t := []string{"ALL", name}
	switch {
	case strings.HasPrefix(name, "ECDHE-ECDSA-"):
		t = append(t, "ECDHE", "EECDH", "kECDHE", "kEECDH", "aECDSA", "ECDSA")
	case strings.HasPrefix(name, "ECDHE-RSA-"):
		t = append(t, "ECDHE", "EECDH", "kECDHE", "kEECDH", "aRSA")
	default:
		t = append(t, "RSA", "kRSA", "aRSA")
	}
	switch {
	case strings.Contains(name, "AES128-GCM"):
		t = append(t, "AESGCM", "AES", "AES128", "HIGH", "TLSv1.2")
	case strings.Contains(name, "AES256-GCM"):
		t = append(t, "AESGCM", "AES", "AES256", "HIGH", "TLSv1.2")
	case strings.Contains(name, "AES128"):
		t = append(t, "AES", "AES128", "HIGH")
	case strings.Contains(name, "AES256"):
		t = append(t, "AES", "AES256", "HIGH")
	case strings.Contains(name, "CHACHA20"):
		t = append(t, "CHACHA20", "HIGH", "TLSv1.2")
	case strings.Contains(name, "DES-CBC3"):
		t = append(t, "3DES", "MEDIUM")
	case strings.Contains(name, "RC4"):
		t = append(t, "RC4", "MEDIUM")
	}
	switch {
	case strings.HasSuffix(name, "-SHA256"):
		t = append(t, "SHA256", "TLSv1.2")
	case strings.HasSuffix(name, "-SHA384"):
		t = append(t, "SHA384", "TLSv1.2")
	case strings.HasSuffix(name, "-SHA"):
		t = append(t, "SHA1", "SHA", "SSLv3", "TLSv1")
	}
	return t
}

// emptyWords are OpenSSL words that select no suite Go has: accepted,
// they select nothing.
var emptyWords = map[string]bool{
	"aNULL": true, "eNULL": true, "NULL": true, "COMPLEMENTOFALL": true, "COMPLEMENTOFDEFAULT": true,
	"MD5": true, "RC2": true, "IDEA": true, "SEED": true, "DES": true, "LOW": true, "EXP": true, "EXPORT": true,
	"CAMELLIA": true, "CAMELLIA128": true, "CAMELLIA256": true, "ARIA": true, "ARIA128": true, "ARIA256": true,
	"DSS": true, "aDSS": true, "DH": true, "DHE": true, "EDH": true, "kDHE": true, "kEDH": true, "kDH": true,
	"aDH": true, "ADH": true, "AECDH": true, "ECDH": true, "kECDH": true, "aECDH": true, "PSK": true,
	"kPSK": true, "aPSK": true, "kECDHEPSK": true, "kDHEPSK": true, "kRSAPSK": true, "SRP": true, "kSRP": true,
	"aSRP": true, "CCM": true, "AESCCM": true, "AESCCM8": true, "CCM8": true, "GOST94": true,
	"GOST89MAC": true, "aGOST": true, "kGOST": true, "aGOST01": true, "SUITEB128": true, "SUITEB128ONLY": true,
	"SUITEB192": true, "CHACHA20-POLY1305": true,
}

// missingPrefixes begin OpenSSL suite names of key exchanges and ciphers
// Go does not have.
var missingPrefixes = []string{"DHE-", "EDH-", "DH-", "ADH-", "AECDH-", "ECDH-", "PSK-", "RSA-PSK-",
	"DHE-PSK-", "ECDHE-PSK-", "SRP-", "EXP-", "EXP1024-", "CAMELLIA", "SEED-", "IDEA-", "ARIA", "NULL-",
	"DES-CBC-", "RC4-MD5", "GOST"}

// missingParts mark OpenSSL suite names Go lacks wherever they stand.
var missingParts = []string{"-CAMELLIA", "-ARIA", "-CCM", "-NULL-", "-SEED-"}

// CipherSuites returns the Go cipher suites of an OpenSSL cipher list;
// nil means Go's defaults (the list "DEFAULT"). A name OpenSSL would not
// know, or a list that selects no suite, is an error.
func CipherSuites(list string) ([]uint16, error) {
	if strings.TrimSpace(list) == "DEFAULT" {
		return nil, nil
	}
	var chosen []string
	banned := map[string]bool{}
	for _, elem := range strings.FieldsFunc(list, func(r rune) bool { return r == ':' || r == ',' || r == ' ' }) {
		op := byte(0)
		if c := elem[0]; c == '!' || c == '-' || c == '+' {
			op, elem = c, elem[1:]
		}
		if strings.HasPrefix(elem, "@") {
			continue // @STRENGTH, @SECLEVEL=N: orderings and levels Go has its own of
		}
		sel, err := selectSuites(elem)
		if err != nil {
			return nil, err
		}
		switch op {
		case '!':
			for _, n := range sel {
				banned[n] = true
			}
			chosen = slices.DeleteFunc(chosen, func(n string) bool { return banned[n] })
		case '-':
			chosen = slices.DeleteFunc(chosen, func(n string) bool { return slices.Contains(sel, n) })
		case '+':
			// Moves the suites to the end in OpenSSL; Go orders suites
			// itself.
		default:
			for _, n := range sel {
				if !banned[n] && !slices.Contains(chosen, n) {
					chosen = append(chosen, n)
				}
			}
		}
	}
	if len(chosen) == 0 {
		return nil, fmt.Errorf("no cipher match in %q", list)
	}
	ids := make([]uint16, len(chosen))
	for i, n := range chosen {
		ids[i] = openSSLSuites[n]
	}
	return ids, nil
}

// selectSuites returns the OpenSSL names of Go's suites one element
// selects: a suite's name, a word, or words joined by "+" (all must
// match).
func selectSuites(elem string) ([]string, error) {
	words := strings.Split(elem, "+")
	var out []string
	for _, w := range words {
		if w == "" || !knownWord(w) {
			return nil, fmt.Errorf("unknown cipher %q", elem)
		}
	}
	for name, tags := range suiteTags {
		all := true
		for _, w := range words {
			if !matches(w, tags) {
				all = false
				break
			}
		}
		if all {
			out = append(out, name)
		}
	}
	slices.Sort(out) // a stable result for the same list
	return out, nil
}

// matches reports whether word selects a suite with tags; DEFAULT and
// HIGH select Go's secure suites only.
func matches(word string, tags []string) bool {
	if word == "DEFAULT" {
		word = "HIGH"
	}
	return slices.Contains(tags, word)
}

// knownWord reports whether OpenSSL knows word: a suite or cipher word
// of the table, one that selects nothing Go has, or a TLS 1.3 suite.
func knownWord(w string) bool {
	if w == "DEFAULT" || emptyWords[w] || strings.HasPrefix(w, "TLS_") {
		return true
	}
	for _, tags := range suiteTags {
		if slices.Contains(tags, w) {
			return true
		}
	}
	for _, p := range missingPrefixes {
		if strings.HasPrefix(w, p) {
			return true
		}
	}
	for _, p := range missingParts {
		if strings.Contains(w, p) {
			return true
		}
	}
	return false
}
