// Command backend is the benchmark's application server: it answers every
// request with the same small body (64 bytes by default) and names itself
// in the X-Backend response header, so the harness can tell which server a
// balancer chose. It does as little as a server can, so that the numbers
// measure the balancer in front of it, not the application.
//
//	backend -listen 127.0.0.1:18081 -name app1 [-size 64]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18081", "`address` to listen on")
	name := flag.String("name", "app1", "server `name` sent in the X-Backend header")
	size := flag.Int("size", 64, "body size in `bytes`")
	flag.Parse()
	if *size < 1 {
		fmt.Fprintf(os.Stderr, "backend: -size must be at least 1, got %d\n", *size)
		os.Exit(2)
	}

	// One body for every response, written without per-request formatting.
	body := bytes.Repeat([]byte("x"), *size)
	body[len(body)-1] = '\n'
	length := strconv.Itoa(len(body))
	nameHdr := []string{*name}
	lengthHdr := []string{length}
	typeHdr := []string{"text/plain"}

	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		// Direct map writes: the keys are already canonical.
		hdr["X-Backend"] = nameHdr
		hdr["Content-Length"] = lengthHdr
		hdr["Content-Type"] = typeHdr
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
	srv := &http.Server{Addr: *listen, Handler: h}
	log.Printf("backend %s listening on %s", *name, *listen)
	if err := srv.ListenAndServe(); err != nil {
		log.Fatalf("backend %s: %v", *name, err)
	}
}
