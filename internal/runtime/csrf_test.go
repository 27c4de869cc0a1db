package runtime

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/limpet-lb/limpet/internal/browsertest"
)

// guardedAPIConf is the README's protected API: reads from 127.0.0.1,
// writes from 127.0.0.1 with a password too.
const guardedAPIConf = `
upstream backend { zone backend 64k; server {{app1}}; server {{app2}}; }
server {
    listen 127.0.0.1:0;
    access_log {{log}};
    location / { proxy_pass http://backend; }
    location /api/ {
        api write=on;
        allow 127.0.0.1;
        deny all;
        limit_except GET {
            auth_basic "limpet API";
            auth_basic_user_file {{htpasswd}};
        }
    }
}`

// htpasswd writes a bcrypt htpasswd file with one user and returns its path.
func htpasswd(t *testing.T, user, password string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "api.htpasswd")
	if err := os.WriteFile(path, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Through a real limpet with the README's auth_basic configuration, and
// the operator's credentials on every request as a browser would send
// them from its cache: the writes a page of another origin can make a
// browser send are refused and change nothing; curl's and the API's own
// origin's go through; a CORS preflight gets no Access-Control-Allow-*.
func TestAPIRefusesCrossSiteWrites(t *testing.T) {
	app1, _ := healthyBackend(t, "app-01")
	app2, _ := healthyBackend(t, "app-02")
	lb := startLimpet(t, guardedAPIConf, "{{app1}}", app1.addr(), "{{app2}}", app2.addr(),
		"{{htpasswd}}", htpasswd(t, "ops", "s3cret"))
	servers := lb.url + "/api/9/http/upstreams/backend/servers"
	list := func() string {
		res, body := get(t, newClient(t), servers)
		if res.StatusCode != 200 {
			t.Fatalf("GET servers: %d %s", res.StatusCode, body)
		}
		return body
	}
	const json, form = "application/json", "application/x-www-form-urlencoded"
	tests := []struct {
		name, method, path, body string
		header                   []string // name, value pairs
		status                   int
		code                     string // of the error object, "" for a success
		changes                  bool
	}{
		{"form POST", "POST", "", `{"server":"10.0.0.91:80"}`, []string{"Content-Type", form}, 415, "UnsupportedMediaType", false},
		{"text/plain POST", "POST", "", `{"server":"10.0.0.92:80"}`, []string{"Content-Type", "text/plain"}, 415, "UnsupportedMediaType", false},
		{"JSON from a foreign Origin", "POST", "", `{"server":"10.0.0.93:80"}`, []string{"Content-Type", json, "Origin", "http://evil.example"}, 403, "CrossOriginForbidden", false},
		{"JSON from a cross-site page without Origin", "POST", "", `{"server":"10.0.0.94:80"}`, []string{"Content-Type", json, "Sec-Fetch-Site", "cross-site"}, 403, "CrossOriginForbidden", false},
		{"text/plain PATCH", "PATCH", "/0", `{"down":true}`, []string{"Content-Type", "text/plain"}, 415, "UnsupportedMediaType", false},
		{"PATCH from a foreign Origin", "PATCH", "/0", `{"down":true}`, []string{"Content-Type", json, "Origin", "http://evil.example"}, 403, "CrossOriginForbidden", false},
		{"DELETE from a foreign Origin", "DELETE", "/1", "", []string{"Origin", "http://evil.example"}, 403, "CrossOriginForbidden", false},
		{"JSON from the API's own origin", "POST", "", `{"server":"10.0.0.95:80"}`, []string{"Content-Type", json, "Origin", lb.url}, 201, "", true},
		{"JSON from curl (no Origin)", "POST", "", `{"server":"10.0.0.96:80"}`, []string{"Content-Type", json}, 201, "", true},
		{"PATCH from the API's own origin", "PATCH", "/0", `{"weight":3}`, []string{"Content-Type", "application/json; charset=utf-8", "Origin", lb.url}, 200, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := list()
			req, _ := http.NewRequest(tt.method, servers+tt.path, strings.NewReader(tt.body))
			req.SetBasicAuth("ops", "s3cret")
			for i := 0; i+1 < len(tt.header); i += 2 {
				req.Header.Set(tt.header[i], tt.header[i+1])
			}
			res, body := do(t, newClient(t), req)
			if res.StatusCode != tt.status || (tt.code != "" && !strings.Contains(body, `"code":"`+tt.code+`"`)) {
				t.Errorf("%s: %d %s, want %d %s", tt.method, res.StatusCode, body, tt.status, tt.code)
			}
			if after := list(); (after != before) != tt.changes {
				t.Errorf("servers before:\n%s\nafter:\n%s\nwant a change: %v", before, after, tt.changes)
			}
		})
	}

	// A browser sends a preflight without credentials; here it is asked
	// for both, and neither answer lets the write follow.
	for _, creds := range []bool{false, true} {
		t.Run(fmt.Sprintf("preflight, credentials %v", creds), func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodOptions, servers, nil)
			req.Header.Set("Origin", "http://evil.example")
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "content-type")
			want := 401 // limit_except GET asks for the password first
			if creds {
				req.SetBasicAuth("ops", "s3cret")
				want = 405
			}
			res, body := do(t, newClient(t), req)
			if res.StatusCode != want {
				t.Errorf("OPTIONS: %d %s, want %d", res.StatusCode, body, want)
			}
			for name, v := range res.Header {
				if strings.HasPrefix(strings.ToLower(name), "access-control-") {
					t.Errorf("the preflight's answer has %s: %q", name, v)
				}
			}
		})
	}
}

// evilPage is a page of another site that tries every write a page can
// make a browser send to the API without asking: two forms and a no-cors
// fetch (no preflight), then a JSON fetch and a DELETE (which need one).
// It sets window.done when every attempt has finished. %s is the URL of
// the API's servers.
const evilPage = `<!doctype html><html><body><script>
const api = %q;
function submit(enctype, name, value) {
  return new Promise(resolve => {
    const frame = document.createElement("iframe");
    frame.name = "sink" + Math.random();
    document.body.appendChild(frame);
    frame.onload = resolve;
    const form = document.createElement("form");
    form.method = "POST"; form.action = api; form.enctype = enctype; form.target = frame.name;
    const input = document.createElement("input");
    input.name = name; input.value = value;
    form.appendChild(input);
    document.body.appendChild(form);
    form.submit();
  });
}
(async () => {
  await submit("text/plain", '{"server":"10.6.6.1:80","route":"', '"}');
  await submit("application/x-www-form-urlencoded", '{"server":"10.6.6.2:80"}', "");
  try { await fetch(api, {method: "POST", mode: "no-cors", credentials: "include", headers: {"Content-Type": "text/plain"}, body: '{"server":"10.6.6.3:80"}'}); } catch (e) {}
  try { await fetch(api, {method: "POST", credentials: "include", headers: {"Content-Type": "application/json"}, body: '{"server":"10.6.6.4:80"}'}); } catch (e) {}
  try { await fetch(api + "/0", {method: "DELETE", credentials: "include"}); } catch (e) {}
  window.done = true;
})();
</script></body></html>`

// A real Chromium on a page of another site, whose address is allowed
// to write (the API trusts 127.0.0.1): every attempt reaches limpet or
// dies at the preflight, and none changes the upstream.
func TestCrossSiteWritesInChromium(t *testing.T) {
	bctx := browsertest.Start(t)
	app1, _ := healthyBackend(t, "app-01")
	app2, _ := healthyBackend(t, "app-02")
	// Without the password: the browser's address is its credential.
	conf := guardedAPIConf[:strings.Index(guardedAPIConf, "        limit_except")] + "    }\n}\n"
	lb := startLimpet(t, conf, "{{app1}}", app1.addr(), "{{app2}}", app2.addr())
	servers := lb.url + "/api/9/http/upstreams/backend/servers"
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, evilPage, servers)
	}))
	t.Cleanup(evil.Close)
	// "localhost" is another site than "127.0.0.1" for the browser.
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)

	if err := chromedp.Do(bctx,
		chromedp.Navigate(evilURL+"/"),
		chromedp.Poll[chromedp.Void](`window.done === true`, chromedp.WithPollingTimeout(15*time.Second)),
	); err != nil {
		t.Fatalf("the page's attempts did not finish: %v", err)
	}
	if n := len(lb.rt.Upstream("backend").Pool().Primary); n != 2 {
		t.Errorf("the upstream has %d servers, want the 2 it had", n)
	}
	// The attempts did reach limpet: the forms and the no-cors fetch
	// were refused by the API, the preflights by their 405.
	var posts, preflights int
	for _, line := range lb.accessLog(t) {
		switch {
		case strings.Contains(line, `"method":"POST"`):
			posts++
			if !strings.Contains(line, `"status":403`) {
				t.Errorf("a cross-site POST was not refused with 403: %s", line)
			}
		case strings.Contains(line, `"method":"OPTIONS"`):
			preflights++
			if !strings.Contains(line, `"status":405`) {
				t.Errorf("a preflight was not answered 405: %s", line)
			}
		case strings.Contains(line, `"method":"DELETE"`):
			t.Errorf("the DELETE was sent despite its failed preflight: %s", line)
		}
	}
	if posts != 3 || preflights != 2 {
		t.Errorf("limpet saw %d POSTs and %d preflights, want 3 and 2", posts, preflights)
	}
}
