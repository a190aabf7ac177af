package main

import (
	"bufio"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// latencyProbe sends messages one after another on its own session while
// the load runs, and records for each the time from the end of its data
// to the 250: the acceptance latency a client sees under that load.
type latencyProbe struct {
	stop    chan struct{}
	done    chan struct{}
	samples []time.Duration
	err     error
}

func startLatencyProbe(addr string, size int) *latencyProbe {
	p := &latencyProbe{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.err = p.run(addr, size)
	}()
	return p
}

func (p *latencyProbe) run(addr string, size int) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	reply := func() (string, error) {
		c.SetReadDeadline(time.Now().Add(2 * time.Minute))
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return "", err
			}
			if len(line) < 4 || line[3] != '-' {
				return line, nil
			}
		}
	}
	cmd := func(s string) (string, error) {
		if _, err := fmt.Fprintf(c, "%s\r\n", s); err != nil {
			return "", err
		}
		return reply()
	}
	if _, err := reply(); err != nil {
		return err
	}
	if _, err := cmd("EHLO probe.bench.test"); err != nil {
		return err
	}
	body := "Subject: latency probe\r\n\r\n" + strings.Repeat(strings.Repeat("x", 78)+"\r\n", max(1, size/80)) + ".\r\n"
	for {
		select {
		case <-p.stop:
			cmd("QUIT")
			return nil
		default:
		}
		for _, s := range []string{"MAIL FROM:<probe@src.test>", "RCPT TO:<user2@dst.test>", "DATA"} {
			if line, err := cmd(s); err != nil || line[0] != '2' && line[0] != '3' {
				return fmt.Errorf("%s: %q %v", s, line, err)
			}
		}
		start := time.Now()
		if _, err := c.Write([]byte(body)); err != nil {
			return err
		}
		line, err := reply()
		if err != nil || !strings.HasPrefix(line, "250") {
			return fmt.Errorf("end of data: %q %v", line, err)
		}
		p.samples = append(p.samples, time.Since(start))
	}
}

// finish stops the probe and returns the p50 and p99 latencies.
func (p *latencyProbe) finish() (p50, p99 time.Duration, n int, err error) {
	close(p.stop)
	<-p.done
	s := slices.Clone(p.samples)
	slices.Sort(s)
	if len(s) == 0 {
		return 0, 0, 0, p.err
	}
	return s[len(s)*50/100], s[min(len(s)-1, len(s)*99/100)], len(s), p.err
}
