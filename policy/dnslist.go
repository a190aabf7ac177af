package policy

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// dnsList is the argument of a DNS list restriction:
// "zen.example=127.0.0.[2..11]".
type dnsList struct {
	spec   string     // as written: the rbl_reply_maps key
	domain string     // the list's domain: $rbl_domain
	filter *ipPattern // nil: any A record lists
}

// parseDNSList parses "domain[=filter]".
func parseDNSList(arg string) (*dnsList, error) {
	l := &dnsList{spec: arg, domain: arg}
	if d, f, ok := strings.Cut(arg, "="); ok {
		p, err := parseIPPattern(f)
		if err != nil {
			return nil, err
		}
		l.domain, l.filter = d, &p
	}
	l.domain = strings.TrimSuffix(strings.ToLower(l.domain), ".")
	if l.domain == "" || checkDomain(l.domain, false) != "" {
		return nil, errors.New("DNS list " + strconv.Quote(arg) + ": not a domain name")
	}
	return l, nil
}

// dnsListNames are the restrictions that take a DNS list argument.
func isDNSList(name string) bool {
	switch name {
	case "reject_rbl_client", "reject_rbl", "reject_rhsbl_client", "reject_rhsbl_sender", "reject_rhsbl_helo",
		"reject_rhsbl_recipient", "reject_rhsbl_reverse_client", "permit_dnswl_client", "permit_rhswl_client":
		return true
	}
	return false
}

// listing is what a DNS list says about one query.
type listing int8

const (
	notListed listing = iota
	listed
	listFailed // the list's DNS failed
)

// rblMaxTXT caps the joined TXT text of a listing, as Postfix's smtpd
// (RBL_TXT_LIMIT, 500 bytes).
const rblMaxTXT = 500

// query asks the list about name (the reversed address or the domain,
// without the list's domain): an A record that passes the filter lists it
// (Postfix asks A only, never AAAA, and matches the filter against IPv4
// answers); its TXT records, joined with " / ", are the reason. NXDOMAIN
// and NODATA are "not listed"; any other failure is listFailed.
func (s *state) query(ctx context.Context, l *dnsList, name string) (listing, string) {
	q := name + "." + l.domain
	addrs, err := s.dnsLookup(ctx, q, TypeA)
	if err != nil {
		if errors.Is(err, ErrNoRecords) {
			return notListed, ""
		}
		// Not the decision's Err: a list that fails lists nobody, and
		// a later 5xx must stay 5xx.
		s.p.log.Warn("DNS list lookup error", "query", q, "err", err)
		return listFailed, ""
	}
	if l.filter != nil {
		match := false
		for _, a := range addrs {
			if ip, err := netip.ParseAddr(a); err == nil && l.filter.match(ip) {
				match = true
				break
			}
		}
		if !match {
			return notListed, ""
		}
	}
	txts, _ := s.dnsLookup(ctx, q, TypeTXT)
	var b strings.Builder
	for i, t := range txts {
		if i > 0 && b.Len() < rblMaxTXT-3 {
			b.WriteString(" / ")
		}
		if room := rblMaxTXT - b.Len(); room > 0 {
			b.WriteString(t[:min(len(t), room)])
		}
	}
	return listed, b.String()
}

// reversedAddr is the client address as a DNS list asks it: IPv4 octets
// in reverse order ("2.0.0.127"), IPv6 as 32 reversed nibbles.
func reversedAddr(a netip.Addr) string {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return strconv.Itoa(int(b[3])) + "." + strconv.Itoa(int(b[2])) + "." + strconv.Itoa(int(b[1])) + "." + strconv.Itoa(int(b[0]))
	}
	const hex = "0123456789abcdef"
	b := a.As16()
	out := make([]byte, 0, 63)
	for i := len(b) - 1; i >= 0; i-- {
		if len(out) > 0 {
			out = append(out, '.')
		}
		out = append(out, hex[b[i]&0xf], '.', hex[b[i]>>4])
	}
	return string(out)
}

// rhsDomain is the domain a reject_rhsbl_* restriction asks about: the
// part after the last '@', or the whole name. Address literals, names
// whose last label is numeric and invalid host names are not asked
// (Postfix's find_dnsxl_domain).
func rhsDomain(what string) (string, bool) {
	d := what
	if i := strings.LastIndexByte(what, '@'); i >= 0 {
		d = what[i+1:]
		if strings.HasPrefix(d, "[") {
			return "", false
		}
	}
	if d == "" {
		return "", false
	}
	last := d[strings.LastIndexByte(d, '.')+1:]
	if allDigits(last) {
		return "", false
	}
	if !isASCII(d) || checkDomain(d, false) != "" || strings.HasSuffix(d, ".") {
		return "", false
	}
	return strings.ToLower(d), true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// dnsListStep evaluates a DNS list restriction.
func (s *state) dnsListStep(ctx context.Context, st *step, subj subject, why Reason) status {
	why.Value = st.list.spec
	switch st.name {
	case "reject_rbl_client", "reject_rbl":
		if !s.req.ClientAddr.IsValid() {
			return dunno
		}
		what := s.req.ClientAddr.Unmap().String()
		if l, txt := s.query(ctx, st.list, reversedAddr(s.req.ClientAddr)); l == listed {
			return s.rblReject(ctx, st.list, what, classClient, txt, why)
		}
	case "permit_dnswl_client":
		if !s.req.ClientAddr.IsValid() {
			return dunno
		}
		return s.dnsAllow(ctx, st.list, reversedAddr(s.req.ClientAddr), s.req.ClientAddr.Unmap().String(), why)
	case "reject_rhsbl_client", "permit_rhswl_client", "reject_rhsbl_reverse_client":
		name, class := s.req.ClientName, classClient
		if st.name == "reject_rhsbl_reverse_client" {
			name, class = s.req.ReverseClientName, classRevClient
		}
		if name == "" || strings.EqualFold(name, "unknown") {
			return dunno
		}
		if st.name == "permit_rhswl_client" {
			d, ok := rhsDomain(name)
			if !ok {
				return dunno
			}
			return s.dnsAllow(ctx, st.list, d, name, why)
		}
		return s.rhsReject(ctx, st.list, name, class, why)
	case "reject_rhsbl_helo":
		if s.req.Helo != "" {
			return s.rhsReject(ctx, st.list, s.req.Helo, classHelo, why)
		}
	case "reject_rhsbl_sender":
		if s.req.Stage < StageMail {
			return dunno
		}
		sender, ok := s.from()
		if !ok {
			return s.badSender()
		}
		if !sender.IsNull() {
			return s.rhsReject(ctx, st.list, sender.String(), classSender, why)
		}
	case "reject_rhsbl_recipient":
		if s.hasRcpt {
			return s.rhsReject(ctx, st.list, s.rcpt.String(), classRecipient, why)
		}
	}
	return dunno
}

// rhsReject is reject_rhsbl_*: the domain of what, asked of the list.
func (s *state) rhsReject(ctx context.Context, l *dnsList, what, class string, why Reason) status {
	d, ok := rhsDomain(what)
	if !ok {
		return dunno
	}
	if res, txt := s.query(ctx, l, d); res == listed {
		return s.rblReject(ctx, l, what, class, txt, why)
	}
	return dunno
}

// dnsAllow is permit_dnswl_client and permit_rhswl_client: a listing
// permits, a DNS failure is a defer_if_reject (450 4.7.1 "Service
// unavailable"), so that a blocklist later in the list cannot reject a
// client the allowlist could not vouch for. At RCPT, a recipient this
// server may not relay to is never allowlisted (smtpd_check.c: "don't
// allowlist unauthorized recipients"), and the list is not asked.
func (s *state) dnsAllow(ctx context.Context, l *dnsList, name, what string, why Reason) status {
	if s.req.Stage == StageRcpt && s.hasRcpt {
		ok, res := s.authDestination(ctx)
		if res == rejected {
			return res
		}
		if !ok {
			return dunno
		}
	}
	switch res, _ := s.query(ctx, l, name); res {
	case listed:
		return s.permit(why)
	case listFailed:
		s.deferIf(&s.dir, errPolicy, 450, "4.7.1", "<"+what+">: "+classClient+" rejected: Service unavailable", why)
	}
	return dunno
}

// rblReject formats the reply of a listing: the rbl_reply_maps entry
// for the list (looked up as written, "zen.example=127.0.0.2"), else
// default_rbl_reply, expanded with the $rbl_* and smtpd macros. A
// template that does not expand falls back to default_rbl_reply; a reply
// that does not start with a 4xx or 5xx code is "450 4.7.1 Service
// unavailable", as in Postfix.
func (s *state) rblReject(ctx context.Context, l *dnsList, what, class, txt string, why Reason) status {
	p := s.p
	tmpl := ""
	for _, t := range p.rblReplies {
		r, found, err := t.Lookup(ctx, l.spec)
		if err != nil {
			// Postfix: reject_server_error, whatever the failure.
			s.d.Err = err
			return s.serverError("rbl_reply_maps lookup of " + l.spec + ": " + err.Error())
		}
		if found {
			tmpl = r
			break
		}
	}
	value := func(name string) (string, bool) {
		switch name {
		case "rbl_code":
			return strconv.Itoa(p.rblCode), true
		case "rbl_domain":
			return l.domain, true
		case "rbl_reason", "rbl_txt":
			return txt, true
		case "rbl_what":
			return what, true
		case "rbl_class":
			return class, true
		}
		return s.macro(name)
	}
	reply, err := "", error(nil)
	if tmpl != "" {
		if reply, err = expandReply(tmpl, value); err != nil {
			p.log.Warn("bad rbl reply template", "domain", l.spec, "template", tmpl, "err", err)
			tmpl = ""
		}
	}
	if tmpl == "" {
		if reply, err = expandReply(p.rblReply, value); err != nil {
			// New checked default_rbl_reply; only a macro whose value is
			// missing here can fail.
			return s.serverError("default_rbl_reply: " + err.Error())
		}
	}
	if len(reply) < 4 || reply[0] != '4' && reply[0] != '5' || !isDigit(reply[1]) || !isDigit(reply[2]) || reply[3] != ' ' {
		p.log.Warn("rbl response code configuration error", "reply", reply)
		return s.reject(errPolicy, 450, "4.7.1", "Service unavailable", why)
	}
	code, _ := strconv.Atoi(reply[:3])
	dsn, text := dsnSplit("4.7.1", reply[4:])
	if text == "" {
		text = "Service unavailable"
	}
	return s.reject(errPolicy, code, dsnFix(dsn, class), text, why)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// macro is smtpd's $name expansion in replies (smtpd_expand.c): the
// session's attributes, never main.cf parameters (except myhostname as
// $server_name).
func (s *state) macro(name string) (string, bool) {
	r := s.req
	orUnknown := func(v string) string {
		if v == "" {
			return "unknown"
		}
		return v
	}
	switch name {
	case "server_name":
		return s.p.cfg.MyHostname, true
	case "client":
		return orUnknown(r.ClientName) + "[" + r.ClientAddr.Unmap().String() + "]", true
	case "client_address":
		return r.ClientAddr.Unmap().String(), true
	case "client_port":
		return strconv.Itoa(r.ClientPort), true
	case "client_name":
		return orUnknown(r.ClientName), true
	case "reverse_client_name":
		return orUnknown(r.ReverseClientName), true
	case "helo_name":
		return r.Helo, true
	}
	for _, a := range [...]struct {
		prefix string
		addr   func() string
	}{{"sender", s.senderText}, {"recipient", s.rcptText}} {
		if suffix, ok := strings.CutPrefix(name, a.prefix); ok {
			v := a.addr()
			at := strings.LastIndexByte(v, '@')
			switch suffix {
			case "":
				if v == "" {
					return "<>", true
				}
				return v, true
			case "_name":
				if v == "" {
					return "<>", true
				}
				if at >= 0 {
					return v[:at], true
				}
				return v, true
			case "_domain":
				if at >= 0 {
					return v[at+1:], true
				}
				return "", true
			}
		}
	}
	return "", false
}

func (s *state) senderText() string {
	if a, ok := s.from(); ok && s.req.Stage >= StageMail {
		return a.String()
	}
	return ""
}

func (s *state) rcptText() string {
	if s.hasRcpt {
		return s.rcpt.String()
	}
	return ""
}

// readDNSSettings checks default_rbl_reply and the *_tempfail_action
// parameters.
func (p *Policy) readDNSSettings() error {
	c := &p.cfg
	p.rblReply = c.DefaultRBLReply
	if p.rblReply == "" {
		p.rblReply = DefaultRBLReply
	}
	probe := func(name string) (string, bool) {
		var st state
		st.p, st.req = p, &Request{}
		if strings.HasPrefix(name, "rbl_") {
			switch name {
			case "rbl_code", "rbl_domain", "rbl_reason", "rbl_txt", "rbl_what", "rbl_class":
				return "x", true
			}
			return "", false
		}
		return st.macro(name)
	}
	if _, err := expandReply(p.rblReply, probe); err != nil {
		return &ConfigError{"default_rbl_reply", err}
	}
	for _, a := range [...]struct {
		param, value string
		defer_       *bool
	}{{"unknown_address_tempfail_action", c.UnknownAddressTempfailAction, &p.addrTempfailDefer},
		{"unknown_helo_hostname_tempfail_action", c.UnknownHeloHostnameTempfailAction, &p.heloTempfailDefer}} {
		switch strings.ToLower(a.value) {
		case "", "defer_if_permit":
		case "defer":
			*a.defer_ = true
		default:
			return &ConfigError{a.param, errors.New("unknown value " + strconv.Quote(a.value) + "; use defer_if_permit or defer")}
		}
	}
	return nil
}
