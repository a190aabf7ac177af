package main

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay"
	"github.com/mxrelay/mxrelay/relay/maincf"
)

// Policy is the relay policy of a main.cf, built exactly as mxrelayd builds
// it from "mxrelayd -config FILE" (relay.Load), so that what a test or a
// dry run decides is what the daemon answers.
type Policy struct {
	*policy.Policy
	// Warnings are the configuration traps and main.cf warnings Load found
	// (Loaded.Warnings): a sound configuration has none.
	Warnings []string

	loaded *relay.Loaded
}

// LoadPolicy reads the main.cf at path as mxrelayd -config does
// (maincf.Load: $config_directory is the file's directory unless main.cf
// sets it, as "postfix -c DIR" sets it, so that tables next to main.cf
// are found wherever the program runs from).
//
// dns, when given, are the DNS servers (HOST:PORT) the restrictions that
// look names up ask, instead of /etc/resolv.conf's, as mxrelayd -dns.
func LoadPolicy(ctx context.Context, path string, dns ...string) (*Policy, error) {
	cf, err := maincf.Load(path)
	if err != nil {
		return nil, err
	}
	// The queue is never written: only the policy is used. Listen names
	// no address, so the relay's own addresses are inet_interfaces', as
	// main.cf says, whatever machine runs the test.
	ld, err := relay.Load(ctx, cf, relay.LoadOptions{
		Queue:          queue.NewMemory(),
		InterfaceAddrs: func() ([]netip.Prefix, error) { return nil, nil },
		DNS:            dns,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Policy{Policy: ld.Policy, Warnings: ld.Warnings, loaded: ld}, nil
}

// Close releases what LoadPolicy opened.
func (p *Policy) Close() error { return p.loaded.Close() }

// CheckRcpt asks the policy what the server answers to "RCPT TO:<rcpt>"
// from client after "MAIL FROM:<sender>". With smtpd_delay_reject = yes,
// Postfix's default, the client, HELO and sender restrictions are
// evaluated at that point too, so this one call covers them all.
func (p *Policy) CheckRcpt(ctx context.Context, client netip.Addr, helo, sender, rcpt string) policy.Decision {
	return CheckRcpt(ctx, p.Policy, client, helo, sender, rcpt)
}

// CheckRcpt is the same question asked of any policy.Policy.
func CheckRcpt(ctx context.Context, p *policy.Policy, client netip.Addr, helo, sender, rcpt string) policy.Decision {
	return p.Check(ctx, &policy.Request{
		Stage:      policy.StageRcpt,
		ClientAddr: client,
		Helo:       helo,
		Sender:     sender,
		Recipient:  rcpt,
	})
}
