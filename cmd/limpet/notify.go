package main

import (
	"net"
	"os"
)

// sdNotify sends state to systemd when limpet runs as a Type=notify
// service (NOTIFY_SOCKET is set): READY=1 once it serves, RELOADING=1 and
// READY=1 around a reload, STOPPING=1, and MAINPID= when a binary upgrade
// hands the service to the new process. Elsewhere it does nothing, and
// a failure is not limpet's to report: systemd says what it missed.
func sdNotify(state string) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return
	}
	if addr[0] == '@' {
		addr = "\x00" + addr[1:] // an abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	_, _ = c.Write([]byte(state))
}
