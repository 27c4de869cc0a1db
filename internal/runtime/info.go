package runtime

import (
	"os"
	"sync/atomic"
	"time"

	"github.com/limpet-lb/limpet/internal/admin/api"
	"github.com/limpet-lb/limpet/internal/config"
)

// processInfo is what the API's /nginx endpoint and the metrics say of
// the process and its reloads.
type processInfo struct {
	generation atomic.Int64 // configurations loaded, the first included
	loadedAt   atomic.Int64 // UnixMilli of the last successful load
	reloadsOK  atomic.Int64
	reloadsBad atomic.Int64
}

// loaded counts a configuration that went live at now.
func (pi *processInfo) loaded(now time.Time) {
	if pi.generation.Add(1) > 1 {
		pi.reloadsOK.Add(1)
	}
	pi.loadedAt.Store(now.UnixMilli())
}

// reloadFailed counts a reload refused because its configuration was
// wrong.
func (pi *processInfo) reloadFailed() { pi.reloadsBad.Add(1) }

// reloadCounts returns the reloads that succeeded and those that failed.
func (pi *processInfo) reloadCounts() (ok, failed int64) {
	return pi.reloadsOK.Load(), pi.reloadsBad.Load()
}

// Process returns the state of the running process, for the API's
// /nginx endpoint.
func (rt *Runtime) Process() api.Process {
	return api.Process{
		Version:    rt.opts.Version,
		Build:      "limpet",
		Generation: rt.info.generation.Load(),
		LoadTime:   time.UnixMilli(rt.info.loadedAt.Load()),
		PID:        os.Getpid(),
		PPID:       os.Getppid(),
	}
}

// workerShutdownTimeout is worker_shutdown_timeout: how long a retiring
// configuration's requests may last; 0 means as long as they take.
func workerShutdownTimeout(cfg *config.Config) time.Duration {
	return cfg.WorkerShutdownTimeout
}
