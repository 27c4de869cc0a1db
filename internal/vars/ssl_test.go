package vars

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http/httptest"
	"testing"

	"github.com/limpet-lb/limpet/internal/config"
)

// TestCipherNamesMatchConfig: $ssl_cipher prints the names ssl_ciphers
// reads, for every suite config knows.
func TestCipherNamesMatchConfig(t *testing.T) {
	for id, name := range config.CipherNames() {
		if got := CipherName(id); got != name {
			t.Errorf("suite %#04x: $ssl_cipher %q, ssl_ciphers %q", id, got, name)
		}
	}
	if got := CipherName(tls.TLS_AES_256_GCM_SHA384); got != "TLS_AES_256_GCM_SHA384" {
		t.Errorf("TLS 1.3 suite: %q", got)
	}
}

func TestSSLVariables(t *testing.T) {
	leaf := &x509.Certificate{
		Raw:          []byte("der of the certificate"),
		Subject:      pkix.Name{CommonName: "alice", Organization: []string{"Org"}},
		Issuer:       pkix.Name{CommonName: "CA"},
		SerialNumber: big.NewInt(0xabc),
	}
	RecordClientVerify(leaf, ClientVerify{Result: "SUCCESS"})
	other := &x509.Certificate{Raw: []byte("x"), SerialNumber: big.NewInt(1)}
	RecordClientVerify(other, ClientVerify{Result: "FAILED:certificate has expired"})
	tlsReq := httptest.NewRequest("GET", "/", nil)
	tlsReq.TLS = &tls.ConnectionState{
		Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		ServerName: "a.test", DidResume: true, NegotiatedProtocol: "http/1.1", CurveID: tls.X25519,
		PeerCertificates: []*x509.Certificate{leaf},
	}
	failed := httptest.NewRequest("GET", "/", nil)
	failed.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, PeerCertificates: []*x509.Certificate{other}}
	noCert := httptest.NewRequest("GET", "/", nil)
	noCert.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256}
	plain := httptest.NewRequest("GET", "/", nil)
	tests := []struct {
		tpl  string
		r    *Request
		want string
	}{
		{"$https|$scheme|$ssl_protocol|$ssl_cipher|$ssl_server_name|$ssl_session_reused|$ssl_alpn_protocol|$ssl_curve|$ssl_early_data", &Request{R: tlsReq},
			"on|https|TLSv1.2|ECDHE-RSA-AES128-GCM-SHA256|a.test|r|http/1.1|X25519|"},
		{"$ssl_client_verify|$ssl_client_s_dn|$ssl_client_i_dn|$ssl_client_serial|$ssl_client_fingerprint", &Request{R: tlsReq},
			"SUCCESS|CN=alice,O=Org|CN=CA|ABC|a81ce1652f3f98225611b080bbf73325b67009b9"},
		{"$ssl_client_verify", &Request{R: failed}, "FAILED:certificate has expired"},
		// "der of the certificate" in base64 is ZGVyIG9mIHRoZSBjZXJ0aWZpY2F0ZQ==.
		{"$ssl_client_raw_cert", &Request{R: tlsReq}, "-----BEGIN CERTIFICATE-----\nZGVyIG9mIHRoZSBjZXJ0aWZpY2F0ZQ==\n-----END CERTIFICATE-----\n"},
		{"$ssl_client_cert", &Request{R: tlsReq}, "-----BEGIN CERTIFICATE-----\n\tZGVyIG9mIHRoZSBjZXJ0aWZpY2F0ZQ==\n\t-----END CERTIFICATE-----"},
		{"$ssl_client_escaped_cert", &Request{R: tlsReq}, "-----BEGIN%20CERTIFICATE-----%0AZGVyIG9mIHRoZSBjZXJ0aWZpY2F0ZQ%3D%3D%0A-----END%20CERTIFICATE-----%0A"},
		{"$ssl_client_verify|$ssl_client_s_dn|$ssl_session_reused|$ssl_cipher", &Request{R: noCert}, "NONE||.|TLS_AES_128_GCM_SHA256"},
		{"[$https|$ssl_protocol|$ssl_client_verify]", &Request{R: plain}, "[||]"},
	}
	for _, tt := range tests {
		t.Run(tt.tpl, func(t *testing.T) {
			tpl, err := Compile(tt.tpl)
			if err != nil {
				t.Fatal(err)
			}
			if got := tpl.Expand(tt.r); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
