package runtime

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"sync"

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
		path, log, versions := cu.State, p.rt.log, &p.rt.states
		versions.add(path, cu.StateDigest)
		u.OnChange(func(servers []*upstream.Server) {
			// The change is made and the API answers it: the servers
			// run as changed whether or not the file could be written.
			// NGINX Plus, too, changes the group in memory and logs a
			// file it cannot write.
			if err := writeState(path, servers, versions); err != nil {
				log.Error("state file not written", "upstream", u.Name, "file", path, "error", err)
			}
		})
	}
}

// stateVersions remembers, for each state file, the last versions limpet
// itself read or wrote (their SHA-256). A reload that finds one of them
// keeps the running servers, which are that version or later (an API
// change made while the reload loaded); one that finds another version,
// a file edited by hand, applies it, as a restart would.
type stateVersions struct {
	mu sync.Mutex
	m  map[string][][32]byte // by path, the newest last
}

// keptVersions bounds the versions remembered per file.
const keptVersions = 8

// add remembers d as a version of path limpet knows.
func (v *stateVersions) add(path string, d [32]byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = make(map[string][][32]byte)
	}
	vs := append(v.m[path], d)
	if len(vs) > keptVersions {
		vs = vs[len(vs)-keptVersions:]
	}
	v.m[path] = vs
}

// own reports whether d is a version of path limpet read or wrote.
func (v *stateVersions) own(path string, d [32]byte) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Contains(v.m[path], d)
}

// writeState writes the state file of servers at path, and remembers its
// version.
func writeState(path string, servers []*upstream.Server, versions *stateVersions) error {
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
	data := config.FormatState(lines)
	if err := writeFileAtomic(path, data); err != nil {
		return err
	}
	versions.add(path, sha256.Sum256(data))
	return nil
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
