package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// idleResult is one system's memory for idle SMTP connections.
type idleResult struct {
	name           string
	opened, greets int
	beforeKiB      int64 // resident memory before the connections
	afterKiB       int64 // with them open and greeted
}

// idle opens n connections to the system, reads each greeting and says
// nothing more, then measures the resident memory they hold (mxrelayd:
// its process; Postfix: its processes summed, a smtpd each, up to its
// default_process_limit of 100: the others wait unanswered in the listen
// queue and are not counted as greeted, and those the full listen queue
// refuses are not opened).
func idle(sys system, dir string, sink *sink, n int) (idleResult, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return idleResult{}, err
	}
	if err := writeRecipients(dir); err != nil {
		return idleResult{}, err
	}
	listen, err := freeAddr()
	if err != nil {
		return idleResult{}, err
	}
	p, err := sys.start(dir, listen, sink.addr, nil)
	if err != nil {
		return idleResult{}, err
	}
	defer p.stop()
	if err := waitListening(listen, 30*time.Second); err != nil {
		return idleResult{}, err
	}
	time.Sleep(time.Second) // let the listener's own start-up settle
	r := idleResult{name: filepath.Base(dir), beforeKiB: p.current()}
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		// Postfix's listen queue fills once its smtpd processes are all
		// busy: the connections after that are not made.
		c, err := net.DialTimeout("tcp", listen, 2*time.Second)
		if err != nil {
			break
		}
		conns = append(conns, c)
	}
	r.opened = len(conns)
	greeted := make(chan bool, n)
	deadline := time.Now().Add(20 * time.Second)
	for _, c := range conns {
		go func() {
			c.SetReadDeadline(deadline)
			line, err := bufio.NewReader(c).ReadString('\n')
			greeted <- err == nil && strings.HasPrefix(line, "220")
		}()
	}
	for range conns {
		if <-greeted {
			r.greets++
		}
	}
	time.Sleep(time.Second)
	r.afterKiB = p.current()
	return r, nil
}

func reportIdle(w io.Writer, rs []idleResult) {
	fmt.Fprintf(w, "idle SMTP connections: opened, greeted with 220, then silent\n\n")
	fmt.Fprintf(w, "%-9s %8s %8s %14s %14s %16s\n", "system", "opened", "greeted", "before KiB", "with them KiB", "KiB per greeted")
	for _, r := range rs {
		per := "-"
		if r.greets > 0 {
			per = fmt.Sprintf("%.1f", float64(r.afterKiB-r.beforeKiB)/float64(r.greets))
		}
		fmt.Fprintf(w, "%-9s %8d %8d %14d %14d %16s\n", r.name, r.opened, r.greets, r.beforeKiB, r.afterKiB, per)
	}
}
