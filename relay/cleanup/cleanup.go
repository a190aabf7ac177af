package cleanup

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/mxrelay/mxrelay/lookup"
)

// Config configures the cleanup stage. The zero value rewrites nothing.
type Config struct {
	// Canonical, SenderCanonical and RecipientCanonical are the tables
	// of canonical_maps, sender_canonical_maps and
	// recipient_canonical_maps: one-to-one rewrites of the envelope
	// sender and recipients, before virtual alias expansion.
	Canonical, SenderCanonical, RecipientCanonical []lookup.Table
	// CanonicalClasses, SenderCanonicalClasses and
	// RecipientCanonicalClasses say what each canonical map rewrites
	// (ParseClasses). Zero: Postfix's defaults, every class for
	// canonical_maps, envelope_sender and header_sender for
	// sender_canonical_maps, envelope_recipient and header_recipient for
	// recipient_canonical_maps. Headers are not rewritten: see the
	// package documentation.
	CanonicalClasses, SenderCanonicalClasses, RecipientCanonicalClasses Classes
	// PropagateCanonical adds an unmatched address extension to the
	// result of a canonical map, as PropagateVirtual for
	// virtual_alias_maps. Postfix's propagate_unmatched_extensions lists
	// "canonical" by default.
	PropagateCanonical bool
	// AlwaysBcc is always_bcc: an address added as a recipient of every
	// message (with at least one recipient). Empty: none.
	AlwaysBcc string
	// SenderBcc and RecipientBcc are the tables of sender_bcc_maps and
	// recipient_bcc_maps: the address a table gives for the envelope
	// sender, or for a recipient, is added as a recipient.
	SenderBcc, RecipientBcc []lookup.Table
	// VirtualAlias are the tables of virtual_alias_maps (or the legacy
	// virtual_maps), searched in order. Empty: no virtual alias
	// rewriting.
	VirtualAlias []lookup.Table
	// RecursionLimit caps how often one address is looked up again after
	// it was rewritten. Default 1000, as Postfix
	// virtual_alias_recursion_limit.
	RecursionLimit int
	// ExpansionLimit caps the number of addresses one recipient expands
	// into. Default 1000, as Postfix virtual_alias_expansion_limit.
	ExpansionLimit int
	// AddressLengthLimit caps the length of each address a table gives.
	// Default 1000, as Postfix virtual_alias_address_length_limit.
	AddressLengthLimit int
	// Keys shape the lookup keys as Postfix's mail_addr_find: the
	// recipient_delimiter (Delimiters) and owner_request_special
	// (SplitOwnerRequest). Its LocalDomain is not used: see LocalDomain.
	Keys lookup.KeyOptions
	// LocalDomain reports whether a domain is $myorigin or local
	// (mydestination, this host's [address]): the bare localpart of its
	// addresses is a key too, as in mail_addr_find.c. An error is a table
	// failure. Nil: no domain is local.
	LocalDomain func(ctx context.Context, domain string) (bool, error)
	// PropagateVirtual adds an address extension that the table did not
	// match to every address it gives ("single+tag" found as "single"
	// gives "one+tag@..."). Postfix's propagate_unmatched_extensions
	// lists "virtual" by default, and so should callers.
	PropagateVirtual bool
	// MyOrigin completes a result without a domain ("localonly" gives
	// "localonly@$myorigin"), as trivial-rewrite's append_at_myorigin.
	MyOrigin string
	// LocalClient reports whether a client is one of Postfix's
	// local_header_rewrite_clients, whose messages have their address
	// headers rewritten (Cleanup.FinishHeader). Nil: no client is, and
	// headers are never rewritten, as Postfix with
	// local_header_rewrite_clients empty.
	LocalClient func(ctx context.Context, client netip.Addr) bool
	// HeaderChecks and BodyChecks are the tables of header_checks and
	// body_checks (regexp: or pcre:, see Check).
	HeaderChecks, BodyChecks []lookup.Table
	// MIMEHeaderChecks and NestedHeaderChecks are the tables of
	// mime_header_checks (MIME part headers, and Content-* and
	// MIME-Version anywhere) and nested_header_checks (the headers of
	// attached messages). Postfix's defaults are $header_checks: callers
	// pass the header_checks tables then.
	MIMEHeaderChecks, NestedHeaderChecks []lookup.Table
	// NoMIME leaves MIME structure alone: every line after the message
	// header is a body line, as Postfix with
	// disable_mime_input_processing = yes. Default false, as Postfix.
	NoMIME bool
	// BodyChecksSizeLimit is how far into the body body_checks look: a
	// line that starts beyond it is not checked. Default 51200, as
	// Postfix body_checks_size_limit.
	BodyChecksSizeLimit int
	// SMTPChecks and LMTPChecks are the delivery agents' content checks
	// (smtp_header_checks... and lmtp_header_checks...; see
	// CheckDelivery). Zero: none, as Postfix's defaults.
	SMTPChecks, LMTPChecks DeliveryChecks
	// DropHeaders are the header fields removed from the primary header
	// of every message (FinishHeader), compared without case: Postfix's
	// message_drop_headers, whose default callers should pass: bcc,
	// content-length, resent-bcc, return-path. Nil: none.
	DropHeaders []string
	// AlwaysAddMissingHeaders adds missing headers (FinishHeader) to the
	// mail of every client, not only of local_header_rewrite_clients.
	// Default false, as Postfix always_add_missing_headers.
	AlwaysAddMissingHeaders bool
	// UndisclosedRecipientsHeader is the field added to a message that
	// shows no recipient (FinishHeader). Postfix's
	// undisclosed_recipients_header, whose default callers should pass:
	// "To: undisclosed-recipients:;". Empty: none is added.
	UndisclosedRecipientsHeader string
	// MyHostname ends the Message-Id added to a message that has none.
	// Postfix's myhostname.
	MyHostname string
	// HeaderSizeLimit caps the header read for rewriting; the rest of a
	// longer header passes as it is. Default 102400, as Postfix
	// header_size_limit.
	HeaderSizeLimit int
	// MasqueradeDomains is masquerade_domains: the domains whose
	// subdomains are stripped from addresses, in order, "!domain"
	// excluding one (see Cleanup's address masquerading). Empty: none.
	MasqueradeDomains []string
	// MasqueradeExceptions is masquerade_exceptions: the localparts
	// (user names) never masqueraded, compared without case.
	MasqueradeExceptions []string
	// MasqueradeClasses is masquerade_classes: what is masqueraded.
	// Zero: Postfix's default, envelope_sender, header_sender and
	// header_recipient.
	MasqueradeClasses Classes
	// SwapBangpath and PercentHack turn "site!user" into "user@site"
	// and "user%domain" into "user@domain" in the headers of local
	// clients (see Cleanup.Header), as trivial-rewrite with Postfix's
	// swap_bangpath and allow_percent_hack, both yes by default; the
	// zero value leaves such addresses alone.
	SwapBangpath, PercentHack bool
	// Logger receives a warning for each refused expansion, as Postfix's
	// cleanup logs one. Nil discards.
	Logger *slog.Logger
}

// Cleanup rewrites the envelope of accepted mail before it is queued,
// as Postfix's cleanup(8). It is safe for concurrent use.
type Cleanup struct {
	c                             Config
	virtual                       []lookup.Table
	canon, senderCanon, rcptCanon canonMap
	log                           *slog.Logger
}

// New checks c and returns the cleanup stage it describes.
func New(c Config) (*Cleanup, error) {
	for _, l := range []struct {
		v    *int
		name string
	}{{&c.HeaderSizeLimit, "header_size_limit"}, {&c.BodyChecksSizeLimit, "body_checks_size_limit"}, {&c.RecursionLimit, "virtual_alias_recursion_limit"}, {&c.ExpansionLimit, "virtual_alias_expansion_limit"}, {&c.AddressLengthLimit, "virtual_alias_address_length_limit"}} {
		switch {
		case *l.v == 0 && l.name == "header_size_limit":
			*l.v = 102400
		case *l.v == 0 && l.name == "body_checks_size_limit":
			*l.v = 51200
		case *l.v == 0:
			*l.v = 1000
		case *l.v < 0:
			return nil, fmt.Errorf("cleanup: %s must be at least 1, not %d", l.name, *l.v)
		}
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Cleanup{c: c, virtual: c.VirtualAlias, log: log,
		canon:       canonMap{"canonical_maps", c.Canonical},
		senderCanon: canonMap{"sender_canonical_maps", c.SenderCanonical},
		rcptCanon:   canonMap{"recipient_canonical_maps", c.RecipientCanonical},
	}, nil
}

// Rewrites reports whether the stage may change the envelope: false
// when no canonical, BCC or virtual alias table, no always_bcc and no
// masquerade_domains is configured, so that callers can skip it.
func (cl *Cleanup) Rewrites() bool {
	return cl != nil && (len(cl.virtual)+len(cl.canon.tables)+len(cl.senderCanon.tables)+len(cl.rcptCanon.tables)+
		len(cl.c.SenderBcc)+len(cl.c.RecipientBcc)+len(cl.c.MasqueradeDomains) > 0 || cl.c.AlwaysBcc != "")
}

// RewritesHeaders reports whether the address headers of a message from
// client are rewritten: the client is one of local_header_rewrite_clients
// (Config.LocalClient), as Postfix's cleanup rewrites headers only in the
// "local" rewriting context.
func (cl *Cleanup) RewritesHeaders(ctx context.Context, client netip.Addr) bool {
	return cl != nil && cl.c.LocalClient != nil && cl.c.LocalClient(ctx, client)
}

// Recipient is one envelope recipient after cleanup.
type Recipient struct {
	// Address is the recipient to deliver to.
	Address string
	// Original is the recipient as the client gave it, for Postfix's
	// orig_to and the DSN's Original-Recipient; for an automatic BCC
	// recipient, the BCC address.
	Original string
	// Bcc marks a recipient added by always_bcc, sender_bcc_maps or
	// recipient_bcc_maps: Postfix never sends a DSN about it
	// (NOTIFY=NEVER).
	Bcc bool
}

// Recipients rewrites the envelope recipients addrs, in order, as
// Postfix's cleanup_addr_recipient and cleanup_out_recipient: each is
// rewritten by recipient_canonical_maps and canonical_maps, then expanded
// by virtual_alias_maps, and an address that the same original recipient
// already gave is dropped (Postfix's duplicate filter). No BCC recipient
// is added: see Envelope.
// A refused expansion is an *Error (451 4.6.0 "Alias expansion error"),
// a canonical table failure too (451 4.3.0): the message must not be
// accepted.
func (cl *Cleanup) Recipients(ctx context.Context, queueID string, addrs []string) ([]Recipient, error) {
	e := cl.newEnvelope(queueID, len(addrs))
	for _, a := range addrs {
		if err := e.recipient(ctx, a, false); err != nil {
			return nil, err
		}
	}
	return e.out, nil
}

// Envelope rewrites a whole envelope as Postfix's cleanup: the sender
// (Sender), then the recipients (Recipients) in Postfix's order: the
// sender's BCC address (sender_bcc_maps) first, each recipient followed by
// its BCC address (recipient_bcc_maps), always_bcc last. A BCC address
// gets the local context rewrite and the recipient canonical maps, and is
// expanded by virtual_alias_maps, as any recipient. A BCC table failure
// is an *Error (451 4.3.0).
func (cl *Cleanup) Envelope(ctx context.Context, queueID, sender string, addrs []string) (string, []Recipient, error) {
	sender, err := cl.Sender(ctx, queueID, sender)
	if err != nil {
		return "", nil, err
	}
	e := cl.newEnvelope(queueID, len(addrs)+1)
	if sender != "" {
		if err := e.bcc(ctx, cl.c.SenderBcc, "sender_bcc_maps", sender); err != nil {
			return "", nil, err
		}
	}
	for _, a := range addrs {
		if err := e.recipient(ctx, a, true); err != nil {
			return "", nil, err
		}
	}
	if cl.c.AlwaysBcc != "" && len(addrs) > 0 {
		if err := e.add(ctx, cl.c.AlwaysBcc); err != nil {
			return "", nil, err
		}
	}
	return sender, e.out, nil
}

// BccRecipients are the recipients of the BCC actions of header_checks
// and body_checks (Verdict.Bcc), rewritten as automatic BCC recipients
// (see Envelope).
func (cl *Cleanup) BccRecipients(ctx context.Context, queueID string, addrs []string) ([]Recipient, error) {
	e := &envelope{cl: cl, queueID: queueID, seen: make(map[seenKey]bool, len(addrs))}
	for _, a := range addrs {
		if err := e.add(ctx, a); err != nil {
			return nil, err
		}
	}
	return e.out, nil
}

// envelope collects the recipients of one message.
type envelope struct {
	cl      *Cleanup
	queueID string
	seen    map[seenKey]bool
	out     []Recipient
}

// seenKey is what Postfix's duplicate filter compares.
type seenKey struct {
	orig, addr string
	bcc        bool
}

func (cl *Cleanup) newEnvelope(queueID string, n int) *envelope {
	if !cl.Rewrites() {
		return &envelope{cl: cl, queueID: queueID, out: make([]Recipient, 0, n)}
	}
	return &envelope{cl: cl, queueID: queueID, seen: make(map[seenKey]bool, n), out: make([]Recipient, 0, n)}
}

// recipient adds a recipient the client gave: canonical maps, its BCC
// address when withBcc, virtual aliases.
func (e *envelope) recipient(ctx context.Context, orig string, withBcc bool) error {
	if e.seen == nil {
		e.out = append(e.out, Recipient{Address: orig, Original: orig})
		return nil
	}
	c, err := e.cl.recipient(ctx, e.queueID, orig)
	if err != nil {
		return err
	}
	if err := e.expand(ctx, orig, c, false); err != nil {
		return err
	}
	if withBcc {
		return e.bcc(ctx, e.cl.c.RecipientBcc, "recipient_bcc_maps", c)
	}
	return nil
}

// bcc adds the BCC address tables give for addr, if any.
func (e *envelope) bcc(ctx context.Context, tables []lookup.Table, param, addr string) error {
	if len(tables) == 0 {
		return nil
	}
	bcc, err := e.cl.findBcc(ctx, tables, param, addr)
	if err != nil {
		return e.cl.tableFailure(e.queueID, param, addr, err)
	}
	if bcc == "" {
		return nil
	}
	return e.add(ctx, bcc)
}

// add adds an automatic BCC recipient, as cleanup_addr_bcc_dsn.
func (e *envelope) add(ctx context.Context, bcc string) error {
	c, err := e.cl.recipient(ctx, e.queueID, e.cl.rewriteLocal(bcc))
	if err != nil {
		return err
	}
	return e.expand(ctx, c, c, true)
}

// expand adds addr (the rewritten orig) expanded by virtual_alias_maps,
// without duplicates.
func (e *envelope) expand(ctx context.Context, orig, addr string, bcc bool) error {
	exp, err := e.cl.VirtualAlias(ctx, e.queueID, addr)
	if err != nil {
		return err
	}
	for _, x := range exp {
		k := seenKey{orig, x, bcc}
		if e.seen[k] {
			continue
		}
		e.seen[k] = true
		e.out = append(e.out, Recipient{Address: x, Original: orig, Bcc: bcc})
	}
	return nil
}
