package transport

import (
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Dest is one address a delivery may be tried at.
type Dest struct {
	// Host is the MX host or the [host] name (without brackets and trailing
	// dot), or the socket path for a unix: LMTP destination.
	Host string
	// Addr is the IP address; invalid for a unix: destination.
	Addr netip.Addr
	// Port is the TCP port.
	Port uint16
	// Pref is the MX preference; 0 for hosts found without MX records.
	Pref int
}

// Address returns the dial address: "192.0.2.1:25", "[2001:db8::1]:25",
// or the socket path.
func (d Dest) Address() string {
	if !d.Addr.IsValid() {
		return d.Host
	}
	return netip.AddrPortFrom(d.Addr, d.Port).String()
}

// Network returns "tcp" or "unix".
func (d Dest) Network() string {
	if !d.Addr.IsValid() {
		return "unix"
	}
	return "tcp"
}

// String formats the destination as Postfix logs it: "host[addr]:port".
func (d Dest) String() string {
	if !d.Addr.IsValid() {
		return d.Host
	}
	return d.Host + "[" + d.Addr.String() + "]:" + strconv.Itoa(int(d.Port))
}

// AddressConfig controls how a nexthop becomes a list of addresses, as
// Postfix's smtp_addr.c does it.
// The zero value is Postfix's default behaviour with a resolver that must be
// set.
type AddressConfig struct {
	// Resolver answers the DNS queries. Required.
	Resolver Resolver
	// MyAddresses are this host's own addresses: the listening addresses
	// (inet_interfaces; every interface address for "all") and the
	// proxy_interfaces of a NATed or proxied MX. A destination that
	// resolves to one of them on port 25 is a mail loop (smtp_addr.c).
	MyAddresses []netip.Addr
	// AddressLimit is the number of addresses tried per delivery. Default
	// 5, as Postfix smtp_mx_address_limit; negative means no limit.
	AddressLimit int
	// Network selects address families: "ip4", "ip6" or "ip" (both,
	// default, as Postfix inet_protocols = all).
	Network string
	// NoRandomize keeps equal-preference addresses in DNS order (Postfix
	// smtp_randomize_addresses = no). Default false: they are shuffled.
	NoRandomize bool
	// Shuffle permutes n elements with swap; tests inject a deterministic
	// one. Default math/rand/v2.Shuffle.
	Shuffle func(n int, swap func(i, j int))
	// DeferIfNoMXAddress defers instead of bouncing when no MX host has an
	// address (Postfix smtp_defer_if_no_mx_address_found, default no).
	DeferIfNoMXAddress bool
	// Prefer puts one address family first among addresses of equal
	// preference: "ipv4" or "ipv6". Default "any": no preference, as
	// Postfix smtp_address_preference.
	Prefer string
	// IgnoreMXLookupError looks up the domain's own addresses when the
	// MX lookup fails temporarily, instead of deferring (Postfix
	// ignore_mx_lookup_error, default no).
	IgnoreMXLookupError bool
	// MaxMXHosts caps the MX hosts looked up per domain, best first.
	// Hosts of the same preference as the last one within the cap are
	// looked up too, up to five times the cap, so that the self check
	// (smtp_addr.c's backup-MX truncation) sees all of a preference.
	// Default 20. Postfix has no such cap; a peer listing thousands of MX
	// records should not cost thousands of queries.
	MaxMXHosts int
}

func (c *AddressConfig) addressLimit() int {
	switch {
	case c.AddressLimit == 0:
		return 5
	case c.AddressLimit < 0:
		return int(^uint(0) >> 1)
	}
	return c.AddressLimit
}

func (c *AddressConfig) network() string {
	if c.Network == "" {
		return "ip"
	}
	return c.Network
}

func (c *AddressConfig) isMine(a netip.Addr) bool {
	a = a.Unmap()
	for _, m := range c.MyAddresses {
		if m.Unmap() == a {
			return true
		}
	}
	return false
}

func (c *AddressConfig) shuffle(d []Dest) {
	if c.NoRandomize || len(d) < 2 {
		return
	}
	swap := func(i, j int) { d[i], d[j] = d[j], d[i] }
	if c.Shuffle != nil {
		c.Shuffle(len(d), swap)
		return
	}
	rand.Shuffle(len(d), swap)
}

// Addresses is the outcome of resolving one hop.
type Addresses struct {
	// Dests are the addresses to try, best first, already truncated at
	// our own preference (smtp_addr.c) and balanced between IPv4 and IPv6
	// within the address limit (smtp_mx_address_limit,
	// smtp_balance_inet_protocols). The address limit itself applies
	// across all hops of a delivery.
	Dests []Dest
	// IAmMX reports that one of MyAddresses was in the MX list: this
	// host is a (backup) MX for the destination, so it must not pass the
	// mail to a fallback relay (smtp_fallback_relay; smtp_connect.c).
	IAmMX bool
}

// maxMXHostsDefault is MaxMXHosts' default.
const maxMXHostsDefault = 20

// Resolve returns the addresses of one hop, as Postfix's smtp_addr.c: MX
// lookup (RFC 5321 section 5.1), implicit MX, null MX (RFC 7505), sorting
// and shuffling, and the self check. lmtp selects LMTP semantics: no MX
// lookup, default port 24, no loop detection. Errors are *Error with
// Postfix's status: 4.4.3 temporary DNS failure, 5.4.4 host not found,
// 5.1.0 null MX, 5.4.6 mail loops back to myself, 4.4.4 unable to find
// primary relay.
func (c *AddressConfig) Resolve(ctx context.Context, hop Hop, lmtp bool) (Addresses, error) {
	defPort := uint16(SMTPPort)
	if lmtp {
		defPort = LMTPPort
	}
	if hop.Network == "unix" {
		return Addresses{Dests: []Dest{{Host: hop.Host}}}, nil
	}
	port := hop.PortOr(defPort)
	loopDetect := !lmtp && port == SMTPPort
	host := strings.TrimSuffix(hop.Host, ".")
	if hop.Bracketed || lmtp || hop.Network == "inet" {
		d, err := c.hostAddrs(ctx, host, port, loopDetect)
		return Addresses{Dests: d}, err
	}
	return c.domainAddrs(ctx, host, port, loopDetect)
}

// domainAddrs is Postfix smtp_domain_addr.
func (c *AddressConfig) domainAddrs(ctx context.Context, domain string, port uint16, loopDetect bool) (Addresses, error) {
	mxs, err := c.Resolver.LookupMX(ctx, domain)
	if err != nil {
		de := dnsErrorOf(err, domain, "MX")
		switch de.Kind {
		case DNSNotFound, DNSNoData:
			// No MX records: the domain is its own MX (implicit MX,
			// RFC 5321 section 5.1).
			d, err := c.hostAddrs(ctx, domain, port, loopDetect)
			return Addresses{Dests: d}, err
		case DNSTemporary:
			if c.IgnoreMXLookupError {
				d, err := c.hostAddrs(ctx, domain, port, loopDetect)
				return Addresses{Dests: d}, err
			}
			return Addresses{}, newError("4.4.3", err, "Host or domain name not found. %s", de)
		case DNSUnrecoverable:
			return Addresses{}, newError("5.4.3", err, "Host or domain name not found. %s", de)
		}
		return Addresses{}, newError("5.4.4", err, "Host or domain name not found. %s", de)
	}
	if len(mxs) == 0 {
		d, err := c.hostAddrs(ctx, domain, port, loopDetect)
		return Addresses{Dests: d}, err
	}
	for _, mx := range mxs {
		if mx.Host == "." || mx.Host == "" {
			// Null MX, RFC 7505.
			return Addresses{}, newError("5.1.0", nil, "Domain %s does not accept mail (nullMX)", domain)
		}
	}
	mxs = slices.Clone(mxs)
	slices.SortStableFunc(mxs, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	maxHosts := c.MaxMXHosts
	if maxHosts <= 0 {
		maxHosts = maxMXHostsDefault
	}
	if len(mxs) > maxHosts {
		// Never split a preference (up to five times the cap): the self
		// check must see every host of our preference.
		cut := maxHosts
		for cut < len(mxs) && cut < 5*maxHosts && mxs[cut].Pref == mxs[maxHosts-1].Pref {
			cut++
		}
		mxs = mxs[:cut]
	}
	bestPref := int(mxs[0].Pref)

	// Addresses of every MX host (smtp_defer_if_no_mx_address_found
	// when none has one). A soft error dominates hard ones, as Postfix's
	// smtp_addr_one.
	var dests []Dest
	var why *Error
	for _, mx := range mxs {
		name := strings.TrimSuffix(mx.Host, ".")
		addrs, err := c.lookupHost(ctx, name)
		if err != nil {
			why = hostLookupError(err, name, why)
			continue
		}
		for _, a := range addrs {
			dests = append(dests, Dest{Host: name, Addr: a, Port: port, Pref: int(mx.Pref)})
		}
	}
	if len(dests) == 0 {
		if why == nil {
			why = newError("5.4.4", nil, "no MX host for %s has a valid address record", domain)
		}
		if c.DeferIfNoMXAddress && !why.Temporary() {
			why = newError("4"+why.Status[1:], why.Err, "%s", why.Text)
		}
		return Addresses{}, why
	}

	// Find ourselves (inet_interfaces, proxy_interfaces); keep only
	// strictly better preferences, as smtp_addr.c's backup-MX truncation.
	res := Addresses{}
	if loopDetect {
		if i := slices.IndexFunc(dests, func(d Dest) bool { return c.isMine(d.Addr) }); i >= 0 {
			res.IAmMX = true
			self := dests[i].Pref
			bestFound := dests[0].Pref
			dests = slices.DeleteFunc(dests, func(d Dest) bool { return d.Pref >= self })
			if len(dests) == 0 {
				if bestPref != bestFound {
					return res, newError("4.4.4", nil, "unable to find primary relay for %s", domain)
				}
				return res, newError("5.4.6", nil, "mail for %s loops back to myself", domain)
			}
		}
	}
	// Shuffle, then sort by preference: equal preferences in random
	// order (smtp_randomize_addresses), the preferred family first
	// (smtp_address_preference).
	c.shuffle(dests)
	slices.SortStableFunc(dests, func(a, b Dest) int {
		if a.Pref != b.Pref {
			return a.Pref - b.Pref
		}
		return c.familyRank(a.Addr) - c.familyRank(b.Addr)
	})
	res.Dests = c.balance(dests)
	return res, nil
}

// hostAddrs is Postfix smtp_host_addr: the addresses of one host, no MX.
func (c *AddressConfig) hostAddrs(ctx context.Context, host string, port uint16, loopDetect bool) ([]Dest, error) {
	addrs, err := c.lookupHost(ctx, host)
	if err != nil {
		return nil, hostLookupError(err, host, nil)
	}
	dests := make([]Dest, 0, len(addrs))
	for _, a := range addrs {
		if loopDetect && c.isMine(a) {
			// A [host] or relayhost that is us (smtp_addr.c).
			return nil, newError("5.4.6", nil, "mail for %s loops back to myself", host)
		}
		dests = append(dests, Dest{Host: host, Addr: a, Port: port})
	}
	c.shuffle(dests)
	if c.Prefer == "ipv4" || c.Prefer == "ipv6" {
		slices.SortStableFunc(dests, func(a, b Dest) int { return c.familyRank(a.Addr) - c.familyRank(b.Addr) })
	}
	return c.balance(dests), nil
}

// familyRank orders addresses of equal preference by Prefer: 0 first.
func (c *AddressConfig) familyRank(a netip.Addr) int {
	switch {
	case c.Prefer == "ipv4" && !a.Is4(), c.Prefer == "ipv6" && a.Is4():
		return 1
	}
	return 0
}

// lookupHost returns the addresses of a host name, or the address itself
// for a numeric host.
func (c *AddressConfig) lookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil && a.Zone() == "" {
		a = a.Unmap()
		if c.network() == "ip4" && !a.Is4() || c.network() == "ip6" && !a.Is6() {
			return nil, &DNSError{Name: host, Type: "A", Kind: DNSNoData}
		}
		return []netip.Addr{a}, nil
	}
	addrs, err := c.Resolver.LookupNetIP(ctx, c.network(), host)
	if err == nil && len(addrs) == 0 {
		err = &DNSError{Name: host, Type: "A", Kind: DNSNoData}
	}
	return addrs, err
}

// hostLookupError maps an address lookup failure to Postfix's status; prev
// is an earlier failure for another MX host (a soft one dominates).
func hostLookupError(err error, host string, prev *Error) *Error {
	de := dnsErrorOf(err, host, "A")
	soft := prev != nil && prev.Temporary()
	var status string
	switch de.Kind {
	case DNSTemporary:
		status = "4.4.3"
	case DNSUnrecoverable:
		status = "5.4.3"
		if soft {
			status = "4.4.3"
		}
	default:
		status = "5.4.4"
		if soft {
			status = "4.4.4"
		}
	}
	return newError(status, err, "Host or domain name not found. %s", de)
}

// balance is Postfix smtp_balance_inet_proto: when both families are
// present and exceed the address limit, keep a share of each, in order.
func (c *AddressConfig) balance(d []Dest) []Dest {
	limit := c.addressLimit()
	v4, v6 := 0, 0
	for _, x := range d {
		if x.Addr.Is4() {
			v4++
		} else {
			v6++
		}
	}
	if v4 == 0 || v6 == 0 || v4+v6 <= limit {
		return d
	}
	var t4, t6 int
	switch {
	case v6 <= limit/2:
		t6 = v6
		t4 = limit - t6
	case v4 <= limit/2:
		t4 = v4
		t6 = limit - t4
	default:
		first4 := 0
		if d[0].Addr.Is4() {
			first4 = 1
		}
		t4 = (limit + first4) / 2
		t6 = limit - t4
	}
	out := d[:0:0]
	for _, x := range d {
		if x.Addr.Is4() && t4 > 0 {
			out = append(out, x)
			t4--
		} else if x.Addr.Is6() && t6 > 0 {
			out = append(out, x)
			t6--
		}
	}
	return out
}
