package relay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/relay/maincf"
	"github.com/mxrelay/mxrelay/transport"
	"github.com/mxrelay/mxrelay/transport/client"
)

// domainLists parses mydestination, relay_domains and the virtual domain
// lists once, for the router and the policy alike.
func domainLists(ctx context.Context, r *reader, mine []netip.Addr, openOpts *lookup.OpenOptions, warn func(string)) (*lookup.Domains, error) {
	pdms := r.list("parent_domain_matches_subdomains")
	domains := &lookup.Domains{Interfaces: mine}
	for _, p := range []struct {
		name string
		dst  **lookup.List
	}{
		{"mydestination", &domains.MyDestination}, {"virtual_alias_domains", &domains.VirtualAliasDomains},
		{"virtual_mailbox_domains", &domains.VirtualMailboxDomains}, {"relay_domains", &domains.RelayDomains},
	} {
		l, ws, err := lookup.ParseList(ctx, r.tables(p.name), lookup.ListOptions{Name: p.name, ParentStyle: slices.Contains(pdms, p.name), Open: openOpts})
		for _, w := range ws {
			warn(w.String())
		}
		if err != nil {
			return nil, fmt.Errorf("relay: %s: %w", p.name, err)
		}
		*p.dst = l
	}
	return domains, nil
}

// list parses a list parameter (fast_flush_domains,
// smtpd_client_event_limit_exceptions), in parent style when
// parent_domain_matches_subdomains names it.
func list(ctx context.Context, r *reader, name string, openOpts *lookup.OpenOptions, warn func(string)) (*lookup.List, error) {
	l, ws, err := lookup.ParseList(ctx, r.tables(name), lookup.ListOptions{Name: name, ParentStyle: slices.Contains(r.list("parent_domain_matches_subdomains"), name), Open: openOpts})
	for _, w := range ws {
		warn(w.String())
	}
	if err != nil {
		return nil, fmt.Errorf("relay: %s: %w", name, err)
	}
	return l, nil
}

// routerConfig builds trivial-rewrite's configuration: the address
// classes, transport_maps and the class transports.
func routerConfig(ctx context.Context, r *reader, domains *lookup.Domains, open func(string) (lookup.Table, error), warn func(string)) (transport.RouterConfig, error) {
	var tmaps []lookup.Table
	for _, spec := range r.list("transport_maps") {
		t, err := open(spec)
		if err != nil {
			return transport.RouterConfig{}, fmt.Errorf("relay: transport_maps: %w", err)
		}
		tmaps = append(tmaps, t)
		for _, w := range transportTraps(ctx, spec, t) {
			warn(w)
		}
	}
	if fb := r.str("smtp_fallback_relay"); fb != "" && r.str("relay_domains") != "" {
		warn(fmt.Sprintf("smtp_fallback_relay = %s with relay domains: it is never used for relay-class mail, nor when this host is an MX of the destination (Postfix's smtp_connect.c uses it only for the default transport's non-MX-host deliveries)", fb))
	}
	return transport.RouterConfig{
		Domains:          domains,
		TransportMaps:    tmaps,
		Keys:             lookup.KeyOptions{Delimiters: r.str("recipient_delimiter"), ParentStyle: slices.Contains(r.list("parent_domain_matches_subdomains"), "transport_maps")},
		MyHostname:       r.str("myhostname"),
		LocalTransport:   r.str("local_transport"),
		VirtualTransport: r.str("virtual_transport"),
		RelayTransport:   r.str("relay_transport"),
		DefaultTransport: r.str("default_transport"),
		Relayhost:        r.str("relayhost"),
	}, nil
}

// clientTLS builds the outbound STARTTLS policy: smtp_tls_security_level
// for every hop, smtp_tls_policy_maps per destination, smtp_tls_CAfile as
// the roots. Unset, the level is "may" (deliberately: Postfix's built-in
// default is "none", but a relay that sends in clear when the next hop
// offers TLS is weaker for nothing; Debian's main.cf sets "may").
func clientTLS(r *reader, open func(string) (lookup.Table, error)) (*transport.TLSPolicyMap, error) {
	m := &transport.TLSPolicyMap{}
	if ca := r.str("smtp_tls_CAfile"); ca != "" {
		b, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("relay: smtp_tls_CAfile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("relay: smtp_tls_CAfile %s: no certificate in it", ca)
		}
		m.Config = &tls.Config{RootCAs: pool}
	}
	m.Default.Config = m.Config
	switch level := strings.ToLower(r.str("smtp_tls_security_level")); level {
	case "", "may", "dane", "dane-only", "fingerprint":
		// dane, dane-only and fingerprint are refused by Load unless the
		// admin accepted that they are not honoured (maincf.Classify);
		// accepted, they fall back to opportunistic TLS.
		m.Default.Level = client.TLSOpportunistic
	case "none":
		m.Default.Level = client.TLSNone
	case "encrypt":
		m.Default.Level = client.TLSMandatory
	case "verify":
		m.Default.Level = client.TLSVerify
	case "secure":
		m.Default.Level = client.TLSVerify
		m.Default.Match = []string{"nexthop", "dot-nexthop"}
	default:
		return nil, &maincf.ValueError{Param: "smtp_tls_security_level", Value: level, Reason: "not a TLS security level (none, may, encrypt, verify, secure)"}
	}
	for _, spec := range r.list("smtp_tls_policy_maps") {
		t, err := open(spec)
		if err != nil {
			return nil, fmt.Errorf("relay: smtp_tls_policy_maps: %w", err)
		}
		m.Tables = append(m.Tables, t)
	}
	return m, nil
}

// transportTraps reports the transport_maps entries that do not do what
// they seem to: a "*" entry applies to every domain, local ones
// included (trivial-rewrite's transport.c looks "*" up last, for every
// address); an "@domain" key never matches (transport_maps looks up
// user@domain, domain and parent domains, never @domain: transport(5)). Keys can be listed
// only for tables with a postmap source file.
func transportTraps(ctx context.Context, spec string, t lookup.Table) []string {
	var out []string
	if v, ok, err := t.Lookup(ctx, "*"); err == nil && ok {
		out = append(out, fmt.Sprintf("transport_maps %s: the \"*\" entry (%s) routes every recipient, local domains included (transport(5))", spec, v))
	}
	typ, name, _ := strings.Cut(strings.TrimPrefix(spec, "proxy:"), ":")
	switch typ {
	case "hash", "texthash", "btree", "cdb", "lmdb":
	default:
		return out
	}
	f, err := os.Open(name)
	if err != nil {
		return out
	}
	defer f.Close()
	entries, _, err := lookup.ParseText(f, name, lookup.ParseOptions{})
	if err != nil {
		return out
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Key, "@") {
			out = append(out, fmt.Sprintf("transport_maps %s: key %q never matches: transport_maps has no @domain lookup (transport(5)); write %q", spec, e.Key, e.Key[1:]))
		}
	}
	return out
}

// tableTypes exposes user tables to list parameters: a spec "type:name"
// in Tables makes "type" a table type whose "name" is that table.
func tableTypes(tables map[string]lookup.Table) map[string]lookup.OpenFunc {
	if len(tables) == 0 {
		return nil
	}
	types := make(map[string]lookup.OpenFunc)
	for spec := range tables {
		typ, _, ok := strings.Cut(spec, ":")
		if !ok || types[typ] != nil {
			continue
		}
		types[typ] = func(ctx context.Context, name string, o *lookup.OpenOptions) (lookup.Table, error) {
			if t, ok := tables[typ+":"+name]; ok {
				return t, nil
			}
			return nil, fmt.Errorf("no table %s:%s among the supplied tables", typ, name)
		}
	}
	return types
}

// addressConfig is how delivery turns nexthops into addresses: the
// address families of inet_protocols (Postfix looks up only the record
// types of the families it uses: "ipv4" asks for A records only),
// smtp_address_preference, smtp_mx_address_limit (0: no limit),
// smtp_randomize_addresses, smtp_defer_if_no_mx_address_found and
// ignore_mx_lookup_error.
func addressConfig(r *reader, res transport.Resolver, mine []netip.Addr) transport.AddressConfig {
	ac := transport.AddressConfig{
		Resolver:            res,
		MyAddresses:         mine,
		Network:             addressFamilies(r),
		NoRandomize:         !r.bool("smtp_randomize_addresses"),
		DeferIfNoMXAddress:  r.bool("smtp_defer_if_no_mx_address_found"),
		IgnoreMXLookupError: r.bool("ignore_mx_lookup_error"),
		AddressLimit:        r.code("smtp_mx_address_limit"),
	}
	if ac.AddressLimit <= 0 {
		ac.AddressLimit = -1
	}
	switch p := strings.ToLower(r.str("smtp_address_preference")); p {
	case "any", "":
	case "ipv4", "ipv6":
		ac.Prefer = p
	default:
		r.fail(&maincf.ValueError{Param: "smtp_address_preference", Value: p, Reason: `must be "any", "ipv4" or "ipv6"`})
	}
	return ac
}

// addressFamilies reads inet_protocols as a transport.AddressConfig
// Network: "ip4", "ip6" or "ip" for both.
func addressFamilies(r *reader) string {
	var v4, v6 bool
	for _, p := range r.list("inet_protocols") {
		switch strings.ToLower(p) {
		case "all":
			v4, v6 = true, true
		case "ipv4":
			v4 = true
		case "ipv6":
			v6 = true
		default:
			r.fail(&maincf.ValueError{Param: "inet_protocols", Value: r.str("inet_protocols"), Reason: `must list "all", "ipv4" or "ipv6"`})
		}
	}
	switch {
	case v4 && !v6:
		return "ip4"
	case v6 && !v4:
		return "ip6"
	}
	return "ip"
}
