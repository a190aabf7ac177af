package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/transport/client"
)

// Sender runs one SMTP or LMTP session to one address. *client.Client
// implements it; tests substitute fakes.
type Sender interface {
	Deliver(ctx context.Context, t client.Target, m *client.Message) (*client.Result, error)
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, t client.Target, m *client.Message) (*client.Result, error)

// Deliver calls f(ctx, t, m).
func (f SenderFunc) Deliver(ctx context.Context, t client.Target, m *client.Message) (*client.Result, error) {
	return f(ctx, t, m)
}

// Protocol is the protocol a transport speaks.
type Protocol int

// Protocols.
const (
	SMTP Protocol = iota + 1
	LMTP
)

// TLSPolicy is the STARTTLS policy of one destination (Postfix
// smtp_tls_security_level and smtp_tls_policy_maps).
type TLSPolicy struct {
	// Level is none, may (the zero value), encrypt or verify.
	Level client.TLSLevel
	// Config is cloned for the handshake (roots, client certificate,
	// versions). Nil: a default configuration.
	Config *tls.Config
	// Match lists what the certificate must match under client.TLSVerify,
	// in Postfix's smtp_tls_verify_cert_match / match= terms: "hostname"
	// (the MX host, or the [host] of the nexthop), "nexthop" (the hop's
	// domain or host), "dot-nexthop" (any name under it), a literal name,
	// or ".example.com" (any name under example.com). One match suffices.
	// Empty: "hostname".
	Match []string
}

// targetMatch resolves a policy's Match for one address of a hop.
func (p *TLSPolicy) targetMatch(hop Hop, dest Dest) []string {
	if len(p.Match) == 0 {
		return nil
	}
	out := make([]string, 0, len(p.Match))
	for _, m := range p.Match {
		switch strings.ToLower(m) {
		case "hostname":
			out = append(out, dest.Host)
		case "nexthop":
			out = append(out, hop.Host)
		case "dot-nexthop":
			out = append(out, "."+hop.Host)
		default:
			out = append(out, m)
		}
	}
	return out
}

// TLSPolicies chooses the STARTTLS policy per destination. A lookup error
// defers the recipients (4.3.0) for that hop.
type TLSPolicies interface {
	TLSPolicy(ctx context.Context, r Route, hop Hop) (TLSPolicy, error)
}

// TLSPoliciesFunc adapts a function to TLSPolicies.
type TLSPoliciesFunc func(ctx context.Context, r Route, hop Hop) (TLSPolicy, error)

// TLSPolicy calls f(ctx, r, hop).
func (f TLSPoliciesFunc) TLSPolicy(ctx context.Context, r Route, hop Hop) (TLSPolicy, error) {
	return f(ctx, r, hop)
}

// Delivers reports whether the Agent can take mail routed to the
// transport name: one of its Protocols, or error, retry and discard, which
// need no delivery agent. Any other route is deferred by Deliver with
// 4.3.0 "mail transport unavailable", so an SMTP server can refuse such a
// recipient at RCPT instead of accepting mail it cannot pass on.
func (a *Agent) Delivers(name string) bool {
	switch name {
	case TransportError, TransportRetry, TransportDiscard:
		return true
	}
	_, ok := a.c.Protocols[name]
	return ok
}

// Protocol returns the protocol of the transport name, and whether the
// Agent delivers by it (see Delivers).
func (a *Agent) Protocol(name string) (Protocol, bool) {
	p, ok := a.c.Protocols[name]
	return p, ok
}

// AgentConfig configures an Agent.
type AgentConfig struct {
	// Sender runs the sessions, normally a *client.Client. Required.
	Sender Sender
	// Senders are the Senders of the transports that have their own, by
	// transport name: a master.cf delivery service with "-o" overrides
	// ("smtp-amavis ... smtp -o smtp_send_xforward_command=yes") runs
	// its own SMTP client, as Postfix runs an smtp(8) process with that
	// service's settings. Transports not in it use Sender.
	Senders map[string]Sender
	// Addresses turns nexthops into addresses (resolver, own addresses,
	// limits). Its Resolver is required.
	Addresses AddressConfig
	// Protocols maps transport names to protocols. Nil: "smtp" and
	// "relay" speak SMTP and "lmtp" speaks LMTP, as in Postfix's stock
	// master.cf. A route to any other transport (other than error, retry
	// and discard) is deferred with 4.3.0 "mail transport unavailable".
	Protocols map[string]Protocol
	// SessionLimit is the number of sessions that get past the greeting,
	// EHLO and STARTTLS per nexthop. Default 2, as Postfix
	// smtp_mx_session_limit. Handshake failures do not count.
	SessionLimit int
	// FallbackRelay is tried after the route's nexthops when recipients
	// are left (Postfix smtp_fallback_relay, default empty). As in
	// Postfix's smtp_connect.c, it is not used when this host is an MX of
	// the destination, nor after a mail loop; unlike Postfix, it is never
	// used for relay-class mail nor after a null MX (see the package
	// documentation).
	FallbackRelay string
	// TLS chooses the STARTTLS policy of each hop. Nil: the zero
	// TLSPolicy (opportunistic) everywhere.
	TLS TLSPolicies
	// SocketDirectory is Postfix's queue_directory (/var/spool/postfix by
	// default): relative unix: nexthop paths, such as the
	// "unix:private/dovecot-lmtp" of lmtp:unix:private/dovecot-lmtp,
	// resolve against it, as Postfix daemons run in queue_directory.
	// Absolute paths are used as written. Empty: the process's working
	// directory. A RecipientResult's Host keeps the path as written in the
	// nexthop; its Addr is the path dialed.
	SocketDirectory string
	// Logger receives a debug record per session. Nil discards.
	Logger *slog.Logger
}

// Agent delivers messages along routes: it resolves a route's nexthops to
// addresses and tries them in order with Postfix's try-next-address rules
// (smtp_connect.c, smtp_trouble.c; see Deliver). It is safe for
// concurrent use when its Sender and Resolver are.
type Agent struct {
	c        AgentConfig
	fallback Nexthop
	log      *slog.Logger
}

// NewAgent checks the configuration and returns an Agent.
func NewAgent(c AgentConfig) (*Agent, error) {
	if c.Sender == nil {
		return nil, errors.New("transport: AgentConfig.Sender is nil")
	}
	if c.Addresses.Resolver == nil {
		return nil, errors.New("transport: AgentConfig.Addresses.Resolver is nil")
	}
	if c.SessionLimit <= 0 {
		c.SessionLimit = 2
	}
	if c.Protocols == nil {
		c.Protocols = map[string]Protocol{"smtp": SMTP, "relay": SMTP, "lmtp": LMTP}
	}
	a := &Agent{c: c, log: c.Logger}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if c.FallbackRelay != "" {
		n, err := ParseNexthop(c.FallbackRelay)
		if err != nil {
			return nil, fmt.Errorf("transport: smtp_fallback_relay: %w", err)
		}
		a.fallback = n
	}
	return a, nil
}

// RecipientResult is the final outcome for one recipient of a delivery.
type RecipientResult struct {
	// Recipient is the recipient's address, as in the message.
	Recipient string
	// Status is client.Delivered, client.Deferred (retry later) or
	// client.Failed (bounce).
	Status client.Status
	// Reply is the remote reply that decided, zero when none did (a DNS
	// failure, a connect failure, a local route).
	Reply client.Reply
	// Err explains a Deferred or Failed status: a *client.Error for what
	// happened in a session, an *Error for routing and DNS failures.
	Err error
	// Host and Addr identify the peer that gave the final answer (or
	// whose failure is the last reason of a deferral).
	Host, Addr string
	// Stage is the session stage of the final answer (client.StageRcpt:
	// "in reply to RCPT TO command"); client.StageNone outside a session.
	Stage client.Stage
	// Discarded is set for recipients of a discard: route.
	Discarded bool
	// TLS reports that the final answer came over a TLS session.
	TLS bool
}

// Temporary reports whether the recipient must be tried again later.
func (r RecipientResult) Temporary() bool { return r.Status == client.Deferred }

// Code returns the SMTP reply code of the outcome: the peer's, else the
// code of the error, else 250 when delivered.
func (r RecipientResult) Code() int {
	if r.Reply.Code != 0 {
		return r.Reply.Code
	}
	var ce *client.Error
	var te *Error
	switch {
	case errors.As(r.Err, &ce):
		return ce.Code
	case errors.As(r.Err, &te):
		return te.Code
	case r.Status == client.Delivered:
		return 250
	case r.Status == client.Failed:
		return 554
	}
	return 451
}

// Enhanced returns the RFC 3463 status of the outcome ("5.1.1"). Its class
// always agrees with Status: a softened error (4.3.5 for a relayhost
// problem, 4.x.x for a skipped 5xx greeting) wins over the peer's reply.
func (r RecipientResult) Enhanced() string {
	var te *Error
	var ce *client.Error
	switch {
	case errors.As(r.Err, &te):
		return te.Status
	case errors.As(r.Err, &ce) && !ce.Enhanced.IsZero():
		return ce.Status()
	case !r.Reply.Enhanced.IsZero():
		return r.Reply.Enhanced.String()
	case r.Err != nil:
		return StatusOf(r.Err)
	case r.Status == client.Delivered:
		return "2.0.0"
	}
	return "4.0.0"
}

// Text describes the outcome as Postfix logs it ("host mx[192.0.2.1] said:
// 550 5.1.1 ... (in reply to RCPT TO command)", "mail for example.com
// loops back to myself"): a local reason does not repeat the enhanced
// status code, which Enhanced returns.
func (r RecipientResult) Text() string {
	switch {
	case r.Err != nil:
		return ReasonOf(r.Err)
	case r.Discarded:
		return "discarded"
	case r.Reply.Code != 0:
		addr := r.Addr
		if h, _, err := net.SplitHostPort(addr); err == nil {
			addr = h
		}
		return fmt.Sprintf("host %s[%s] said: %s", r.Host, addr, r.Reply)
	}
	return "delivered"
}

// Delivery is the outcome of Agent.Deliver.
type Delivery struct {
	// Recipients has one entry per message recipient, in order.
	Recipients []RecipientResult
	// Tried lists the addresses sessions were attempted with, in order
	// (an address retried in clear text after a failed opportunistic
	// STARTTLS appears twice).
	Tried []Dest
	// Sessions counts the sessions that got past EHLO/STARTTLS.
	Sessions int
	// IAmMX reports that this host was found in the destination's MX list.
	IAmMX bool
}

// Deliver takes m to its recipients along r: error:/retry: routes fail or
// defer every recipient, discard: drops them, other routes are delivered
// with the transport's protocol.
//
// The route's nexthops are tried in order, each resolved to addresses by
// AddressConfig.Resolve, and the recipients still pending are offered to
// each address in turn, as Postfix's smtp_connect.c and smtp_trouble.c
// do: a connect failure, timeout, 4xx or 5xx greeting, or 4xx
// EHLO/MAIL/DATA moves on to the next address with those recipients; a
// RCPT 4xx keeps that recipient for the next address; a 5xx is final for
// the recipients it answered. Per nexthop, at most
// AddressConfig.AddressLimit addresses and SessionLimit established
// sessions are used (smtp_mx_address_limit, smtp_mx_session_limit). When
// this host is one of the destination's MX hosts, or the mail loops, no
// later nexthop and no fallback relay (smtp_fallback_relay) is tried.
// Recipients left at the end are deferred, or bounced when their last
// reason is permanent; a temporary reason is kept over a later permanent
// one, and a permanent failure of $relayhost or of the fallback relay is
// deferred as 4.3.5.
//
// Deliver always returns one result per recipient; it has no error return.
// Cancelling ctx defers the recipients not yet final.
func (a *Agent) Deliver(ctx context.Context, r Route, m *client.Message) *Delivery {
	d := &Delivery{Recipients: make([]RecipientResult, len(m.Recipients))}
	for i, rc := range m.Recipients {
		d.Recipients[i].Recipient = rc.Address
	}
	setAll := func(status client.Status, err error) *Delivery {
		for i := range d.Recipients {
			d.Recipients[i].Status, d.Recipients[i].Err = status, err
		}
		return d
	}
	switch r.Transport {
	case TransportError, TransportRetry:
		e := r.Err()
		if e.Temporary() {
			return setAll(client.Deferred, e)
		}
		return setAll(client.Failed, e)
	case TransportDiscard:
		for i := range d.Recipients {
			d.Recipients[i].Status, d.Recipients[i].Discarded = client.Delivered, true
		}
		return d
	}
	proto, ok := a.c.Protocols[r.Transport]
	if !ok {
		return setAll(client.Deferred, newError("4.3.0", nil, "mail transport unavailable: %q", r.Transport))
	}
	nh, err := r.Hops()
	if err != nil {
		return setAll(client.Deferred, err)
	}

	u := &run{a: a, d: d, route: r, msg: m, lmtp: proto == LMTP}
	u.pending = make([]int, len(m.Recipients))
	for i := range u.pending {
		u.pending[i] = i
	}
	u.last = make([]error, len(m.Recipients))
	u.fromFallback = make([]bool, len(m.Recipients))
	u.hops(ctx, nh.Hops, false)
	useFallback := len(a.fallback.Hops) > 0 && !u.final && !u.lmtp &&
		r.Class != lookup.ClassRelay && len(u.pending) > 0 && ctx.Err() == nil
	if useFallback {
		u.hops(ctx, a.fallback.Hops, true)
	}
	for _, i := range u.pending {
		u.leftover(i)
	}
	return d
}

// run is the state of one Deliver call.
type run struct {
	a            *Agent
	d            *Delivery
	route        Route
	msg          *client.Message
	lmtp         bool
	pending      []int   // indexes of recipients not yet final
	last         []error // last failure per recipient
	fromFallback []bool  // last failure came from the fallback relay
	fallback     bool    // trying the fallback relay now
	final        bool    // no further nexthop or fallback relay
}

// note records a failure for a pending recipient; a temporary reason is
// not replaced by a permanent one.
func (u *run) note(i int, err error) {
	if u.last[i] != nil && IsTemporary(u.last[i]) && !IsTemporary(err) {
		return
	}
	u.last[i] = err
	u.fromFallback[i] = u.fallback
}

// leftover makes a recipient that no address took final: deferred with its
// last reason, or bounced when that reason is permanent and not a
// configuration problem.
func (u *run) leftover(i int) {
	rr := &u.d.Recipients[i]
	err := u.last[i]
	if err == nil {
		err = newError("4.3.0", nil, "server unavailable or unable to receive mail")
	}
	if !IsTemporary(err) && !u.lmtp {
		switch {
		case u.fromFallback[i]:
			err = newError("4.3.5", err, "%s (smtp_fallback_relay configuration problem)", textOf(err))
		case u.route.Relayhost:
			err = newError("4.3.5", err, "%s (relayhost configuration problem)", textOf(err))
		}
	}
	rr.Status, rr.Err = client.Deferred, err
	if !IsTemporary(err) {
		rr.Status = client.Failed
	}
	var ce *client.Error
	if errors.As(err, &ce) {
		rr.Host, rr.Addr, rr.Stage = ce.Host, ce.Addr, ce.Stage
		if ce.Reply != nil {
			rr.Reply = *ce.Reply
		}
	}
}

// hops tries each hop in order until no recipient is pending or a hop is
// final.
func (u *run) hops(ctx context.Context, hops []Hop, fallback bool) {
	u.fallback = fallback
	cfg := &u.a.c.Addresses
	limit := cfg.addressLimit()
	for _, hop := range hops {
		if u.final || len(u.pending) == 0 || ctx.Err() != nil {
			return
		}
		addrs, err := cfg.Resolve(ctx, hop, u.lmtp)
		if addrs.IAmMX {
			// We are an MX host: this hop is the final one, as
			// smtp_connect.c decides.
			u.d.IAmMX, u.final = true, true
		}
		if err != nil {
			for _, i := range u.pending {
				u.note(i, err)
			}
			switch StatusOf(err) {
			case "5.4.6", "5.1.0":
				// A loop or a null MX: no other hop, no fallback.
				u.final = true
			}
			continue
		}
		pol, err := u.tlsPolicy(ctx, hop)
		if err != nil {
			for _, i := range u.pending {
				u.note(i, err)
			}
			continue
		}
		sessions := 0
		for k, dest := range addrs.Dests {
			if len(u.pending) == 0 || ctx.Err() != nil || k >= limit {
				break
			}
			best := dest.Pref == addrs.Dests[0].Pref
			if u.session(ctx, hop, dest, best, pol) {
				if sessions++; sessions >= u.a.c.SessionLimit {
					break
				}
			}
		}
	}
}

func (u *run) tlsPolicy(ctx context.Context, hop Hop) (TLSPolicy, error) {
	if u.a.c.TLS == nil {
		return TLSPolicy{}, nil
	}
	p, err := u.a.c.TLS.TLSPolicy(ctx, u.route, hop)
	if err != nil {
		var te *Error
		if !errors.As(err, &te) {
			err = newError("4.3.0", err, "TLS policy lookup for %s failed", hop)
		}
		return p, err
	}
	return p, nil
}

func textOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Text
	}
	return err.Error()
}

// session runs one session to dest with the pending recipients and applies
// the try-next-address rules to the results. It reports whether the
// session was established (counts against the session limit).
func (u *run) session(ctx context.Context, hop Hop, dest Dest, best bool, pol TLSPolicy) bool {
	t := client.Target{Host: dest.Host, Network: dest.Network(), Address: dest.Address(), LMTP: u.lmtp,
		TLS: pol.Level, TLSConfig: pol.Config, TLSMatch: pol.targetMatch(hop, dest),
		// Postfix detects a peer that is this host on port 25 only
		// (smtp_connect.c, smtp_proto.c).
		LoopDetect: !u.lmtp && dest.Network() == "tcp" && dest.Port == SMTPPort,
		BestMX:     best, Nexthop: hop.String()}
	if t.Network == "unix" {
		t.TLS = client.TLSNone
		if dir := u.a.c.SocketDirectory; dir != "" && !filepath.IsAbs(t.Address) {
			t.Address = filepath.Join(dir, t.Address)
		}
	}
	sub := *u.msg
	sub.Recipients = make([]client.Recipient, len(u.pending))
	for k, i := range u.pending {
		sub.Recipients[k] = u.msg.Recipients[i]
	}
	u.d.Tried = append(u.d.Tried, dest)
	sender := u.a.c.Sender
	if s := u.a.c.Senders[u.route.Transport]; s != nil {
		sender = s
	}
	res, err := sender.Deliver(ctx, t, &sub)
	if res != nil && res.Err != nil && res.Err.RetryWithoutTLS() {
		// Postfix retries the same address in clear text after an
		// opportunistic handshake failure, without counting it.
		u.a.log.Debug("STARTTLS failed, retrying in clear", "dest", dest.String(), "err", res.Err)
		t.TLS = client.TLSNone
		u.d.Tried = append(u.d.Tried, dest)
		res, err = sender.Deliver(ctx, t, &sub)
	}
	established := res != nil && res.Established
	if established {
		u.d.Sessions++
	}
	u.a.log.Debug("session", "route", u.route.String(), "dest", dest.String(), "established", established, "err", err)

	var keep []int
	for k, i := range u.pending {
		if res == nil || k >= len(res.Recipients) {
			// A broken Sender: treat as a site failure.
			if err == nil {
				err = newError("4.3.0", nil, "delivery agent returned no result for %s", dest)
			}
			u.note(i, err)
			keep = append(keep, i)
			continue
		}
		rr := res.Recipients[k]
		out := &u.d.Recipients[i]
		switch rr.Status {
		case client.Delivered:
			*out = RecipientResult{Recipient: out.Recipient, Status: client.Delivered, Reply: rr.Reply,
				Host: res.Host, Addr: res.Addr, Stage: client.StageDataDone, TLS: res.TLS}
		case client.Failed:
			*out = final(out.Recipient, client.Failed, rr, res)
		case client.Deferred:
			if rr.Err == nil || rr.Err.NextAddress() {
				u.note(i, errOf(rr, err))
				keep = append(keep, i)
			} else {
				// Canceled, or a problem with the message itself:
				// no other address will do better.
				*out = final(out.Recipient, client.Deferred, rr, res)
			}
		default: // Pending: not attempted in this session
			if err == nil {
				err = newError("4.3.0", nil, "recipient not attempted at %s", dest)
			}
			u.note(i, err)
			keep = append(keep, i)
		}
	}
	u.pending = keep
	return established
}

func errOf(rr client.RecipientResult, err error) error {
	if rr.Err != nil {
		return rr.Err
	}
	if err != nil {
		return err
	}
	return newError("4.4.2", nil, "recipient deferred without a reason")
}

// final builds the result of a recipient whose outcome a session decided.
func final(rcpt string, status client.Status, rr client.RecipientResult, res *client.Result) RecipientResult {
	out := RecipientResult{Recipient: rcpt, Status: status, Reply: rr.Reply, Host: res.Host, Addr: res.Addr, TLS: res.TLS}
	if rr.Err != nil {
		out.Err, out.Stage = rr.Err, rr.Err.Stage
		if rr.Err.Host != "" {
			out.Host, out.Addr = rr.Err.Host, rr.Err.Addr
		}
		return out
	}
	// A Sender that reports a failure without a reason.
	if status == client.Failed {
		out.Err = newError("5.0.0", nil, "delivery to %s[%s] failed", res.Host, res.Addr)
	} else {
		out.Err = newError("4.0.0", nil, "delivery to %s[%s] deferred", res.Host, res.Addr)
	}
	return out
}
