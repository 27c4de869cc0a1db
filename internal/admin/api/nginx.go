package api

import (
	"net"
	"net/http"
	"os"
	"time"
)

// Process is what GET /9/nginx says of the running limpet.
type Process struct {
	// Version is limpet's version, Build "limpet": NGINX Plus puts its
	// nginx version and its release ("nginx-plus-r33") there.
	Version, Build string
	// Generation counts the configurations loaded, the first included.
	Generation int64
	// LoadTime is when the configuration in effect was loaded.
	LoadTime time.Time
	// PID and PPID are the process's and its parent's.
	PID, PPID int
}

// nginxView is NGINX Plus's nginx object.
type nginxView struct {
	Version       string `json:"version"`
	Build         string `json:"build"`
	Address       string `json:"address"`
	Generation    int64  `json:"generation"`
	LoadTimestamp string `json:"load_timestamp"`
	Timestamp     string `json:"timestamp"`
	PID           int    `json:"pid"`
	PPID          int    `json:"ppid"`
}

// timestampLayout is NGINX Plus's: ISO 8601 in UTC with milliseconds.
const timestampLayout = "2006-01-02T15:04:05.000Z"

// getNginx answers GET /9/nginx: the process, the configuration's
// generation and when it was loaded, and the address the request came
// in on, as NGINX Plus answers it.
func (h *handler) getNginx(r *http.Request) (int, any, *apiError) {
	p := h.o.Process()
	v := nginxView{
		Version:       p.Version,
		Build:         p.Build,
		Generation:    p.Generation,
		LoadTimestamp: p.LoadTime.UTC().Format(timestampLayout),
		Timestamp:     h.o.Now().UTC().Format(timestampLayout),
		PID:           p.PID,
		PPID:          p.PPID,
	}
	if v.PID == 0 {
		v.PID, v.PPID = os.Getpid(), os.Getppid()
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if host, _, err := net.SplitHostPort(a.String()); err == nil {
			v.Address = host
		}
	}
	return http.StatusOK, v, nil
}
