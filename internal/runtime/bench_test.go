package runtime

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/limpet-lb/limpet/internal/upstream"
)

// BenchmarkHandlerStickyHit sends a returning user's request (it carries
// its SERVERID cookie) through limpet's handler to a real backend on
// loopback: the whole request path but the client side's network.
func BenchmarkHandlerStickyHit(b *testing.B) {
	benchmarkHandler(b, true)
}

// BenchmarkHandlerStickyNew is the same for new users, who get a cookie.
func BenchmarkHandlerStickyNew(b *testing.B) {
	benchmarkHandler(b, false)
}

func benchmarkHandler(b *testing.B, returning bool) {
	app1, app2 := newBackend(b, "app-01"), newBackend(b, "app-02")
	conf := `
upstream backend { server {{app1}}; server {{app2}}; sticky cookie SERVERID expires=1h path=/; }
server { listen 127.0.0.1:0; access_log off;
    location / { proxy_pass http://backend; proxy_set_header Host $host; proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto $scheme; } }`
	lb := startLimpet(b, conf, "{{app1}}", app1.addr(), "{{app2}}", app2.addr())
	h := lb.rt.cur.Load().handlers[0]
	req := httptest.NewRequest(http.MethodGet, "http://lb/cart", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	if returning {
		req.Header.Set("Cookie", "SERVERID="+upstream.IDFor(app1.addr(), ""))
	}
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}
