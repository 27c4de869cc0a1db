package vars

import (
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"weak"
)

// The variables of ngx_http_ssl_module, and $https. They are empty on a
// connection without TLS (nginx's "not found").
const (
	kHTTPS kind = 200 + iota // after the kinds of vars.go
	kSSLProtocol
	kSSLCipher
	kSSLServerName
	kSSLSessionReused
	kSSLALPNProtocol
	kSSLClientVerify
	kSSLClientSDN
	kSSLClientIDN
	kSSLClientSerial
	kSSLClientFingerprint
	kSSLClientCert
	kSSLClientRawCert
	kSSLClientEscapedCert
	kSSLEarlyData
	kSSLCurve
)

func init() {
	for name, k := range map[string]kind{
		"https":                   kHTTPS,
		"ssl_protocol":            kSSLProtocol,
		"ssl_cipher":              kSSLCipher,
		"ssl_server_name":         kSSLServerName,
		"ssl_session_reused":      kSSLSessionReused,
		"ssl_alpn_protocol":       kSSLALPNProtocol,
		"ssl_client_verify":       kSSLClientVerify,
		"ssl_client_s_dn":         kSSLClientSDN,
		"ssl_client_i_dn":         kSSLClientIDN,
		"ssl_client_serial":       kSSLClientSerial,
		"ssl_client_fingerprint":  kSSLClientFingerprint,
		"ssl_client_cert":         kSSLClientCert,
		"ssl_client_raw_cert":     kSSLClientRawCert,
		"ssl_client_escaped_cert": kSSLClientEscapedCert,
		"ssl_early_data":          kSSLEarlyData,
		"ssl_curve":               kSSLCurve,
	} {
		simple[name] = k
	}
}

// ClientVerify is the outcome of a client certificate's verification, as
// $ssl_client_verify shows it.
type ClientVerify struct {
	// Result is "SUCCESS" or "FAILED:reason", reason in OpenSSL's words.
	Result string
	// Optional is set for the failures ssl_verify_client optional_no_ca
	// lets through: the issuer is unknown or the certificate self-signed.
	Optional bool
}

// verifyResults maps the leaf certificate of each TLS connection whose
// client sent one, by a weak pointer, to its verification. crypto/tls
// gives the same *x509.Certificate to the handshake's VerifyConnection
// and to every later ConnectionState of the connection, and parses a new
// one for each connection, so the entry lives exactly as long as the
// connection's certificate: a cleanup deletes it once the certificate is
// collected.
var verifyResults sync.Map // weak.Pointer[x509.Certificate] → ClientVerify

// RecordClientVerify records the verification of a connection's client
// certificate, whose leaf is leaf; internal/tlsconf calls it in the
// handshake.
func RecordClientVerify(leaf *x509.Certificate, v ClientVerify) {
	k := weak.Make(leaf)
	if _, loaded := verifyResults.Swap(k, v); !loaded {
		runtime.AddCleanup(leaf, func(k weak.Pointer[x509.Certificate]) { verifyResults.Delete(k) }, k)
	}
}

// ClientVerifyOf returns the recorded verification of the client
// certificate of a connection in state cs; ok is false when the client
// sent none.
func ClientVerifyOf(cs *tls.ConnectionState) (v ClientVerify, ok bool) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return ClientVerify{}, false
	}
	if r, found := verifyResults.Load(weak.Make(cs.PeerCertificates[0])); found {
		return r.(ClientVerify), true
	}
	// A certificate nobody verified (ssl_verify_client off asks for none).
	return ClientVerify{Result: "FAILED:certificate verify error"}, true
}

// appendSSL appends the value of one of the TLS variables.
func appendSSL(dst []byte, k kind, hr *http.Request) []byte {
	if hr == nil || hr.TLS == nil {
		return dst
	}
	cs := hr.TLS
	switch k {
	case kHTTPS:
		return append(dst, "on"...)
	case kSSLProtocol:
		return append(dst, protocolName(cs.Version)...)
	case kSSLCipher:
		return append(dst, CipherName(cs.CipherSuite)...)
	case kSSLServerName:
		return append(dst, cs.ServerName...)
	case kSSLSessionReused:
		if cs.DidResume {
			return append(dst, 'r')
		}
		return append(dst, '.')
	case kSSLALPNProtocol:
		return append(dst, cs.NegotiatedProtocol...)
	case kSSLEarlyData:
		// "1" in nginx for a request sent in 0-RTT data, which Go's
		// TLS never accepts.
		return dst
	case kSSLCurve:
		return append(dst, curveName(cs.CurveID)...)
	case kSSLClientVerify:
		v, ok := ClientVerifyOf(cs)
		if !ok {
			return append(dst, "NONE"...)
		}
		return append(dst, v.Result...)
	}
	if len(cs.PeerCertificates) == 0 {
		return dst
	}
	leaf := cs.PeerCertificates[0]
	switch k {
	case kSSLClientSDN:
		// RFC 2253, as nginx ≥ 1.11.6 prints it.
		return append(dst, leaf.Subject.String()...)
	case kSSLClientIDN:
		return append(dst, leaf.Issuer.String()...)
	case kSSLClientSerial:
		return append(dst, strings.ToUpper(leaf.SerialNumber.Text(16))...)
	case kSSLClientFingerprint:
		sum := sha1.Sum(leaf.Raw)
		return hex.AppendEncode(dst, sum[:])
	case kSSLClientRawCert:
		return append(dst, pemOf(leaf)...)
	case kSSLClientCert:
		// Deprecated in nginx: every line but the first starts with a tab.
		p := strings.TrimSuffix(pemOf(leaf), "\n")
		return append(dst, strings.ReplaceAll(p, "\n", "\n\t")...)
	case kSSLClientEscapedCert:
		return appendEscaped(dst, pemOf(leaf))
	}
	return dst
}

func pemOf(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

// CipherName returns OpenSSL's name of a cipher suite, as nginx's
// $ssl_cipher prints it ("ECDHE-RSA-AES128-GCM-SHA256",
// "TLS_AES_128_GCM_SHA256"), or crypto/tls's name for one OpenSSL does not
// name. (config's table, which reads ssl_ciphers, holds the same names; a
// test keeps the two alike, as vars may not import config.)
func CipherName(id uint16) string {
	if n, ok := opensslCiphers[id]; ok {
		return n
	}
	return tls.CipherSuiteName(id)
}

// opensslCiphers are OpenSSL's names of crypto/tls's suites.
var opensslCiphers = map[uint16]string{
	tls.TLS_AES_128_GCM_SHA256:                        "TLS_AES_128_GCM_SHA256",
	tls.TLS_AES_256_GCM_SHA384:                        "TLS_AES_256_GCM_SHA384",
	tls.TLS_CHACHA20_POLY1305_SHA256:                  "TLS_CHACHA20_POLY1305_SHA256",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       "ECDHE-ECDSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:         "ECDHE-RSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       "ECDHE-ECDSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:         "ECDHE-RSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:   "ECDHE-RSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA:          "ECDHE-ECDSA-AES128-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:            "ECDHE-RSA-AES128-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA:          "ECDHE-ECDSA-AES256-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA:            "ECDHE-RSA-AES256-SHA",
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256:               "AES128-GCM-SHA256",
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384:               "AES256-GCM-SHA384",
	tls.TLS_RSA_WITH_AES_128_CBC_SHA:                  "AES128-SHA",
	tls.TLS_RSA_WITH_AES_256_CBC_SHA:                  "AES256-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256:       "ECDHE-ECDSA-AES128-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256:         "ECDHE-RSA-AES128-SHA256",
	tls.TLS_RSA_WITH_AES_128_CBC_SHA256:               "AES128-SHA256",
	tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA:           "ECDHE-RSA-DES-CBC3-SHA",
	tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA:                 "DES-CBC3-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA:              "ECDHE-ECDSA-RC4-SHA",
	tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA:                "ECDHE-RSA-RC4-SHA",
	tls.TLS_RSA_WITH_RC4_128_SHA:                      "RC4-SHA",
}

// protocolName returns OpenSSL's name of a TLS version, as $ssl_protocol
// prints it.
func protocolName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return ""
}

// curveName returns OpenSSL's name of a key exchange group, as
// $ssl_curve prints it.
func curveName(id tls.CurveID) string {
	switch id {
	case 0:
		return ""
	case tls.CurveP256:
		return "prime256v1"
	case tls.CurveP384:
		return "secp384r1"
	case tls.CurveP521:
		return "secp521r1"
	case tls.X25519:
		return "X25519"
	case tls.X25519MLKEM768:
		return "X25519MLKEM768"
	}
	return id.String()
}

// appendEscaped appends s with every byte but letters, digits and "-._~"
// percent-encoded in upper case, as nginx's ngx_escape_uri escapes a URI
// component for $ssl_client_escaped_cert ("-----BEGIN%20CERTIFICATE...").
func appendEscaped(dst []byte, s string) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&15])
	}
	return dst
}
