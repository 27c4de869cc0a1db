package upstream

// Pool is the set of servers of one upstream. A Pool is never modified
// after NewPool returns: a change of servers builds a new Pool, which the
// owner swaps in atomically, so readers on the request path need no lock.
type Pool struct {
	// Name is the upstream's name.
	Name string
	// Primary servers, in configuration order.
	Primary []*Server
	// Backup servers, in configuration order; used only when no primary
	// server is available.
	Backup []*Server
	// Removed holds the IDs of servers removed from the upstream while
	// limpet runs, so a cookie naming one is told apart from a forged
	// one. Set before the pool is published, never changed after.
	Removed map[string]bool

	byID map[string]*Server
}

// NewPool returns a pool of the given servers, split into primary and
// backup by their Backup flag. Servers sharing an ID (the same address
// listed twice) are all kept; Lookup returns the first.
func NewPool(name string, servers []*Server) *Pool {
	p := &Pool{Name: name, byID: make(map[string]*Server, len(servers))}
	for _, s := range servers {
		if s.Backup {
			p.Backup = append(p.Backup, s)
		} else {
			p.Primary = append(p.Primary, s)
		}
		if _, dup := p.byID[s.ID]; !dup {
			p.byID[s.ID] = s
		}
	}
	return p
}

// Lookup returns the server with the given ID, or nil.
func (p *Pool) Lookup(id string) *Server { return p.byID[id] }

// Lone reports whether the pool has a single server. As in nginx, a lone
// server is never considered unavailable after failures: skipping it would
// only turn its failures into 502s. It is decided on the current servers,
// so it follows servers added or removed at run time.
func (p *Pool) Lone() bool { return len(p.Primary)+len(p.Backup) == 1 }

// WasRemoved reports whether a server with the given ID was removed from
// the upstream while limpet runs.
func (p *Pool) WasRemoved(id string) bool { return p.Removed[id] }

// ByAPIID returns the server with the given API number, or nil.
func (p *Pool) ByAPIID(id int) *Server {
	for _, s := range p.Primary {
		if s.APIID == id {
			return s
		}
	}
	for _, s := range p.Backup {
		if s.APIID == id {
			return s
		}
	}
	return nil
}

// All returns primary then backup servers. It allocates; it is meant for
// the admin side, not the request path.
func (p *Pool) All() []*Server {
	all := make([]*Server, 0, len(p.Primary)+len(p.Backup))
	return append(append(all, p.Primary...), p.Backup...)
}
