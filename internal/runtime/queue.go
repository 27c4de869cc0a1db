package runtime

import (
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/live"
)

// setQueue gives p the upstream's `queue N [timeout=TIME]`, if it has
// one: requests that find every server at its max_conns wait for a slot
// instead of failing at once.
func setQueue(p *live.Policy, cu *config.Upstream) {
	if cu.Queue != nil {
		p.QueueSize, p.QueueTimeout = cu.Queue.Size, cu.Queue.Timeout
	}
}
