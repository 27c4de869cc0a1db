package config

import (
	"crypto/tls"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/tlstest"
)

// tlsFiles writes the files the TLS tests refer to and returns their
// paths by name: a good RSA pair ("crt", "key"), an ECDSA one ("ecrt",
// "ekey"), an expired and a future certificate, a file of no PEM, a CA,
// and ticket keys of 48, 80 and 47 bytes.
func tlsFiles(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "Test Root")
	f := map[string]string{}
	f["crt"], f["key"] = ca.Issue(t, "a.test", tlstest.Opts{}).Write(t, dir, "a")
	f["ecrt"], f["ekey"] = ca.Issue(t, "a.test", tlstest.Opts{ECDSA: true}).Write(t, dir, "ec")
	f["oldcrt"], f["oldkey"] = ca.Issue(t, "old", tlstest.Opts{ECDSA: true, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)}).Write(t, dir, "old")
	f["newcrt"], f["newkey"] = ca.Issue(t, "new", tlstest.Opts{ECDSA: true, NotBefore: time.Now().Add(24 * time.Hour), NotAfter: time.Now().Add(48 * time.Hour)}).Write(t, dir, "new")
	f["junk"] = filepath.Join(dir, "junk.pem")
	tlstest.WriteFile(t, f["junk"], []byte("not a certificate\n"))
	f["ca"] = filepath.Join(dir, "ca.pem")
	tlstest.WriteFile(t, f["ca"], ca.PEM())
	for name, n := range map[string]int{"tk48": 48, "tk80": 80, "tk47": 47} {
		f[name] = filepath.Join(dir, name)
		tlstest.WriteFile(t, f[name], []byte(strings.Repeat("k", n)))
	}
	return f
}

// expand replaces {{name}} by the files' paths.
func expand(s string, files map[string]string) string {
	for k, v := range files {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	return s
}

func TestSSLErrors(t *testing.T) {
	files := tlsFiles(t)
	srv := "server {\n listen 443 ssl;\n"
	pair := " ssl_certificate {{crt}};\n ssl_certificate_key {{key}};\n"
	tests := []struct {
		name, src, want string
	}{
		{"no certificate", "server {\n listen 443 ssl;\n}", `no "ssl_certificate" is defined for the "listen ... ssl" directive in FILE:1`},
		{"no certificate for the default server", "server {\n listen 443 ssl;\n" + pair + "}\nserver {\n listen 443 default_server;\n}",
			`no "ssl_certificate" is defined for the "listen ... ssl" directive in FILE:6`},
		{"ssl on without certificate", "server {\n ssl on;\n}", `no "ssl_certificate" is defined for the "listen ... ssl" directive in FILE:1`},
		{"no PEM", srv + " ssl_certificate {{junk}};\n ssl_certificate_key {{key}};\n}", `cannot load certificate "{{junk}}": no PEM certificate found in FILE:3`},
		{"missing file", srv + " ssl_certificate /nonexistent/a.crt;\n ssl_certificate_key {{key}};\n}", `cannot load certificate "/nonexistent/a.crt": open /nonexistent/a.crt: no such file or directory in FILE:3`},
		{"key of another certificate", srv + " ssl_certificate {{crt}};\n ssl_certificate_key {{ekey}};\n}", `cannot load certificate key "{{ekey}}": it does not match the certificate "{{crt}}" in FILE:4`},
		{"key not PEM", srv + " ssl_certificate {{crt}};\n ssl_certificate_key {{junk}};\n}", `cannot load certificate key "{{junk}}": failed to find any PEM data in key input in FILE:4`},
		{"no key", srv + " ssl_certificate {{crt}};\n}", `no "ssl_certificate_key" is defined for certificate "{{crt}}" in FILE:3`},
		{"second pair without key", srv + pair + " ssl_certificate {{ecrt}};\n}", `no "ssl_certificate_key" is defined for certificate "{{ecrt}}" in FILE:5`},
		{"variables in the path", srv + " ssl_certificate /etc/$ssl_server_name.crt;\n}", `variables in the "ssl_certificate" directive are not supported by limpet in FILE:3`},
		{"in a location", "server {\n location / {\n ssl_certificate {{crt}};\n }\n}", `"ssl_certificate" directive is not allowed here in FILE:3`},
		{"unknown protocol", srv + pair + " ssl_protocols TLSv1.2 TLSv2;\n}", `invalid value "TLSv2" in "ssl_protocols" directive in FILE:5`},
		{"only SSLv3", srv + pair + " ssl_protocols SSLv3;\n}", `no protocol of "ssl_protocols" is supported by limpet in FILE:5`},
		{"unknown cipher", srv + pair + " ssl_ciphers HIGH:FOO-BAR;\n}", `unknown cipher "FOO-BAR" in "ssl_ciphers" "HIGH:FOO-BAR" in FILE:5`},
		{"no cipher match", srv + pair + " ssl_ciphers aNULL:eNULL;\n}", `no cipher match in "ssl_ciphers" "aNULL:eNULL" in FILE:5`},
		{"duplicate ciphers", srv + pair + " ssl_ciphers HIGH;\n ssl_ciphers HIGH;\n}", `"ssl_ciphers" directive is duplicate in FILE:6`},
		{"unknown curve", srv + pair + " ssl_ecdh_curve X25519:brainpoolP256r1;\n}", `unknown curve "brainpoolP256r1" in "ssl_ecdh_curve" in FILE:5`},
		{"bad session cache", srv + pair + " ssl_session_cache shared:SSL;\n}", `invalid value "shared:SSL" in "ssl_session_cache" directive in FILE:5`},
		{"off with another cache", srv + pair + " ssl_session_cache off builtin;\n}", `invalid value "off" in "ssl_session_cache" directive in FILE:5`},
		{"bad session timeout", srv + pair + " ssl_session_timeout soon;\n}", `"ssl_session_timeout" directive invalid value in FILE:5`},
		{"ticket key of 47 bytes", srv + pair + " ssl_session_ticket_key {{tk47}};\n}", `"{{tk47}}" must be 48 or 80 bytes in FILE:5`},
		{"bad verify_client", srv + pair + " ssl_verify_client maybe;\n}", `invalid value "maybe" in "ssl_verify_client" directive in FILE:5`},
		{"verify_client without CA", srv + pair + " ssl_verify_client on;\n}", `no ssl_client_certificate or ssl_trusted_certificate for ssl_verify_client in FILE:5`},
		{"CA not PEM", srv + pair + " ssl_client_certificate {{junk}};\n ssl_verify_client on;\n}", `cannot load "{{junk}}": no PEM certificate found in FILE:5`},
		{"bad verify depth", srv + pair + " ssl_verify_depth deep;\n}", `"ssl_verify_depth" directive invalid value in FILE:5`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := expand(tt.src, files)
			_, path, err := load(t, src)
			want := strings.ReplaceAll(expand(tt.want, files), "FILE", path)
			if err == nil || err.Error() != want {
				t.Fatalf("source:\n%s\nerror %v\nwant  %s", src, err, want)
			}
		})
	}
}

func TestSSLWarnings(t *testing.T) {
	files := tlsFiles(t)
	tests := []struct {
		name, src string
		want      []string // FILE for the file; lines count from the server's listen (line 2)
	}{
		{"good pair", " ssl_certificate {{crt}};\n ssl_certificate_key {{key}};", nil},
		{"expired", " ssl_certificate {{oldcrt}};\n ssl_certificate_key {{oldkey}};", []string{`the certificate "{{oldcrt}}" has expired (not after `}},
		{"not yet valid", " ssl_certificate {{newcrt}};\n ssl_certificate_key {{newkey}};", []string{`the certificate "{{newcrt}}" is not yet valid (not before `}},
		{"SSLv3", " ssl_certificate {{crt}};\n ssl_certificate_key {{key}};\n ssl_protocols SSLv3 TLSv1.2;",
			[]string{`the "SSLv3" protocol of "ssl_protocols" is not supported by limpet (Go's TLS does not speak it) and is left out in FILE:5`}},
		{"DHE ciphers", " ssl_certificate {{crt}};\n ssl_certificate_key {{key}};\n ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256;",
			[]string{`the ciphers DHE-RSA-AES128-GCM-SHA256 of "ssl_ciphers" are not implemented by Go's TLS and are left out in FILE:5`}},
		{"dhparam", " ssl_certificate {{crt}};\n ssl_certificate_key {{key}};\n ssl_dhparam /etc/dh.pem;",
			[]string{`the "ssl_dhparam" directive has no effect in limpet (Go's TLS has no finite-field Diffie-Hellman key exchange: ECDHE only) in FILE:5`}},
		{"stapling on", " ssl_certificate {{crt}};\n ssl_certificate_key {{key}};\n ssl_stapling on;\n ssl_stapling_verify off;",
			[]string{`the "ssl_stapling" directive has no effect in limpet (limpet does not staple OCSP responses) in FILE:5`}},
		{"shared cache", " ssl_certificate {{crt}};\n ssl_certificate_key {{key}};\n ssl_session_cache shared:SSL:10m;\n ssl_session_cache none;",
			[]string{`the "ssl_session_cache" directive has no effect in limpet (Go's TLS keeps no server-side session cache: sessions resume from tickets (ssl_session_tickets)) in FILE:5`}},
		{"prefer server ciphers", " ssl_certificate {{crt}};\n ssl_certificate_key {{key}};\n ssl_prefer_server_ciphers on;",
			[]string{`the "ssl_prefer_server_ciphers" directive has no effect in limpet (Go's TLS chooses the cipher suite itself among those allowed) in FILE:5`}},
		{"ssl on", " ssl_certificate {{crt}};\n ssl_certificate_key {{key}};\n ssl on;",
			[]string{`the "ssl" directive is deprecated, use the "listen ... ssl" directive instead in FILE:5`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := expand("server {\n listen 443 ssl;\n"+tt.src+"\n}\n", files)
			cfg, path, err := load(t, src)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range cfg.Warnings {
				got = append(got, w.String())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("warnings %q, want %q", got, tt.want)
			}
			for i, w := range tt.want {
				w = strings.ReplaceAll(expand(w, files), "FILE", path)
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("warning %q, want %q", got[i], w)
				}
			}
		})
	}
}

// TestSSLMerge: ssl settings are inherited from http by the servers that
// set none, certificates as a whole list, and `ssl on` marks listens.
func TestSSLMerge(t *testing.T) {
	files := tlsFiles(t)
	cfg := mustLoad(t, expand(`http {
    ssl_certificate {{crt}};
    ssl_certificate_key {{key}};
    ssl_protocols TLSv1.3;
    ssl_session_timeout 1h;
    ssl_session_ticket_key {{tk80}};
    ssl_session_ticket_key {{tk48}};
    server { listen 443 ssl; server_name inherit; }
    server {
        listen 8443;
        ssl on;
        server_name own;
        ssl_certificate {{ecrt}};
        ssl_certificate_key {{ekey}};
        ssl_certificate {{crt}};
        ssl_certificate_key {{key}};
        ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256;
        ssl_session_tickets off;
        ssl_client_certificate {{ca}};
        ssl_verify_client optional;
        ssl_verify_depth 2;
    }
    server { listen 80; server_name plain; }
}`, files))
	inherit, own, plain := cfg.Servers[0], cfg.Servers[1], cfg.Servers[2]
	if n := len(inherit.SSL.Certificates); n != 1 || inherit.SSL.Certificates[0].Cert.Leaf == nil {
		t.Errorf("inherited certificates: %d", n)
	}
	if inherit.SSL.MinVersion != tls.VersionTLS13 || inherit.SSL.MaxVersion != tls.VersionTLS13 {
		t.Errorf("protocols %x..%x", inherit.SSL.MinVersion, inherit.SSL.MaxVersion)
	}
	if inherit.SSL.SessionTimeout != time.Hour || !inherit.SSL.SessionTickets || len(inherit.SSL.TicketKeys) != 2 || inherit.SSL.VerifyClient != "off" || inherit.SSL.VerifyDepth != 1 {
		t.Errorf("inherited %+v", inherit.SSL)
	}
	if inherit.SSL.TicketKeys[0].Key == inherit.SSL.TicketKeys[1].Key {
		t.Error("two ticket key files gave one key")
	}
	if inherit.SSL.CipherSuites != nil || inherit.SSL.Curves != nil {
		t.Errorf("defaults: ciphers %v curves %v", inherit.SSL.CipherSuites, inherit.SSL.Curves)
	}
	if n := len(own.SSL.Certificates); n != 2 {
		t.Errorf("own certificates: %d", n)
	}
	if !own.Listens[0].SSL || inherit.Listens[0].SSL != true || plain.Listens[0].SSL {
		t.Errorf("listens' ssl: own %v inherit %v plain %v", own.Listens[0].SSL, inherit.Listens[0].SSL, plain.Listens[0].SSL)
	}
	if want := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}; !slices.Equal(own.SSL.CipherSuites, want) {
		t.Errorf("ciphers %x, want %x", own.SSL.CipherSuites, want)
	}
	if own.SSL.SessionTickets || own.SSL.ClientCAs == nil || own.SSL.VerifyClient != "optional" || own.SSL.VerifyDepth != 2 {
		t.Errorf("own %+v", own.SSL)
	}
}

func TestParseCiphers(t *testing.T) {
	const (
		eA128 = tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
		rA128 = tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
		eA256 = tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
		rA256 = tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
		eC20  = tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
		rC20  = tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
	)
	tests := []struct {
		spec    string
		want    []uint16
		skipped []string
	}{
		{"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256", []uint16{rA256, eA128}, nil},
		{"EECDH+AESGCM:EDH+AESGCM", []uint16{eA128, rA128, eA256, rA256}, nil},
		{"ECDHE+AESGCM:ECDHE+CHACHA20:!aRSA", []uint16{eA128, eA256, eC20}, nil},
		{"HIGH:!aNULL:!MD5:!SHA1:!SHA256:!kRSA", []uint16{eA128, rA128, eA256, rA256, eC20, rC20}, nil},
		{"AESGCM:-aECDSA:CHACHA20:+AESGCM", []uint16{eC20, rC20, rA128, rA256, tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384}, nil},
		{"ECDHE+AESGCM:@STRENGTH", []uint16{eA256, rA256, eA128, rA128}, nil},
		{"ECDHE-ECDSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:TLS_AES_128_GCM_SHA256", []uint16{eA128}, []string{"DHE-RSA-AES256-GCM-SHA384", "TLS_AES_128_GCM_SHA256"}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			out, err := parseCiphers(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out.ids, tt.want) {
				t.Errorf("suites %x, want %x", out.ids, tt.want)
			}
			if !slices.Equal(out.skipped, tt.skipped) {
				t.Errorf("skipped %q, want %q", out.skipped, tt.skipped)
			}
		})
	}
}
