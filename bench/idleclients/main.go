// Command idleclients holds keep-alive client connections open and idle,
// for the benchmark's idle-connections phase: it opens N connections to a
// balancer, sends one request on each and reads its response (so each is
// a keep-alive connection that has served a request, as a browser's is),
// prints "open N" once all are open, then sits idle until it is stopped
// or HOLD has passed, and closes them.
//
//	idleclients -addr 127.0.0.1:18080 -n 10000 [-hold 60s]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "balancer `address` (loopback)")
	n := flag.Int("n", 10000, "`connections` to open")
	hold := flag.Duration("hold", time.Minute, "how long to keep them open at most")
	flag.Parse()
	if host, _, err := net.SplitHostPort(*addr); err != nil || !net.ParseIP(host).IsLoopback() {
		fmt.Fprintf(os.Stderr, "idleclients: -addr must be a loopback address with a port, got %q\n", *addr)
		os.Exit(2)
	}
	conns := make([]net.Conn, 0, *n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	req := []byte("GET / HTTP/1.1\r\nHost: " + *addr + "\r\nUser-Agent: idleclients\r\n\r\n")
	for i := 0; i < *n; i++ {
		c, err := open(*addr, req)
		if err != nil {
			fmt.Fprintf(os.Stderr, "idleclients: connection %d: %v\n", i+1, err)
			fmt.Printf("open %d\n", len(conns))
			return
		}
		conns = append(conns, c)
	}
	fmt.Printf("open %d\n", len(conns))
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	select {
	case <-stop:
	case <-time.After(*hold):
	}
}

// open dials addr, sends req and reads the whole response, leaving the
// connection open.
func open(addr string, req []byte) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(req); err != nil {
		c.Close()
		return nil, err
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err != nil || res.Close {
		c.Close()
		return nil, fmt.Errorf("the response did not keep the connection open (%v)", err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
