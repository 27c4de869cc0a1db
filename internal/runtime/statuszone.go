package runtime

import (
	"github.com/limpet-lb/limpet/internal/statuszone"
)

// statusZones records the status zones a plan's configuration names
// (status_zone in server and location blocks). The zones themselves live
// in the Runtime's registry, so their counters go on across reloads;
// commit makes the plan's list the one the metrics and the API show.
type statusZones struct {
	list []*statuszone.Zone
	seen map[*statuszone.Zone]bool
}

// statusZone is proxy.Env's StatusZone: the runtime's zone of that kind
// and name, noted as one this plan uses.
func (p *plan) statusZone(kind statuszone.Kind, name string) *statuszone.Zone {
	z := p.rt.zones.Zone(kind, name)
	if p.statusZones.seen == nil {
		p.statusZones.seen = make(map[*statuszone.Zone]bool)
	}
	if !p.statusZones.seen[z] {
		p.statusZones.seen[z] = true
		p.statusZones.list = append(p.statusZones.list, z)
	}
	return z
}

// commitZones makes p's zones the active ones.
func (p *plan) commitZones() { p.rt.zones.SetActive(p.statusZones.list) }
