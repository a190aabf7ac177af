package msgauth

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"
)

// Config configures a Checker. DNS and AuthservID are required; every
// other zero value means the documented default.
type Config struct {
	// DNS answers every DNS question (SPF, DKIM keys, DMARC policies).
	DNS DNS
	// AuthservID names this server in Authentication-Results (RFC 8601
	// section 2.5). relay uses $myhostname.
	AuthservID string
	// MaxSignatures caps the DKIM-Signature fields verified per message;
	// the rest are reported as one PermError. Default 10: each costs a
	// DNS query and a public-key operation chosen by the sender.
	MaxSignatures int
	// TrustedForwarders are client networks whose mail is not SPF
	// checked (DKIM and DMARC still are): our own backup MX hosts, whose
	// address no sender's SPF record lists.
	TrustedForwarders []netip.Prefix
	// OnReject is done when DMARC fails and the domain's policy is
	// reject. Default Reject, as the domain asks (RFC 7489 section
	// 6.3, p=reject).
	OnReject Action
	// OnQuarantine is done when DMARC fails and the policy is
	// quarantine. Default Annotate: the next hop (the primary, or the
	// mailbox) files the message by its Authentication-Results.
	OnQuarantine Action
	// Decide, when set, decides each message from its results instead
	// of OnReject and OnQuarantine: the hook of the embedding program.
	// A zero Action from it means Annotate.
	Decide func(ctx context.Context, r *Results) Action
	// Timeout bounds one message's checks. Default 20s; DNS trouble past
	// it is TempError.
	Timeout time.Duration
	// Sample returns a number in [0, 100) to apply pct= (RFC 7489
	// section 6.6.4). Default uniform random.
	Sample func() int
}

// Checker checks SPF, DKIM and DMARC for messages. It is safe for
// concurrent use.
type Checker struct{ c Config }

// New returns a Checker for c.
func New(c Config) (*Checker, error) {
	if c.DNS == nil {
		return nil, errors.New("msgauth: Config.DNS is nil")
	}
	if c.AuthservID == "" || clean(c.AuthservID) != c.AuthservID || strings.ContainsAny(c.AuthservID, " ;()") {
		return nil, errors.New("msgauth: Config.AuthservID must be a host name")
	}
	if c.MaxSignatures <= 0 {
		c.MaxSignatures = 10
	}
	if c.OnReject == 0 {
		c.OnReject = Reject
	}
	if c.OnQuarantine == 0 {
		c.OnQuarantine = Annotate
	}
	if c.Timeout <= 0 {
		c.Timeout = 20 * time.Second
	}
	if c.Sample == nil {
		c.Sample = func() int { return rand.IntN(100) }
	}
	return &Checker{c: c}, nil
}

// AuthservID returns the identifier the Checker writes.
func (c *Checker) AuthservID() string { return c.c.AuthservID }

// Message is what Check needs to know about one message.
type Message struct {
	// ClientAddr is the SMTP client's address.
	ClientAddr netip.Addr
	// Helo is the HELO or EHLO name.
	Helo string
	// Sender is the MAIL FROM address, "" for the null sender.
	Sender string
	// Data is the message as received, with CRLF line endings.
	Data []byte
}

// Check checks m: SPF for its MAIL FROM and HELO identities, every DKIM
// signature, then DMARC from both, and decides the Action.
func (c *Checker) Check(ctx context.Context, m Message) *Results {
	ctx, cancel := context.WithTimeout(ctx, c.c.Timeout)
	defer cancel()
	r := &Results{AuthservID: c.c.AuthservID}
	c.checkSPF(ctx, m, r)
	dk, err := verifyDKIM(ctx, c.c.DNS, m.Data, c.c.MaxSignatures)
	if err != nil {
		dk = []DKIMResult{{Result: PermError, Reason: "malformed header: " + err.Error()}}
	}
	r.DKIM = dk
	spfID := r.SPF
	if spfID == nil {
		spfID = r.HeloSPF
	}
	r.DMARC = evaluateDMARC(ctx, c.c.DNS, m.Data, spfID, r.DKIM, c.c.Sample)
	r.Action = c.decide(ctx, r)
	return r
}

// checkSPF checks the HELO identity and the MAIL FROM identity (RFC
// 7208 section 2.3, 2.4), unless the client is a trusted forwarder.
func (c *Checker) checkSPF(ctx context.Context, m Message, r *Results) {
	for _, p := range c.c.TrustedForwarders {
		if p.Contains(m.ClientAddr.Unmap()) {
			r.SPFSkipped = true
			return
		}
	}
	if helo, ok := spfDomain(m.Helo); ok {
		h := checkSPF(ctx, c.c.DNS, m.ClientAddr, helo, "postmaster@"+helo, helo, "helo")
		r.HeloSPF = &h
	}
	at := strings.LastIndexByte(m.Sender, '@')
	if m.Sender == "" || at < 0 {
		return // the null sender: the HELO identity stands for it
	}
	domain, ok := spfDomain(m.Sender[at+1:])
	if !ok {
		r.SPF = &SPFResult{Result: None, Identity: "mailfrom", Domain: m.Sender[at+1:], Reason: "not a domain name"}
		return
	}
	s := checkSPF(ctx, c.c.DNS, m.ClientAddr, m.Helo, m.Sender[:at+1]+domain, domain, "mailfrom")
	r.SPF = &s
}

// decide returns the Action: Decide's, or the configured one for a
// DMARC failure. DNS trouble (TempError) never rejects.
func (c *Checker) decide(ctx context.Context, r *Results) Action {
	if c.c.Decide != nil {
		if a := c.c.Decide(ctx, r); a != 0 {
			return a
		}
		return Annotate
	}
	if r.DMARC.Result != Fail {
		return Annotate
	}
	switch r.DMARC.Policy {
	case PolicyReject:
		return c.c.OnReject
	case PolicyQuarantine:
		return c.c.OnQuarantine
	}
	return Annotate
}
