package policy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// RRType names a DNS record type policy asks for.
type RRType string

// The record types policy's restrictions ask for.
const (
	TypeA    RRType = "A"    // DNS lists (reject_rbl_client...), check_*_a_access, host names
	TypeAAAA RRType = "AAAA" // host names
	TypeTXT  RRType = "TXT"  // the reason text of a DNS list
	TypePTR  RRType = "PTR"  // the client's reverse name
	TypeMX   RRType = "MX"   // check_*_mx_access
	TypeNS   RRType = "NS"   // check_*_ns_access
)

// ErrNoRecords is what a DNS lookup returns (wrapped) when the name does
// not exist (NXDOMAIN) or has no record of the type asked (NODATA).
// Every other error is a temporary failure: a DNS problem must never
// refuse mail for good.
var ErrNoRecords = errors.New("policy: no such DNS record")

// ErrNoSuchName is ErrNoRecords for a name that does not exist
// (NXDOMAIN), as opposed to one without records of the type asked
// (NODATA). It wraps ErrNoRecords. Only permit_mx_backup's reply text
// tells them apart.
var ErrNoSuchName = fmt.Errorf("%w: no such name", ErrNoRecords)

// DNS answers the DNS questions of the restrictions that need more than
// Resolver's MX test: DNS lists (reject_rbl_client, reject_rhsbl_*,
// permit_dnswl_client), reject_unknown_helo_hostname and the client's
// name. relay adapts transport's resolver to it; policy never imports
// transport.
type DNS interface {
	// LookupRecords returns the data of name's records of type t in
	// presentation form: "127.0.0.2" for A and AAAA, the strings of one
	// TXT record joined, a host name (no trailing dot) for PTR and NS,
	// the preference and host for MX ("10 mx.example", "0 ." for a null
	// MX). For PTR, name is the reverse name ("2.0.0.127.in-addr.arpa").
	// An error wrapping ErrNoRecords means no such record: wrapping
	// ErrNoSuchName when the name does not exist (NXDOMAIN); any other
	// error is a temporary failure.
	LookupRecords(ctx context.Context, name string, t RRType) ([]string, error)
}

// DNSFunc adapts a function to DNS.
type DNSFunc func(ctx context.Context, name string, t RRType) ([]string, error)

// LookupRecords calls f.
func (f DNSFunc) LookupRecords(ctx context.Context, name string, t RRType) ([]string, error) {
	return f(ctx, name, t)
}

// Session holds what policy learns once per SMTP session: the DNS
// answers of its restrictions, so that a name is looked up at most once
// per session however many recipients ask (a DNS list is asked once for
// the client, not once per RCPT). Give every Request of a session the
// same Session (NewSession at connect); a nil Session caches nothing.
// It is safe for concurrent use. Answers are kept for the session's
// life: DNS TTLs are the resolver's business (transport caches by TTL).
type Session struct {
	mu      sync.Mutex
	answers map[dnsKey]*dnsAnswer
}

// maxSessionAnswers caps the answers one session keeps; past it, lookups
// are made without being remembered (a hostile client cannot grow it
// without bound, since recipient domains come from it).
const maxSessionAnswers = 256

type dnsKey struct {
	name string
	t    RRType
}

type dnsAnswer struct {
	done chan struct{} // closed when data and err are set
	data []string
	err  error
}

// NewSession returns an empty per-session cache.
func NewSession() *Session { return &Session{answers: map[dnsKey]*dnsAnswer{}} }

// lookup asks d through the session's cache. Concurrent askers of one
// name wait for the first one's answer, without holding the lock.
func (s *Session) lookup(ctx context.Context, d DNS, name string, t RRType) ([]string, error) {
	if s == nil {
		return d.LookupRecords(ctx, name, t)
	}
	k := dnsKey{name, t}
	s.mu.Lock()
	if a, ok := s.answers[k]; ok {
		s.mu.Unlock()
		select {
		case <-a.done:
			return a.data, a.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if len(s.answers) >= maxSessionAnswers {
		s.mu.Unlock()
		return d.LookupRecords(ctx, name, t)
	}
	a := &dnsAnswer{done: make(chan struct{})}
	s.answers[k] = a
	s.mu.Unlock()
	// A failure is remembered too: the session does not ask again, as
	// Postfix's smtpd keeps a DNS list's failure for the client.
	a.data, a.err = d.LookupRecords(ctx, name, t)
	close(a.done)
	return a.data, a.err
}

// dnsLookup is one DNS question of a restriction, bounded by
// Config.DNSTimeout and cached in the request's Session.
func (s *state) dnsLookup(ctx context.Context, name string, t RRType) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.p.dnsTimeout)
	defer cancel()
	if !s.dnsDeadline.IsZero() {
		var c context.CancelFunc
		ctx, c = context.WithDeadline(ctx, s.dnsDeadline)
		defer c()
	}
	return s.req.Session.lookup(ctx, s.p.cfg.DNS, name, t)
}

// dnsBudget bounds all the DNS questions of one restriction that asks
// many (the MX hosts of a domain and their addresses) by one
// Config.DNSTimeout, and returns the function that lifts the bound.
// Table lookups are not bounded by it.
func (s *state) dnsBudget() func() {
	if !s.dnsDeadline.IsZero() {
		return func() {}
	}
	s.dnsDeadline = time.Now().Add(s.p.dnsTimeout)
	return func() { s.dnsDeadline = time.Time{} }
}
