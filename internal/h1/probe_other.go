//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package h1

import "net"

// probe is the liveness check of an idle connection; on this platform
// there is none, and a stale connection is found by the retry.
type probe struct{}

func (p *probe) init(net.Conn) {}

func (p *probe) alive() bool { return true }
