package transport

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
)

// Classifier gives the address class of a recipient domain, as
// trivial-rewrite's resolve.c does.
// *lookup.Domains implements it.
type Classifier interface {
	Class(ctx context.Context, domain string) (lookup.Class, error)
}

// ClassifierFunc adapts a function to Classifier.
type ClassifierFunc func(ctx context.Context, domain string) (lookup.Class, error)

// Class calls f(ctx, domain).
func (f ClassifierFunc) Class(ctx context.Context, domain string) (lookup.Class, error) {
	return f(ctx, domain)
}

// Special transport names: error: bounces and retry: defers with the
// nexthop as text (both are Postfix's error(8)); discard: drops the mail
// (discard(8)).
const (
	TransportError   = "error"
	TransportRetry   = "retry"
	TransportDiscard = "discard"
)

// undeliverable is the nexthop of error: and retry: entries without text
// (transport(5), "RESULT FORMAT").
const undeliverable = "Address is undeliverable"

// aliasUnknown is the route of the virtual alias class, whose addresses
// only virtual_alias_maps can deliver (trivial-rewrite's resolve.c).
const aliasUnknown = "5.1.1 User unknown in virtual alias table"

// RouterConfig holds the main.cf parameters of trivial-rewrite's resolver.
// The zero value routes everything as Postfix's defaults would with empty
// domain lists: class default, smtp to the recipient domain.
type RouterConfig struct {
	// Domains classifies recipient domains (mydestination,
	// virtual_alias_domains, virtual_mailbox_domains, relay_domains).
	// Nil: every domain is of the default class.
	Domains Classifier
	// TransportMaps is transport_maps, searched pattern-major with the
	// key order of lookup.AppendTransportKeys. Nil: no table. Tables of
	// the caller's receive folded keys (lookup.Folded), each lookup
	// bounded by lookup.DefaultLookupTimeout unless the table is
	// lookup.Bounded already.
	TransportMaps []lookup.Table
	// Keys shapes the transport_maps keys: Delimiters is
	// recipient_delimiter; ParentStyle is whether transport_maps is in
	// parent_domain_matches_subdomains (default no).
	Keys lookup.KeyOptions
	// MyHostname is $myhostname, the nexthop of local_transport without
	// its own nexthop. Empty: the recipient domain.
	MyHostname string
	// LocalTransport is local_transport, "transport[:nexthop]". Default
	// "local" (with MyHostname as nexthop), as Postfix's
	// "local:$myhostname".
	LocalTransport string
	// VirtualTransport is virtual_transport. Default "virtual", as
	// Postfix.
	VirtualTransport string
	// RelayTransport is relay_transport. Default "relay", as Postfix.
	RelayTransport string
	// DefaultTransport is default_transport. Default "smtp", as Postfix.
	DefaultTransport string
	// Relayhost is $relayhost: the nexthop of relay and default class mail
	// when neither a transport entry nor the class transport names one
	// (trivial-rewrite's resolve.c). Default empty: the recipient domain.
	Relayhost string
}

// Router resolves recipients to routes like Postfix's trivial-rewrite. It is
// safe for concurrent use when its tables and classifier are.
type Router struct {
	c        RouterConfig
	patterns []bool // TransportMaps[i] is a pattern table (lookup.IsPattern, before wrapping)
}

// NewRouter checks the configuration and returns a Router. A relayhost or a
// class transport whose nexthop does not parse is an error.
func NewRouter(c RouterConfig) (*Router, error) {
	c.TransportMaps = slices.Clone(c.TransportMaps)
	patterns := make([]bool, len(c.TransportMaps))
	for i, t := range c.TransportMaps {
		patterns[i] = lookup.IsPattern(t)
		c.TransportMaps[i] = lookup.Bounded(lookup.Folded(t), lookup.DefaultLookupTimeout) // keys folded, lookups bounded, for tables of the caller's
	}
	if c.LocalTransport == "" {
		c.LocalTransport = "local"
	}
	if c.VirtualTransport == "" {
		c.VirtualTransport = "virtual"
	}
	if c.RelayTransport == "" {
		c.RelayTransport = "relay"
	}
	if c.DefaultTransport == "" {
		c.DefaultTransport = "smtp"
	}
	if c.Relayhost != "" {
		if _, err := ParseNexthop(c.Relayhost); err != nil {
			return nil, fmt.Errorf("transport: relayhost: %w", err)
		}
	}
	for _, p := range []struct{ name, v string }{
		{"local_transport", c.LocalTransport}, {"virtual_transport", c.VirtualTransport},
		{"relay_transport", c.RelayTransport}, {"default_transport", c.DefaultTransport},
	} {
		tr, nh, _ := strings.Cut(p.v, ":")
		if tr == "" {
			return nil, fmt.Errorf("transport: %s %q: empty transport name", p.name, p.v)
		}
		if nh != "" && !isSpecial(tr) {
			if _, err := ParseNexthop(nh); err != nil {
				return nil, fmt.Errorf("transport: %s: %w", p.name, err)
			}
		}
	}
	return &Router{c: c, patterns: patterns}, nil
}

func isSpecial(tr string) bool {
	return tr == TransportError || tr == TransportRetry
}

// Route is where a recipient's mail goes: trivial-rewrite's answer.
type Route struct {
	// Recipient is the address routed.
	Recipient string
	// Class is the address class of its domain.
	Class lookup.Class
	// Transport is the master.cf service name: "smtp", "relay", "lmtp",
	// "error", "retry", "discard", "local", "virtual", or any name of the
	// caller's.
	Transport string
	// Nexthop is the destination as Postfix prints it: a nexthop for
	// ParseNexthop, or the text of an error:/retry: route.
	Nexthop string
	// Key is the transport_maps key that matched, empty when none did.
	Key string
	// Relayhost reports that Nexthop is $relayhost. A hard failure
	// to resolve or reach it is then deferred as a configuration problem
	// (4.3.5), as Postfix does, instead of bouncing the mail.
	Relayhost bool
}

// String formats the route as "transport:nexthop".
func (r Route) String() string { return r.Transport + ":" + r.Nexthop }

// Err returns the failure an error: or retry: route stands for, nil for any
// other route. A leading RFC 3463 status in the text is used (its class
// forced to 5 for error:, 4 for retry:); otherwise 5.0.0 or 4.0.0, as
// Postfix's error(8).
func (r Route) Err() *Error {
	var class byte
	switch r.Transport {
	case TransportError:
		class = '5'
	case TransportRetry:
		class = '4'
	default:
		return nil
	}
	status, text := string(class)+".0.0", r.Nexthop
	if first, rest, _ := strings.Cut(text, " "); validStatus(first) {
		status, text = string(class)+first[1:], strings.TrimSpace(rest)
	}
	return newError(status, nil, "%s", text)
}

// Hops parses Nexthop. It fails for error: and retry: routes.
func (r Route) Hops() (Nexthop, error) {
	if isSpecial(r.Transport) {
		return Nexthop{}, r.Err()
	}
	return ParseNexthop(r.Nexthop)
}

// Route resolves a recipient address (with its domain; a trailing dot is
// ignored). A table or classifier failure is a temporary *Error (451
// 4.3.0), never a bounce, as trivial-rewrite's resolver failures are.
func (rt *Router) Route(ctx context.Context, rcpt string) (Route, error) {
	_, domain := lookup.SplitAddress(rcpt)
	domain = strings.TrimSuffix(domain, ".")
	r := Route{Recipient: rcpt, Class: lookup.ClassDefault}
	if rt.c.Domains != nil {
		class, err := rt.c.Domains.Class(ctx, domain)
		if err != nil {
			return r, newError("4.3.0", err, "address resolver failure: %v", err)
		}
		r.Class = class
	}
	var classTransport string
	switch r.Class {
	case lookup.ClassLocal:
		classTransport = rt.c.LocalTransport
	case lookup.ClassAlias:
		// As resolve.c: no transport lookup for the virtual alias class.
		r.Transport, r.Nexthop = TransportError, aliasUnknown
		return r, nil
	case lookup.ClassVirtual:
		classTransport = rt.c.VirtualTransport
	case lookup.ClassRelay:
		classTransport = rt.c.RelayTransport
	default:
		classTransport = rt.c.DefaultTransport
	}
	r.Transport, r.Nexthop, _ = strings.Cut(classTransport, ":")
	if r.Nexthop == "" {
		switch r.Class {
		case lookup.ClassLocal:
			r.Nexthop = rt.c.MyHostname
		case lookup.ClassRelay, lookup.ClassDefault:
			// As resolve.c: the class transport's own nexthop beats
			// relayhost, relayhost beats the domain.
			r.Nexthop = rt.c.Relayhost
			r.Relayhost = r.Nexthop != ""
		}
		if r.Nexthop == "" {
			r.Nexthop = domain
		}
	}

	if len(rt.c.TransportMaps) == 0 {
		return r, nil
	}
	keys := lookup.AppendTransportKeys(make([]lookup.Key, 0, 8), rcpt, rt.c.Keys)
	res, found, err := searchTransport(ctx, rt.c.TransportMaps, rt.patterns, keys)
	if err != nil {
		return r, newError("4.3.0", err, "transport_maps lookup failure: %v", err)
	}
	if !found {
		return r, nil
	}
	r.Key = res.Key.Key
	tr, nh, _ := strings.Cut(res.Value, ":")
	tr, nh = strings.TrimSpace(tr), strings.TrimSpace(nh)
	// The empty-field rules of transport(5), "RESULT FORMAT".
	switch {
	case tr == "" && nh == "":
	case tr == "":
		r.Nexthop, r.Relayhost = nh, false
	case nh == "":
		r.Transport = tr
		r.Nexthop, r.Relayhost = domain, false
		if isSpecial(tr) {
			r.Nexthop = undeliverable
		}
	default:
		r.Transport, r.Nexthop, r.Relayhost = tr, nh, false
	}
	return r, nil
}

// searchTransport is lookup.Search as trivial-rewrite's transport.c
// searches transport_maps: pattern tables (regexp:, pcre:, cidr:,
// socketmap:, tcp:; lookup.IsPattern, told by patterns) are asked the
// full address only; the later keys (the address without its
// extension, the domain, its parents, "*") are fixed-string lookups they
// do not answer (golden: testdata/postfix/patterns).
func searchTransport(ctx context.Context, tables []lookup.Table, patterns []bool, keys []lookup.Key) (lookup.Result, bool, error) {
	for i, k := range keys {
		for j, t := range tables {
			if i > 0 && patterns[j] {
				continue
			}
			res, ok, err := lookup.Search(ctx, []lookup.Table{t}, []lookup.Key{k})
			if err != nil || ok {
				res.Table = j
				return res, ok, err
			}
		}
	}
	return lookup.Result{}, false, nil
}
