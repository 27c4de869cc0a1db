package runtime

import (
	"os"
	"path/filepath"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// This file keeps NGINX Plus's `state FILE` of an upstream: config reads
// the file when the configuration is loaded (so a reload or a restart
// brings back the servers added through the API, with their identities
// and so their users); here, every change of the upstream's servers
// through the API rewrites it.

// keepState makes each upstream of p with a `state` file rewrite it after
// every change through the API, and the others stop: a reload may add,
// move or drop the file. It runs at commit, after the reload's own
// reconfiguration, which the file itself gave.
func (p *plan) keepState() {
	for cu, u := range p.upstreams {
		if cu.State == "" {
			u.OnChange(nil)
			continue
		}
		path, log := cu.State, p.rt.log
		u.OnChange(func(servers []*upstream.Server) {
			// The change is made and the API answers it: the servers
			// run as changed whether or not the file could be written.
			// NGINX Plus, too, changes the group in memory and logs a
			// file it cannot write.
			if err := writeState(path, servers); err != nil {
				log.Error("state file not written", "upstream", u.Name, "file", path, "error", err)
			}
		})
	}
}

// writeState writes the state file of servers at path.
func writeState(path string, servers []*upstream.Server) error {
	lines := make([]*config.UpstreamServer, 0, len(servers))
	for _, s := range servers {
		lines = append(lines, &config.UpstreamServer{
			Addr:        s.Addr,
			Weight:      s.Weight,
			MaxFails:    s.MaxFails,
			FailTimeout: s.FailTimeout,
			SlowStart:   s.SlowStart,
			MaxConns:    s.MaxConns,
			Route:       s.Route,
			Backup:      s.Backup,
			Down:        s.Down(),
			Drain:       s.Draining(),
		})
	}
	return writeFileAtomic(path, config.FormatState(lines))
}

// writeFileAtomic replaces path with data so that a crash at any moment
// leaves either the old file or the new one, never a part: data goes to
// a temporary file in the same directory, which is synced and renamed
// over path, and the directory is synced so the rename lasts too.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644) // CreateTemp's 0600 would hide the file from its readers
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
