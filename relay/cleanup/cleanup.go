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
	// headers rewritten (Cleanup.RewriteHeaders). Nil: no client is, and
	// headers are never rewritten, as Postfix with
	// local_header_rewrite_clients empty.
	LocalClient func(ctx context.Context, client netip.Addr) bool
	// HeaderSizeLimit caps the header read for rewriting; the rest of a
	// longer header passes as it is. Default 102400, as Postfix
	// header_size_limit.
	HeaderSizeLimit int
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
	}{{&c.HeaderSizeLimit, "header_size_limit"}, {&c.RecursionLimit, "virtual_alias_recursion_limit"}, {&c.ExpansionLimit, "virtual_alias_expansion_limit"}, {&c.AddressLengthLimit, "virtual_alias_address_length_limit"}} {
		switch {
		case *l.v == 0 && l.name == "header_size_limit":
			*l.v = 102400
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
// when no canonical or virtual alias table is configured, so that
// callers can skip it.
func (cl *Cleanup) Rewrites() bool {
	return cl != nil && len(cl.virtual)+len(cl.canon.tables)+len(cl.senderCanon.tables)+len(cl.rcptCanon.tables) > 0
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
	// orig_to and the DSN's Original-Recipient.
	Original string
}

// Recipients rewrites the envelope recipients addrs, in order, as
// Postfix's cleanup_addr_recipient and cleanup_out_recipient: each is
// rewritten by recipient_canonical_maps and canonical_maps, then expanded
// by virtual_alias_maps, and an address that the same original recipient
// already gave is dropped (Postfix's duplicate filter). Two original recipients that expand into the same
// address both stay, as with Postfix's enable_original_recipient = yes.
// A refused expansion is an *Error (451 4.6.0 "Alias expansion error"),
// a canonical table failure too (451 4.3.0): the message must not be
// accepted.
func (cl *Cleanup) Recipients(ctx context.Context, queueID string, addrs []string) ([]Recipient, error) {
	out := make([]Recipient, 0, len(addrs))
	if !cl.Rewrites() {
		for _, a := range addrs {
			out = append(out, Recipient{Address: a, Original: a})
		}
		return out, nil
	}
	type pair struct{ orig, addr string }
	seen := make(map[pair]bool, len(addrs))
	for _, a := range addrs {
		c, err := cl.recipient(ctx, queueID, a)
		if err != nil {
			return nil, err
		}
		exp, err := cl.VirtualAlias(ctx, queueID, c)
		if err != nil {
			return nil, err
		}
		for _, e := range exp {
			if seen[pair{a, e}] {
				continue
			}
			seen[pair{a, e}] = true
			out = append(out, Recipient{Address: e, Original: a})
		}
	}
	return out, nil
}
