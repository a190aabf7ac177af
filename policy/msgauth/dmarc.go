package msgauth

import (
	"context"
	"net/mail"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"

	"github.com/mxrelay/mxrelay/policy"
)

// Policy is a DMARC policy (RFC 7489 section 6.3, p= and sp=).
type Policy string

// The DMARC policies.
const (
	PolicyNone       Policy = "none"
	PolicyQuarantine Policy = "quarantine"
	PolicyReject     Policy = "reject"
)

// DMARCResult is the DMARC (RFC 7489) evaluation of a message.
type DMARCResult struct {
	// Result is Pass (an aligned SPF or DKIM pass), Fail, None (no
	// policy, or no single From domain), TempError (DNS trouble while
	// looking for the policy) or PermError (a policy record that does
	// not parse, or several).
	Result Result
	// From is the RFC5322.From domain (lower case).
	From string
	// PolicyDomain is where the policy was found: From, or its
	// organizational domain (RFC 7489 section 6.6.3).
	PolicyDomain string
	// Policy is the policy that applies on failure: p=, or sp= when the
	// record is the organizational domain's and From is below it; when
	// pct= left this message out, one step lower (reject to quarantine,
	// quarantine to none, RFC 7489 section 6.6.4).
	Policy Policy
	// Sampled is false when pct= left this message out of the policy.
	Sampled bool
	// SPFAligned and DKIMAligned say which identifier passed and is
	// aligned with From (strict: the same domain; relaxed: the same
	// organizational domain).
	SPFAligned, DKIMAligned bool
	// Reason says why, for logs.
	Reason string
}

// fromDomain returns the domain of the message's single From address
// (RFC 7489 section 6.6.1); ok is false when there is no From, several,
// or one that does not parse.
func fromDomain(msg []byte) (string, bool) {
	var from []string
	for _, f := range fields(msg[:headerEnd(msg)]) {
		if strings.EqualFold(fieldName(f), "From") {
			from = append(from, string(f[len("From:"):]))
		}
	}
	if len(from) != 1 {
		return "", false
	}
	v := strings.ReplaceAll(from[0], "\r\n", "")
	addrs, err := mail.ParseAddressList(v)
	if err != nil || len(addrs) != 1 {
		return "", false
	}
	at := strings.LastIndexByte(addrs[0].Address, '@')
	if at < 0 {
		return "", false
	}
	return asciiDomain(addrs[0].Address[at+1:])
}

// asciiDomain returns a domain in lower case without a final dot, a
// U-label domain as its A-labels (RFC 5890), as DNS and DKIM's d= have
// it; ok is false for an empty or unconvertible one.
func asciiDomain(d string) (string, bool) {
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			a, err := idna.Lookup.ToASCII(d)
			if err != nil {
				return "", false
			}
			d = a
			break
		}
	}
	return d, d != ""
}

// orgDomain is domain's organizational domain (RFC 7489 section 3.2),
// from the public suffix list; domain itself when it is a public suffix.
func orgDomain(domain string) string {
	o, err := publicsuffix.EffectiveTLDPlusOne(domain)
	if err != nil {
		return domain
	}
	return o
}

// aligned compares an authenticated domain with From, strictly or by
// organizational domain (RFC 7489 section 3.1).
func aligned(d, from string, mode dmarc.AlignmentMode) bool {
	d, ok := asciiDomain(d)
	if !ok {
		return false
	}
	if d == from {
		return true
	}
	return mode != dmarc.AlignmentStrict && orgDomain(d) == orgDomain(from)
}

// findRecord looks the DMARC record up at _dmarc.domain: nil and no
// error when there is none.
func findRecord(ctx context.Context, d DNS, domain string) (*dmarc.Record, Result, string) {
	txts, err := d.LookupRecords(ctx, "_dmarc."+domain, policy.TypeTXT)
	if err != nil {
		if absent(err) {
			return nil, None, ""
		}
		return nil, TempError, "DNS: " + err.Error()
	}
	var recs []string
	for _, t := range txts {
		// RFC 7489 section 6.6.3: records that do not start with
		// "v=DMARC1" are discarded.
		if isDMARCRecord(t) {
			recs = append(recs, t)
		}
	}
	switch len(recs) {
	case 0:
		return nil, None, ""
	case 1:
	default:
		return nil, PermError, "several DMARC records at _dmarc." + domain
	}
	rec, err := dmarc.Parse(recs[0])
	if err != nil {
		return nil, PermError, err.Error()
	}
	return rec, Pass, ""
}

// isDMARCRecord reports whether a TXT record starts with the tag
// "v=DMARC1" (white space allowed around "=").
func isDMARCRecord(t string) bool {
	v, ok := strings.CutPrefix(strings.TrimLeft(t, " \t"), "v")
	if !ok {
		return false
	}
	v, ok = strings.CutPrefix(strings.TrimLeft(v, " \t"), "=")
	return ok && strings.HasPrefix(strings.TrimLeft(v, " \t"), "DMARC1")
}

// evaluateDMARC applies From's DMARC policy to the SPF result of the
// MAIL FROM (or HELO) identity and the DKIM results. sample returns a
// number in [0, 100) for pct=.
func evaluateDMARC(ctx context.Context, d DNS, msg []byte, spfRes *SPFResult, dkims []DKIMResult, sample func() int) DMARCResult {
	from, ok := fromDomain(msg)
	if !ok {
		return DMARCResult{Result: None, Reason: "no single From domain"}
	}
	r := DMARCResult{From: from, PolicyDomain: from}
	rec, res, why := findRecord(ctx, d, from)
	if res == None {
		if org := orgDomain(from); org != from {
			r.PolicyDomain = org
			rec, res, why = findRecord(ctx, d, org)
		}
	}
	if rec == nil {
		r.Result, r.Reason = res, why
		return r
	}
	r.Policy = Policy(rec.Policy)
	if r.PolicyDomain != from && rec.SubdomainPolicy != "" {
		r.Policy = Policy(rec.SubdomainPolicy)
	}
	if spfRes != nil && spfRes.Result == Pass && aligned(spfRes.Domain, from, rec.SPFAlignment) {
		r.SPFAligned = true
	}
	for _, k := range dkims {
		if k.Result == Pass && aligned(k.Domain, from, rec.DKIMAlignment) {
			r.DKIMAligned = true
			break
		}
	}
	if r.SPFAligned || r.DKIMAligned {
		r.Result = Pass
		return r
	}
	r.Result = Fail
	r.Sampled = true
	if rec.Percent != nil && *rec.Percent < 100 && sample() >= *rec.Percent {
		r.Sampled = false
		switch r.Policy {
		case PolicyReject:
			r.Policy = PolicyQuarantine
		case PolicyQuarantine:
			r.Policy = PolicyNone
		}
	}
	return r
}
