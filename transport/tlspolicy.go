package transport

import (
	"context"
	"crypto/tls"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/transport/client"
)

// TLSPolicyMap is a TLSPolicies read from tables in the format of Postfix
// smtp_tls_policy_maps: the key is the hop as written in the nexthop
// ("example.com", "[mx.example.com]:587"); a plain domain that is not found
// is looked up again as ".parent" for each parent domain, so ".example.com"
// covers every subdomain. The value is a security level followed by
// attributes:
//
//	example.com          secure
//	.example.com         encrypt
//	[mail.example.net]   verify match=mail.example.net
//	partner.test         none
//
// Levels: none, may, encrypt, verify and secure (client.TLSVerify; without
// match= the certificate must match the MX host name for verify, and the
// nexthop domain or a name under it for secure, as Postfix's defaults
// "hostname" and "nexthop:dot-nexthop"). "dane" is read as may: this resolver does not
// validate DNSSEC, and Postfix also falls back to may without validated
// TLSA records. "dane-only" and "fingerprint" are not supported: a hop with
// them is deferred (4.3.5) rather than sent with weaker protection.
//
// match= takes a colon-separated list (TLSPolicy.Match); one match
// suffices. Other attributes (ciphers=, protocols=, exclude=, tafile=) are
// ignored; set them in Config. The zero TLSPolicyMap gives every hop the
// zero TLSPolicy (may).
type TLSPolicyMap struct {
	// Tables are searched pattern-major (lookup.Search). Nil: every hop
	// gets Default. Tables of the caller's receive folded keys
	// (lookup.Folded), each lookup bounded by lookup.DefaultLookupTimeout
	// unless the table is lookup.Bounded already.
	Tables []lookup.Table
	// Default is the policy of hops not in Tables (Postfix
	// smtp_tls_security_level; Postfix's own default is none, most
	// distributions set may).
	Default TLSPolicy
	// Config is cloned into the policies found in Tables (root CAs,
	// client certificate). Nil: Default.Config.
	Config *tls.Config
}

// TLSPolicy returns the policy of hop. A table failure is a temporary
// *Error (4.3.0); an unknown or unsupported level is 4.3.5.
func (m *TLSPolicyMap) TLSPolicy(ctx context.Context, _ Route, hop Hop) (TLSPolicy, error) {
	if len(m.Tables) == 0 || hop.Network == "unix" {
		return m.Default, nil
	}
	key := hop.String()
	keys := []lookup.Key{{Key: key}}
	if !hop.Bracketed && hop.Port == 0 && hop.Network == "" {
		keys = lookup.AppendDomainKeys(keys[:0], hop.Host, false)
	}
	tables := make([]lookup.Table, len(m.Tables))
	for i, t := range m.Tables {
		tables[i] = lookup.Bounded(lookup.Folded(t), lookup.DefaultLookupTimeout) // keys folded, lookups bounded, for tables of the caller's
	}
	res, found, err := lookup.Search(ctx, tables, keys)
	if err != nil {
		return TLSPolicy{}, newError("4.3.0", err, "TLS policy lookup for %s failed", key)
	}
	if !found {
		return m.Default, nil
	}
	return parseTLSPolicy(res.Value, hop, m.config())
}

func (m *TLSPolicyMap) config() *tls.Config {
	if m.Config != nil {
		return m.Config
	}
	return m.Default.Config
}

// parseTLSPolicy reads "level attr=value ...".
func parseTLSPolicy(value string, hop Hop, cfg *tls.Config) (TLSPolicy, error) {
	fields := strings.Fields(value)
	if len(fields) == 0 {
		return TLSPolicy{}, newError("4.3.5", nil, "empty TLS policy for %s", hop)
	}
	p := TLSPolicy{Config: cfg}
	var match []string
	switch level := strings.ToLower(fields[0]); level {
	case "none":
		p.Level = client.TLSNone
	case "may", "dane":
		p.Level = client.TLSOpportunistic
	case "encrypt":
		p.Level = client.TLSMandatory
	case "verify":
		p.Level, match = client.TLSVerify, []string{"hostname"}
	case "secure":
		p.Level, match = client.TLSVerify, []string{"nexthop", "dot-nexthop"}
	default:
		return TLSPolicy{}, newError("4.3.5", nil, "unsupported TLS security level %q for %s", fields[0], hop)
	}
	for _, f := range fields[1:] {
		if v, ok := strings.CutPrefix(strings.ToLower(f), "match="); ok {
			match = match[:0]
			for _, m := range strings.Split(v, ":") {
				if m != "" {
					match = append(match, m)
				}
			}
		}
	}
	if p.Level == client.TLSVerify && len(match) > 0 {
		p.Match = match
	}
	return p, nil
}
