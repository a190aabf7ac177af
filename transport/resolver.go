package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/idna"
)

// Resolver is what transport needs from the DNS. *DNS implements it on
// github.com/miekg/dns; *net.Resolver implements it too, though the
// standard library cannot tell NODATA from NXDOMAIN or a SERVFAIL from a
// REFUSED, so error texts are less precise.
//
// Errors should be a *DNSError (or a *net.DNSError, which is classified by
// IsNotFound, IsTemporary and IsTimeout). Any other error is temporary.
// LookupMX must return every MX record, including the null MX "." (RFC 7505).
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// DNSErrorKind classifies a failed lookup as Postfix's dns_lookup does.
type DNSErrorKind int

// The lookup failure kinds.
const (
	// DNSNotFound: NXDOMAIN (HOST_NOT_FOUND).
	DNSNotFound DNSErrorKind = iota + 1
	// DNSNoData: the name exists but has no record of the type (NO_DATA).
	DNSNoData
	// DNSTemporary: SERVFAIL, timeout, network error (TRY_AGAIN).
	DNSTemporary
	// DNSUnrecoverable: REFUSED, NOTIMP, FORMERR (NO_RECOVERY).
	DNSUnrecoverable
	// DNSMalformed: a reply that cannot be used (bad records, a CNAME loop).
	DNSMalformed
)

// DNSError is a failed DNS lookup.
type DNSError struct {
	Name string       // the name looked up, without trailing dot
	Type string       // "MX", "A", "AAAA"
	Kind DNSErrorKind // what went wrong
	Err  error        // cause, for temporary failures
}

// Error returns Postfix's wording: "Name service error for name=N type=T:
// Host not found".
func (e *DNSError) Error() string {
	return fmt.Sprintf("Name service error for name=%s type=%s: %s", e.Name, e.Type, e.reason())
}

func (e *DNSError) reason() string {
	switch e.Kind {
	case DNSNotFound:
		return "Host not found"
	case DNSNoData:
		return "Host found but no data record of requested type"
	case DNSTemporary:
		return "Host not found, try again"
	case DNSUnrecoverable:
		return "Non-recoverable error"
	}
	return "Malformed or unexpected name server reply"
}

// Unwrap returns the cause.
func (e *DNSError) Unwrap() error { return e.Err }

// Temporary reports whether the lookup may succeed later.
func (e *DNSError) Temporary() bool { return e.Kind == DNSTemporary }

// dnsErrorOf classifies any resolver error.
func dnsErrorOf(err error, name, qtype string) *DNSError {
	var de *DNSError
	if errors.As(err, &de) {
		return de
	}
	e := &DNSError{Name: strings.TrimSuffix(name, "."), Type: qtype, Kind: DNSTemporary, Err: err}
	var ne *net.DNSError
	if errors.As(err, &ne) {
		switch {
		case ne.IsNotFound:
			e.Kind = DNSNotFound
		case ne.IsTemporary || ne.IsTimeout:
		default:
			e.Kind = DNSUnrecoverable
		}
	}
	return e
}

// DNSConfig configures a DNS resolver. The zero value reads the servers from
// /etc/resolv.conf and uses the resolv.conf(5) defaults.
type DNSConfig struct {
	// Servers are "host:port" addresses of recursive resolvers, tried in
	// order. Empty: the nameserver lines of ResolvConf.
	Servers []string
	// ResolvConf is the file read when Servers is empty. Default
	// /etc/resolv.conf.
	ResolvConf string
	// Timeout bounds one query to one server. Default: resolv.conf
	// "timeout", else 5s (RES_TIMEOUT).
	Timeout time.Duration
	// Attempts is how many rounds over all servers are made. Default:
	// resolv.conf "attempts", else 2 (RES_DFLRETRY).
	Attempts int
	// UDPSize is the EDNS0 buffer size advertised over UDP. Default 1232
	// (the DNS flag day 2020 value). A larger answer comes back truncated
	// and is asked again over TCP.
	UDPSize uint16
	// MaxRecords caps the records of one type taken from an answer; the
	// rest are ignored. Default 100. Postfix has no such cap (a reply is
	// bounded only by its size, 64 KiB over TCP); with
	// AddressConfig.MaxMXHosts it bounds the work one domain can cause.
	MaxRecords int
	// Cache enables a cache of answers (positive and, when the reply holds
	// an SOA, negative) honouring the TTLs. Temporary failures are never
	// cached. Default off.
	Cache bool
	// MaxCacheEntries caps the cache: at most this many answers, holding
	// at most ten times as many records in all. Default 10000.
	MaxCacheEntries int
	// Now is the clock used for cache expiry. Default time.Now.
	Now func() time.Time
	// Logger receives debug records of queries. Nil discards.
	Logger *slog.Logger
}

// DNS is a stub resolver built on github.com/miekg/dns. It never uses
// net.DefaultResolver or the system's getaddrinfo. It is safe for concurrent
// use.
type DNS struct {
	servers    []string
	timeout    time.Duration
	attempts   int
	udpSize    uint16
	maxRecords int
	now        func() time.Time
	log        *slog.Logger

	cache    bool
	maxCache int
	mu       sync.Mutex
	entries  map[cacheKey]cacheEntry
	records  int // records held by entries
}

// cacheRecordsPerEntry bounds the records the cache holds, on average per
// entry: an answer may hold MaxRecords, but not every answer.
const cacheRecordsPerEntry = 10

type cacheKey struct {
	name  string
	qtype uint16
}

type cacheEntry struct {
	rrs     []dns.RR
	err     *DNSError
	expires time.Time
}

// maxCNAMEDepth bounds CNAME chains, as Postfix's dns_lookup (10).
const maxCNAMEDepth = 10

// NewDNS returns a resolver. It fails when no server is configured and the
// resolv.conf file cannot be read or lists none.
func NewDNS(c DNSConfig) (*DNS, error) {
	d := &DNS{
		servers: c.Servers, timeout: c.Timeout, attempts: c.Attempts, udpSize: c.UDPSize,
		maxRecords: c.MaxRecords, now: c.Now, log: c.Logger, cache: c.Cache, maxCache: c.MaxCacheEntries,
	}
	if len(d.servers) == 0 {
		path := c.ResolvConf
		if path == "" {
			path = "/etc/resolv.conf"
		}
		cc, err := dns.ClientConfigFromFile(path)
		if err != nil {
			return nil, fmt.Errorf("transport: reading %s: %w", path, err)
		}
		for _, s := range cc.Servers {
			d.servers = append(d.servers, net.JoinHostPort(s, cc.Port))
		}
		if d.timeout == 0 && cc.Timeout > 0 {
			d.timeout = time.Duration(cc.Timeout) * time.Second
		}
		if d.attempts == 0 && cc.Attempts > 0 {
			d.attempts = cc.Attempts
		}
		if len(d.servers) == 0 {
			return nil, fmt.Errorf("transport: no nameserver in %s", path)
		}
	}
	if d.timeout <= 0 {
		d.timeout = 5 * time.Second
	}
	if d.attempts <= 0 {
		d.attempts = 2
	}
	if d.udpSize == 0 {
		d.udpSize = 1232
	}
	if d.maxRecords <= 0 {
		d.maxRecords = 100
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.maxCache <= 0 {
		d.maxCache = 10000
	}
	if d.cache {
		d.entries = make(map[cacheKey]cacheEntry)
	}
	return d, nil
}

// LookupMX returns the MX records of name in the order received, host names
// fully qualified with a trailing dot; a null MX has Host ".". NXDOMAIN and
// NODATA are *DNSError of kind DNSNotFound and DNSNoData.
func (d *DNS) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	rrs, err := d.lookup(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	out := make([]*net.MX, 0, len(rrs))
	for _, rr := range rrs {
		mx := rr.(*dns.MX)
		out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
	}
	return out, nil
}

// LookupNetIP returns the addresses of host: network "ip4" asks A, "ip6"
// asks AAAA, "ip" asks A then AAAA (A records first). When one type has
// records the other type's failure is ignored; when neither has, a
// temporary failure wins, else the error of the last type asked (so the
// text may read type=AAAA, as Postfix's).
func (d *DNS) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	var types []uint16
	switch network {
	case "ip4":
		types = []uint16{dns.TypeA}
	case "ip6":
		types = []uint16{dns.TypeAAAA}
	case "ip", "":
		types = []uint16{dns.TypeA, dns.TypeAAAA}
	default:
		return nil, fmt.Errorf("transport: LookupNetIP: unknown network %q", network)
	}
	var addrs []netip.Addr
	var lastErr, tempErr error
	for _, t := range types {
		rrs, err := d.lookup(ctx, host, t)
		if err != nil {
			lastErr = err
			if IsDNSTemporary(err) && tempErr == nil {
				tempErr = err
			}
			continue
		}
		for _, rr := range rrs {
			var ip net.IP
			switch r := rr.(type) {
			case *dns.A:
				ip = r.A
			case *dns.AAAA:
				ip = r.AAAA
			}
			if a, ok := netip.AddrFromSlice(ip); ok {
				if t == dns.TypeA {
					a = a.Unmap()
				}
				addrs = append(addrs, a)
			}
		}
	}
	if len(addrs) > 0 {
		return addrs, nil
	}
	if tempErr != nil {
		return nil, tempErr
	}
	return nil, lastErr
}

// IsDNSTemporary reports whether a resolver error is temporary.
func IsDNSTemporary(err error) bool {
	return dnsErrorOf(err, "", "").Kind == DNSTemporary
}

// lookup returns the records of qtype for name, following CNAMEs.
func (d *DNS) lookup(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	tname := dns.TypeToString[qtype]
	orig := strings.TrimSuffix(name, ".")
	if !isASCII(name) {
		// DNS knows A-labels only: "bücher.example" is asked as
		// "xn--bcher-kva.example", and a lookalike that matching folded to
		// an ASCII relay domain ("victim.teſt") is asked as that domain
		// (UTS #46 mapping), so routing and DNS agree.
		a, err := idna.Lookup.ToASCII(strings.TrimSuffix(name, "."))
		if err != nil {
			return nil, &DNSError{Name: orig, Type: tname, Kind: DNSMalformed, Err: fmt.Errorf("bad domain name: %v", err)}
		}
		name = a
	}
	if _, ok := dns.IsDomainName(name); !ok || name == "" || len(name) > 253 {
		return nil, &DNSError{Name: orig, Type: tname, Kind: DNSMalformed, Err: errors.New("bad domain name")}
	}
	cur := strings.ToLower(dns.Fqdn(name))
	for range maxCNAMEDepth {
		rrs, target, err := d.cached(ctx, cur, qtype)
		if err != nil {
			if err.Name != orig && err.Kind != DNSTemporary {
				// The error is about the CNAME target; report it under the
				// name asked, as a resolver library would.
				e := *err
				e.Name = orig
				return nil, &e
			}
			return nil, err
		}
		if target == "" {
			return rrs, nil
		}
		cur = target
	}
	return nil, &DNSError{Name: orig, Type: tname, Kind: DNSMalformed, Err: errors.New("CNAME chain too long")}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// cached answers from the cache or the network. A non-empty target means
// the answer ended at a CNAME to that name without its records.
func (d *DNS) cached(ctx context.Context, name string, qtype uint16) ([]dns.RR, string, *DNSError) {
	key := cacheKey{name, qtype}
	if d.cache {
		d.mu.Lock()
		e, ok := d.entries[key]
		if ok && d.now().Before(e.expires) {
			d.mu.Unlock()
			return e.rrs, "", e.err
		}
		if ok {
			d.evict(key)
		}
		d.mu.Unlock()
	}
	rrs, target, ttl, derr := d.query(ctx, name, qtype)
	if d.cache && target == "" && ttl > 0 && (derr == nil || derr.Kind == DNSNotFound || derr.Kind == DNSNoData) {
		d.mu.Lock()
		d.evict(key)
		full := func() bool {
			return len(d.entries) >= d.maxCache || d.records+len(rrs) > d.maxCache*cacheRecordsPerEntry
		}
		if full() {
			now := d.now()
			for k, e := range d.entries {
				if !now.Before(e.expires) {
					d.evict(k)
				}
			}
			for k := range d.entries {
				if !full() {
					break
				}
				d.evict(k)
			}
		}
		d.entries[key] = cacheEntry{rrs: rrs, err: derr, expires: d.now().Add(time.Duration(ttl) * time.Second)}
		d.records += len(rrs)
		d.mu.Unlock()
	}
	return rrs, target, derr
}

// evict removes the entry of k, if any; d.mu is held.
func (d *DNS) evict(k cacheKey) {
	if e, ok := d.entries[k]; ok {
		d.records -= len(e.rrs)
		delete(d.entries, k)
	}
}

// query asks the servers. It returns the records of qtype owned by name or
// by the CNAME chain in the answer, or the CNAME target still to resolve,
// and the TTL to cache the outcome for.
func (d *DNS) query(ctx context.Context, name string, qtype uint16) (rrs []dns.RR, target string, ttl uint32, derr *DNSError) {
	tname := dns.TypeToString[qtype]
	short := strings.TrimSuffix(name, ".")
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = true
	m.SetEdns0(d.udpSize, false)

	var resp *dns.Msg
	var lastErr error
	lastKind := DNSTemporary
try:
	for range d.attempts {
		for i := range d.servers {
			if err := ctx.Err(); err != nil {
				return nil, "", 0, &DNSError{Name: short, Type: tname, Kind: DNSTemporary, Err: err}
			}
			srv := d.servers[i]
			r, err := d.exchange(ctx, m, srv)
			if err != nil {
				lastErr, lastKind = err, DNSTemporary
				d.log.Debug("dns query failed", "name", name, "type", tname, "server", srv, "err", err)
				continue
			}
			switch r.Rcode {
			case dns.RcodeSuccess, dns.RcodeNameError:
				resp = r
				break try
			case dns.RcodeServerFailure:
				lastErr, lastKind = fmt.Errorf("server %s: SERVFAIL", srv), DNSTemporary
			default:
				lastErr, lastKind = fmt.Errorf("server %s: %s", srv, dns.RcodeToString[r.Rcode]), DNSUnrecoverable
			}
		}
	}
	if resp == nil {
		return nil, "", 0, &DNSError{Name: short, Type: tname, Kind: lastKind, Err: lastErr}
	}
	return d.answer(resp, name, qtype)
}

// answer extracts from a NOERROR or NXDOMAIN reply the records of qtype
// owned by name or by the CNAME chain in the answer (at most MaxRecords),
// or the CNAME target still to resolve, and the TTL to cache the outcome
// for. Records owned by other names are ignored.
func (d *DNS) answer(resp *dns.Msg, name string, qtype uint16) (rrs []dns.RR, target string, ttl uint32, derr *DNSError) {
	tname := dns.TypeToString[qtype]
	short := strings.TrimSuffix(name, ".")
	// Follow the CNAME chain inside the answer.
	ttl = ^uint32(0)
	cur := name
	visited := []string{strings.ToLower(name)}
	for {
		var cname *dns.CNAME
		for _, rr := range resp.Answer {
			h := rr.Header()
			if !strings.EqualFold(h.Name, cur) {
				continue
			}
			if h.Rrtype == qtype && len(rrs) < d.maxRecords {
				if !wellTyped(rr, qtype) {
					return nil, "", 0, &DNSError{Name: short, Type: tname, Kind: DNSMalformed,
						Err: fmt.Errorf("bad %s record %q", tname, rr)}
				}
				rrs = append(rrs, rr)
				ttl = min(ttl, h.Ttl)
			} else if c, ok := rr.(*dns.CNAME); ok && cname == nil {
				cname = c
			}
		}
		if len(rrs) > 0 || cname == nil || qtype == dns.TypeCNAME {
			break
		}
		ttl = min(ttl, cname.Hdr.Ttl)
		cur = strings.ToLower(dns.Fqdn(cname.Target))
		if slices.Contains(visited, cur) || len(visited) > maxCNAMEDepth {
			return nil, "", 0, &DNSError{Name: short, Type: tname, Kind: DNSMalformed,
				Err: errors.New("CNAME loop or chain too long")}
		}
		visited = append(visited, cur)
	}
	if len(rrs) > 0 {
		return rrs, "", ttl, nil
	}
	neg := negativeTTL(resp)
	if resp.Rcode == dns.RcodeNameError {
		return nil, "", neg, &DNSError{Name: short, Type: tname, Kind: DNSNotFound}
	}
	if cur != name {
		// The answer stopped at a CNAME: resolve its target.
		return nil, cur, 0, nil
	}
	return nil, "", neg, &DNSError{Name: short, Type: tname, Kind: DNSNoData}
}

// wellTyped reports whether rr has the Go type of qtype with usable data:
// an MX host name or the root (null MX), a 4- or 16-byte address.
func wellTyped(rr dns.RR, qtype uint16) bool {
	switch r := rr.(type) {
	case *dns.MX:
		_, ok := dns.IsDomainName(r.Mx)
		return qtype == dns.TypeMX && ok
	case *dns.A:
		return qtype == dns.TypeA && len(r.A.To4()) == net.IPv4len
	case *dns.AAAA:
		return qtype == dns.TypeAAAA && len(r.AAAA) == net.IPv6len
	case *dns.CNAME:
		return qtype == dns.TypeCNAME
	}
	return wellTypedName(rr, qtype)
}

// negativeTTL is min(SOA TTL, SOA MINIMUM) from the authority section
// (RFC 2308), or 0 (do not cache) without an SOA.
func negativeTTL(m *dns.Msg) uint32 {
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return min(soa.Hdr.Ttl, soa.Minttl)
		}
	}
	return 0
}

// exchange asks one server over UDP, and over TCP when the UDP answer is
// truncated.
func (d *DNS) exchange(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
	qctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	c := &dns.Client{Net: "udp", UDPSize: d.udpSize, Timeout: d.timeout}
	r, _, err := c.ExchangeContext(qctx, m, server)
	if err != nil {
		return nil, err
	}
	if r.Truncated {
		d.log.Debug("dns answer truncated, retrying over tcp", "name", m.Question[0].Name, "server", server)
		c = &dns.Client{Net: "tcp", Timeout: d.timeout}
		r, _, err = c.ExchangeContext(qctx, m, server)
		if err != nil {
			return nil, err
		}
	}
	if len(r.Question) != 1 || !strings.EqualFold(r.Question[0].Name, m.Question[0].Name) ||
		r.Question[0].Qtype != m.Question[0].Qtype {
		return nil, fmt.Errorf("server %s: answer for another question", server)
	}
	return r, nil
}
