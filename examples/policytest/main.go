// Command policytest shows how to unit-test a relay policy, and dry-runs
// one: it reads "client sender recipient" lines and prints what an
// mxrelayd running the main.cf would answer to each RCPT TO, without any
// network, queue or mail.
//
//	cd examples/policytest
//	go run . < probes.txt
//	go run . -config /etc/postfix/main.cf -v < my-probes.txt
//	go run . -config main.cf -dns 127.0.0.1:5353 < probes.txt   # a DNS server of your choice
//
// Each input line is
//
//	CLIENT-IP SENDER RECIPIENT [EXPECTED]
//
// with SENDER and RECIPIENT as in MAIL FROM and RCPT TO ("<>" is the null
// sender). EXPECTED, when present, is the start of the reply the line must
// get ("250", "550 5.1.1", "454 4.7.1 <x@y.example>: Relay access denied"):
// a line that gets another reply is marked MISMATCH and the exit status is
// 1, so a file of probes is a regression test an admin can run without
// writing Go. Blank lines and lines starting with '#' are skipped.
//
// The Go tests next to this file (policy_test.go) are the same thing for a
// Go programmer: a table of clients, senders and recipients with the
// replies the policy must give.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// maxLine caps an input line; longer lines are reported, not read whole.
const maxLine = 64 << 10

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("policytest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "main.cf", "the Postfix main.cf whose policy is tested")
	helo := fs.String("helo", "client.example", "the HELO name of every client")
	verbose := fs.Bool("v", false, "also print which restriction and table entry decided")
	dnsServer := fs.String("dns", "", "send every DNS query to this HOST:PORT, not /etc/resolv.conf's")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: policytest [-config main.cf] [-helo NAME] [-dns HOST:PORT] [-v] [FILE...]")
		fmt.Fprintln(stderr, "input lines: CLIENT-IP SENDER RECIPIENT [EXPECTED-REPLY-PREFIX]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var dns []string
	if *dnsServer != "" {
		dns = []string{*dnsServer}
	}
	p, err := LoadPolicy(ctx, *config, dns...)
	if err != nil {
		fmt.Fprintf(stderr, "policytest: %v\n", err)
		return 2
	}
	defer p.Close()
	for _, w := range p.Warnings {
		fmt.Fprintf(stderr, "policytest: warning: %s\n", w)
	}

	var inputs []namedReader
	if fs.NArg() == 0 {
		inputs = append(inputs, namedReader{"stdin", stdin})
	}
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "policytest: %v\n", err)
			return 2
		}
		defer f.Close()
		inputs = append(inputs, namedReader{name, f})
	}
	var st stats
	for _, in := range inputs {
		if err := dryRun(ctx, p, *helo, *verbose, in, stdout, stderr, &st); err != nil {
			fmt.Fprintf(stderr, "policytest: %s: %v\n", in.name, err)
			return 2
		}
	}
	if st.expected > 0 || st.bad > 0 {
		fmt.Fprintf(stderr, "policytest: %d checked, %d with an expected reply, %d mismatches, %d bad lines\n",
			st.checked, st.expected, st.mismatches, st.bad)
	}
	if st.mismatches > 0 || st.bad > 0 {
		return 1
	}
	return 0
}

type namedReader struct {
	name string
	io.Reader
}

type stats struct {
	checked, expected, mismatches, bad int
}

// dryRun decides every line of in and prints one result line per probe.
func dryRun(ctx context.Context, p *Policy, helo string, verbose bool, in namedReader, stdout, stderr io.Writer, st *stats) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 4096), maxLine)
	for n := 1; sc.Scan(); n++ {
		pr, ok, err := parseProbe(sc.Text())
		if err != nil {
			st.bad++
			fmt.Fprintf(stderr, "%s:%d: %v\n", in.name, n, err)
			continue
		}
		if !ok {
			continue
		}
		d := p.CheckRcpt(ctx, pr.client, helo, pr.sender, pr.rcpt)
		reply := d.Reply()
		st.checked++
		line := fmt.Sprintf("%s %s %s -> %s", pr.client, pr.sender, pr.rcpt, reply)
		if verbose {
			line += "  [" + d.Reason.String() + "]"
		}
		if pr.expect != "" {
			st.expected++
			if !strings.HasPrefix(reply, pr.expect) {
				st.mismatches++
				line += fmt.Sprintf("  MISMATCH (%s:%d wants %q)", in.name, n, pr.expect)
			}
		}
		fmt.Fprintln(stdout, line)
	}
	return sc.Err()
}

// probe is one input line.
type probe struct {
	client       netip.Addr
	sender, rcpt string
	expect       string
}

// parseProbe reads "CLIENT SENDER RECIPIENT [EXPECTED]". ok is false for a
// blank or comment line.
func parseProbe(line string) (pr probe, ok bool, err error) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return probe{}, false, nil
	}
	f := strings.Fields(line)
	if len(f) < 3 {
		return probe{}, false, fmt.Errorf("want CLIENT-IP SENDER RECIPIENT [EXPECTED], got %q", line)
	}
	client, err := netip.ParseAddr(f[0])
	if err != nil {
		return probe{}, false, fmt.Errorf("client %q: %v", f[0], err)
	}
	return probe{client: client.Unmap(), sender: f[1], rcpt: f[2], expect: strings.Join(f[3:], " ")}, true, nil
}
