// Command editmilter serves a miltertest.Script on a unix socket, for the
// lab's Postfix (relay/milter/testdata/lab/record.sh):
//
//	go run ./relay/milter/testdata/lab/editmilter -socket /run/mxrelay-lab/edit.sock -script relay/milter/testdata/lab/edits.json
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/mxrelay/mxrelay/relay/milter/miltertest"
)

func main() {
	sock := flag.String("socket", "", "unix socket to listen on")
	script := flag.String("script", "", "miltertest.Script, JSON")
	flag.Parse()
	raw, err := os.ReadFile(*script)
	if err != nil {
		log.Fatal(err)
	}
	var sc miltertest.Script
	if err := json.Unmarshal(raw, &sc); err != nil {
		log.Fatal(err)
	}
	os.Remove(*sock)
	ln, err := net.Listen("unix", *sock)
	if err != nil {
		log.Fatal(err)
	}
	os.Chmod(*sock, 0o666)
	srv := miltertest.Serve(ln, miltertest.Milter{On: sc.On})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	srv.Close()
}
