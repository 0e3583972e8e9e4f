//go:build pprof

// A binary built with -tags pprof serves Go's profiles on the loopback
// address in PPROF_LISTEN (say 127.0.0.1:6060), for the load benchmarks'
// profiles; the distribution itself never includes them. (Not HAPTA_...:
// hapta refuses HAPTA_ variables it does not know.)
package main

import (
	"log"
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	address := os.Getenv("PPROF_LISTEN")
	if address == "" {
		return
	}
	go func() { log.Println(http.ListenAndServe(address, nil)) }()
}
