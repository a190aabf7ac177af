package policy

import (
	"context"
	"net/netip"
	"strconv"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
)

// status is the result of one restriction (Postfix SMTPD_CHECK_*).
type status int8

const (
	dunno status = iota
	permitted
	rejected
)

// errClass is Postfix's MAIL_ERROR_* class of a rejection: policy and
// bounce rejections may be turned into warnings by warn_if_reject,
// software and resource errors may not.
type errClass int8

const (
	errPolicy errClass = iota
	errBounce
	errSoftware
	errResource
)

// subject is what a reply names: the client, the HELO name, the sender,
// the recipient or the DATA command.
type subject int8

const (
	subjClient subject = iota
	subjHelo
	subjSender
	subjRcpt
	subjData
)

var subjClass = [...]string{subjClient: classClient, subjHelo: classHelo, subjSender: classSender, subjRcpt: classRecipient, subjData: classData}

// pending is a remembered defer_if_permit or defer_if_reject.
type pending struct {
	active bool
	class  errClass
	code   int
	dsn    string
	text   string
	reason Reason
}

// resolution is the recipient as Postfix's resolver sees it.
type resolution struct {
	done   bool
	canon  string // local@domain, qualified with $myorigin, no trailing dot
	domain string // canonical domain
	class  lookup.Class
	routed bool // the resolved localpart still holds '@', '!' or '%'
	bad    bool // a local address whose localpart routes to no valid domain
	err    error
}

// state is one evaluation (Postfix's SMTPD_STATE, for one command).
type state struct {
	p                     *Policy
	req                   *Request
	rcpt                  Address
	sender                Address // valid once senderDone
	senderDone, senderErr bool
	hasRcpt               bool
	res                   resolution
	warnIf                int // recursion level of an active warn_if_reject, 0 when none
	recursion             int
	dip, dir              pending
	discard               bool
	rcptDone              bool // reject_unlisted_recipient ran (not in warn mode)
	d                     Decision
}

// Check decides one Request. The Decision is never an error: table and
// policy server failures are 4xx decisions with Err set.
func (p *Policy) Check(ctx context.Context, req *Request) Decision {
	s := state{p: p, req: req}
	if req.Stage == StageMail {
		a, err := ParseAddress(req.Sender, req.SMTPUTF8)
		if err == nil && strings.IndexByte(a.Local, '@') >= 0 {
			// As at RCPT: a local sender whose localpart routes to an
			// invalid domain ("u@1.2.3.4"@local) does not resolve.
			var r resolution
			if p.resolveAddr(ctx, &r, a, req.SMTPUTF8); r.bad {
				err = syntaxError(req.Sender, "localpart routes to an invalid domain")
			}
		}
		if err != nil {
			return p.final(&s, Decision{Verdict: Reject, Code: 501, Enhanced: "5.1.7", Text: "Bad sender address syntax", Err: err,
				Reason: Reason{Restriction: "address syntax"}})
		}
	}
	switch req.Stage {
	case StageConnect:
		if p.delayReject {
			return Decision{}
		}
		return p.stageResult(&s, s.run(ctx, p.lists[listClient], subjClient), req.Stage)
	case StageHelo:
		if p.delayReject {
			return Decision{}
		}
		return p.stageResult(&s, s.run(ctx, p.lists[listHelo], subjHelo), req.Stage)
	case StageMail:
		if req.Size > p.sizeLimit {
			return p.final(&s, Decision{Verdict: Reject, Code: 552, Enhanced: "5.3.4", Text: "Message size exceeds fixed limit",
				Reason: Reason{Restriction: "message_size_limit"}})
		}
		if p.delayReject {
			return Decision{}
		}
		return p.stageResult(&s, s.run(ctx, p.lists[listSender], subjSender), req.Stage)
	case StageRcpt:
		return p.checkRcpt(ctx, &s)
	case StageData:
		// Postfix knows the recipient at DATA only when there is exactly
		// one; recipient restrictions in smtpd_data_restrictions then
		// apply to it (checked against Postfix 3.7 smtpd).
		if req.RecipientCount == 1 && req.Recipient != "" {
			if a, err := ParseAddress(req.Recipient, req.SMTPUTF8); err == nil && !a.IsNull() {
				s.rcpt, s.hasRcpt = a, true
			}
		}
		return p.stageResult(&s, s.run(ctx, p.lists[listData], subjData), req.Stage)
	}
	return Decision{Verdict: Reject, Code: 503, Enhanced: "5.5.1", Text: "Error: unknown stage " + req.Stage.String()}
}

// stageResult turns the status of a non-RCPT stage into a Decision.
func (p *Policy) stageResult(s *state, st status, stage Stage) Decision {
	if st != rejected && s.dip.active {
		st = s.reject(s.dip.class, s.dip.code, s.dip.dsn, s.dip.text, s.dip.reason)
	}
	if st == rejected {
		return p.final(s, s.d)
	}
	d := okDecision(stage)
	if st == dunno {
		d = Decision{}
	}
	return p.final(s, d)
}

// final copies the side effects into the decision.
func (p *Policy) final(s *state, d Decision) Decision {
	d.Actions, d.Hold = s.d.Actions, s.d.Hold
	d.Discard = d.Discard || s.discard
	if d.Code == 421 {
		d.EndSession = true
	}
	return d
}

// badRcptSyntax is Postfix's answer to a recipient it cannot parse or
// resolve.
func badRcptSyntax(err error) Decision {
	return Decision{Verdict: Reject, Code: 501, Enhanced: "5.1.3", Text: "Bad recipient address syntax", Err: err,
		Reason: Reason{Restriction: "address syntax"}}
}

// checkRcpt is smtpd_check_rcpt followed by the implicit
// reject_unlisted_recipient (smtpd_check_rcptmap).
func (p *Policy) checkRcpt(ctx context.Context, s *state) Decision {
	req := s.req
	a, err := ParseAddress(req.Recipient, req.SMTPUTF8)
	if err == nil && a.IsNull() {
		err = syntaxError(req.Recipient, "null recipient")
	}
	if err != nil {
		return badRcptSyntax(err)
	}
	s.rcpt, s.hasRcpt = a, true
	// Postfix resolves the address before any restriction
	// (smtpd_check_addr); a localpart that routes from one of our
	// domains to an invalid one is a syntax error.
	if strings.IndexByte(a.Local, '@') >= 0 && s.resolve(ctx).bad {
		return badRcptSyntax(syntaxError(req.Recipient, "localpart routes to an invalid domain"))
	}
	if req.Discard {
		d := okDecision(StageRcpt)
		d.Discard = true
		d.Reason = Reason{Restriction: "DISCARD"}
		return d
	}
	if req.RecipientCount >= p.rcptLimit {
		return Decision{Verdict: Defer, Code: 452, Enhanced: "4.5.3", Text: "Error: too many recipients",
			Reason: Reason{Restriction: "smtpd_recipient_limit"}}
	}
	// RFC 5321 4.5.1: "postmaster" without a domain is accepted, before
	// any restriction and recipient validation, as Postfix's
	// smtpd_check_rcpt and smtpd_check_rcptmap do (golden configuration
	// review2).
	if a.Domain == "" && strings.EqualFold(a.Local, "postmaster") {
		d := okDecision(StageRcpt)
		d.Reason = Reason{Restriction: "postmaster"}
		return d
	}
	st := dunno
	if p.delayReject {
		for i, subj := range [...]subject{subjClient, subjHelo, subjSender} {
			if st = s.run(ctx, p.lists[listClient+i], subj); st == rejected {
				return p.final(s, s.d)
			}
		}
	}
	order := [2]int{listRelay, listRecipient}
	if !p.relayFirst {
		order = [2]int{listRecipient, listRelay}
	}
	var reason Reason
	for _, i := range order {
		if st = s.run(ctx, p.lists[i], subjRcpt); st == rejected {
			break
		}
		if st == permitted {
			reason = s.d.Reason
		}
		if s.discard {
			break
		}
	}
	if st != rejected && s.dip.active && !s.discard {
		st = s.reject(s.dip.class, s.dip.code, s.dip.dsn, s.dip.text, s.dip.reason)
	}
	if st != rejected && !s.discard && p.rejectUnlisted {
		st = s.unlisted(ctx)
	}
	if st == rejected {
		return p.final(s, s.d)
	}
	d := okDecision(StageRcpt)
	d.Reason = reason
	if d.Reason.Restriction == "" {
		d.Reason = s.d.Reason
	}
	return p.final(s, d)
}

// run is Postfix's generic_checks: the restrictions of one list, left to
// right, until one permits or rejects.
func (s *state) run(ctx context.Context, list compiled, subj subject) status {
	if len(list) == 0 {
		return dunno
	}
	if s.recursion >= 100 {
		return s.serverError("restriction classes nested too deeply")
	}
	s.recursion++
	st := s.runList(ctx, list, subj)
	s.recursion--
	return st
}

func (s *state) runList(ctx context.Context, list compiled, subj subject) status {
	for i := range list {
		if s.discard {
			break
		}
		st := &list[i]
		if st.name == "warn_if_reject" {
			if s.warnIf == 0 {
				s.warnIf = s.recursion
			}
			continue
		}
		status := s.step(ctx, st, subj)
		if s.warnIf >= s.recursion {
			s.warnIf = 0
		}
		if status != dunno {
			return status
		}
	}
	return dunno
}

// step evaluates one restriction.
func (s *state) step(ctx context.Context, st *step, subj subject) status {
	p := s.p
	why := Reason{Restriction: st.name}
	switch st.kind {
	case stepClass:
		return s.run(ctx, p.classes[st.name], subj)
	case stepCustom:
		action, err := st.check.Check(ctx, s.req)
		if err != nil {
			return s.lookupError(err, subj, why)
		}
		if action == "" {
			return dunno
		}
		why.Value = action
		return s.tableResult(ctx, action, why, subj)
	case stepAccess:
		return s.access(ctx, st, why)
	case stepService:
		return s.policyService(ctx, st, subj, why)
	}
	switch st.name {
	case "permit":
		return s.permit(why)
	case "dunno":
		return dunno
	case "reject":
		return s.reject(errPolicy, p.rejectCode, "5.7.1", s.rejectText(subj, "Access denied"), why)
	case "defer":
		return s.reject(errPolicy, p.deferCode, "4.3.2", s.rejectText(subj, "Try again later"), why)
	case "defer_if_permit":
		// Postfix hard-codes 450 4.7.0 here (golden case dip@backup.example).
		s.deferIf(&s.dip, errPolicy, 450, "4.7.0", s.rejectText(subj, "defer_if_permit requested"), why)
		return dunno
	case "defer_if_reject":
		s.deferIf(&s.dir, errPolicy, 450, "4.7.0", s.rejectText(subj, "defer_if_reject requested"), why)
		return dunno
	case "permit_mynetworks":
		ok, err := p.mynet.MatchClient(ctx, s.req.ClientAddr, s.req.ClientName)
		if err != nil {
			return s.lookupError(err, subj, why)
		}
		if ok {
			return s.permit(why)
		}
	case "permit_sasl_authenticated":
		if s.req.SASLUsername != "" {
			return s.permit(why)
		}
	case "permit_auth_destination", "reject_unauth_destination", "defer_unauth_destination":
		if !s.hasRcpt {
			return dunno
		}
		ok, res := s.authDestination(ctx)
		switch {
		case res == rejected:
			return res
		case st.name[0] == 'p':
			if ok {
				return s.permit(why)
			}
			return dunno
		case ok:
			return dunno
		}
		code, dsn := p.relayCode, "5.7.1"
		if st.name[0] == 'd' {
			code, dsn = code-100, "4.7.1"
		}
		return s.reject(errPolicy, code, dsn, "<"+s.rcpt.String()+">: Relay access denied", why)
	case "reject_unlisted_recipient":
		if s.hasRcpt {
			return s.unlisted(ctx)
		}
	case "reject_non_fqdn_recipient":
		if s.hasRcpt {
			return s.nonFQDN(s.rcpt, subjRcpt, why)
		}
	case "reject_non_fqdn_sender":
		if sender, ok := s.from(); !ok {
			return s.badSender()
		} else if s.req.Stage >= StageMail && !sender.IsNull() {
			return s.nonFQDN(sender, subjSender, why)
		}
	case "reject_invalid_helo_hostname", "reject_invalid_hostname":
		return s.invalidHelo(why)
	case "reject_non_fqdn_helo_hostname", "reject_non_fqdn_hostname":
		return s.nonFQDNHelo(why)
	case "reject_unknown_recipient_domain":
		if s.hasRcpt {
			return s.unknownDomain(ctx, subjRcpt, why)
		}
	case "reject_unknown_sender_domain":
		if s.req.Stage >= StageMail {
			return s.unknownDomain(ctx, subjSender, why)
		}
	}
	return dunno
}

func (s *state) permit(why Reason) status {
	s.d.Reason = why
	return permitted
}

// replyName is the name a reply shows between angle brackets.
func (s *state) replyName(subj subject) string {
	switch subj {
	case subjClient:
		name := s.req.ClientName
		if name == "" {
			name = "unknown"
		}
		return name + "[" + s.req.ClientAddr.Unmap().String() + "]"
	case subjHelo:
		return s.req.Helo
	case subjSender:
		return s.sender.String() // parsed by from() before any sender reply
	case subjRcpt:
		return s.rcpt.String()
	}
	return "DATA"
}

// rejectText formats "<name>: Class rejected: text".
func (s *state) rejectText(subj subject, text string) string {
	return "<" + s.replyName(subj) + ">: " + subjClass[subj] + " rejected: " + text
}

// reject is Postfix's smtpd_check_reject: warn_if_reject, reply
// validation, defer_if_reject, soft_bounce and the DSN class. Like
// Postfix 3.7 (golden case long@open.example), the text is not cut at 510
// bytes.
func (s *state) reject(class errClass, code int, dsn, text string, why Reason) status {
	warn := s.warnIf > 0 && (class == errPolicy || class == errBounce)
	if code < 400 || code > 599 || dsnValid(dsn) != len(dsn) {
		s.p.log.Warn("SMTP reply code or DSN configuration error", "code", code, "dsn", dsn, "text", text)
		code, dsn, text = 450, "4.7.1", "Service unavailable"
	}
	text = printable(text)
	if !warn && s.dir.active && code >= 500 {
		s.warnIf, s.dir.active = 0, false
		return s.reject(s.dir.class, s.dir.code, s.dir.dsn, s.dir.text, s.dir.reason)
	}
	if s.p.cfg.SoftBounce && code >= 500 {
		code -= 100
	}
	if c := byte('0' + code/100); dsn[0] != c {
		dsn = string(c) + dsn[1:]
	}
	if warn {
		reply := strconv.Itoa(code) + " " + dsn + " " + text
		s.p.log.Info("reject_warning", "reply", reply, "reason", why.String())
		s.d.Actions = append(s.d.Actions, Action{Kind: ActionWarn, Value: reply, Reason: why})
		return dunno
	}
	v := Reject
	if code < 500 {
		v = Defer
	}
	s.d.Verdict, s.d.Code, s.d.Enhanced, s.d.Text, s.d.Reason = v, code, dsn, text, why
	return rejected
}

// deferIf remembers a defer_if_permit or defer_if_reject; the first wins,
// and none is remembered under warn_if_reject.
func (s *state) deferIf(pd *pending, class errClass, code int, dsn, text string, why Reason) {
	if s.warnIf != 0 || pd.active {
		return
	}
	*pd = pending{active: true, class: class, code: code, dsn: dsn, text: text, reason: why}
}

// serverError is "451 4.3.5 Server configuration error".
func (s *state) serverError(msg string) status {
	s.p.log.Warn(msg)
	return s.reject(errSoftware, 451, "4.3.5", "Server configuration error", Reason{Restriction: "configuration", Value: msg})
}

// lookupError answers a table failure: 451 4.3.0 for a temporary one,
// 451 4.3.5 for a configuration error, never a 5xx (smtpd_check.c).
func (s *state) lookupError(err error, subj subject, why Reason) status {
	s.d.Err = err
	s.p.log.Warn("table lookup problem", "restriction", why.Restriction, "err", err)
	if lookup.KindOf(err) == lookup.Config {
		return s.reject(errSoftware, 451, "4.3.5", "Server configuration error", why)
	}
	return s.reject(errResource, 451, "4.3.0", "<"+s.replyName(subj)+">: Temporary lookup failure", why)
}

// printable replaces control characters, as Postfix's printable(s, ' ').
func printable(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] < 0x20 || b[j] == 0x7f {
					b[j] = ' '
				}
			}
			return string(b)
		}
	}
	return s
}

// resolve computes the recipient's canonical form and class once.
func (s *state) resolve(ctx context.Context) *resolution {
	r := &s.res
	if r.done {
		return r
	}
	s.p.resolveAddr(ctx, r, s.rcpt, s.req.SMTPUTF8)
	return r
}

// resolveAddr fills r for address a, as trivial-rewrite's resolver:
// canonical form, class, and where a local address's localpart routes.
func (p *Policy) resolveAddr(ctx context.Context, r *resolution, a Address, smtputf8 bool) {
	r.done = true
	domain := strings.TrimSuffix(a.Domain, ".")
	switch {
	case a.Domain == "":
		domain = p.myorig
		if domain != "" {
			r.canon = a.Local + "@" + domain
		} else {
			r.canon = a.Local
		}
	case len(domain) == len(a.Domain):
		r.canon = a.String()
	default:
		r.canon = a.Local + "@" + domain
	}
	r.domain = domain
	if mappedLiteral(domain) {
		// "[IPv6:::ffff:127.0.0.1]" is not one of our addresses for
		// Postfix (golden case addr); lookup would unmap it.
		d := p.domains
		d.Interfaces = nil
		r.class, r.err = d.Class(ctx, domain)
	} else {
		r.class, r.err = p.domains.Class(ctx, domain)
	}
	// A local address whose localpart routes elsewhere
	// ("user@site"@local always; "site!user@local" with swap_bangpath,
	// "user%site@local" with allow_percent_hack) is resolved there, as
	// trivial-rewrite's resolve loop does (golden configurations bang,
	// review). An '@' in the localpart comes first and disables the other
	// two; the domain it names must be a valid host name or address
	// literal, else the address is a syntax error (501), and a trailing
	// '@' is dropped when another '@' remains.
	local := a.Local
	for r.err == nil && r.class == lookup.ClassLocal {
		if i := strings.LastIndexByte(local, '@'); i >= 0 {
			if i == len(local)-1 {
				local = local[:i]
				if i = strings.LastIndexByte(local, '@'); i < 0 {
					r.bad = true
					break
				}
			}
			domain = strings.TrimSuffix(local[i+1:], ".")
			if domain == "" || checkDomain(domain, smtputf8) != "" {
				r.bad = true
				break
			}
			local = local[:i]
		} else if i := strings.IndexByte(local, '!'); p.swapBang && i > 0 && i < len(local)-1 {
			domain, local = local[:i], local[i+1:]
		} else if i := strings.LastIndexByte(local, '%'); p.percentHack && i > 0 && i < len(local)-1 {
			local, domain = local[:i], local[i+1:]
		} else {
			break
		}
		r.canon, r.domain = local+"@"+domain, domain
		r.class, r.err = p.domains.Class(ctx, domain)
	}
	// The address is source-routed when its final localpart still
	// routes (allow_untrusted_routing).
	r.routed = strings.ContainsAny(local, "@!%")
}

// heloKeys are check_helo_access's keys: the HELO name as sent and its
// parents. Unlike an address's domain, a trailing dot is kept and is part
// of every key ("a.example." looks up "a.example.", then "example."), as
// Postfix's check_domain_access does (golden configuration review2).
func heloKeys(dst []lookup.Key, helo string, parents bool) []lookup.Key {
	if strings.HasSuffix(helo, ".") {
		// AppendDomainKeys drops one trailing dot; give it two.
		return lookup.AppendDomainKeys(dst, helo+".", parents)
	}
	return lookup.AppendDomainKeys(dst, helo, parents)
}

// mappedLiteral reports whether d is an IPv4-mapped IPv6 address literal.
func mappedLiteral(d string) bool {
	if len(d) < 8 || d[0] != '[' || !strings.EqualFold(d[1:6], "ipv6:") || d[len(d)-1] != ']' {
		return false
	}
	ip, err := netip.ParseAddr(d[6 : len(d)-1])
	return err == nil && ip.Is4In6()
}

// authDestination is permit_auth_destination: the recipient's class is
// local, alias, virtual or relay, and the localpart is not source-routed.
// A resolver failure gives a 451 and status rejected.
func (s *state) authDestination(ctx context.Context) (bool, status) {
	r := s.resolve(ctx)
	if r.err != nil {
		return false, s.lookupError(r.err, subjRcpt, Reason{Restriction: "resolve", Value: r.domain})
	}
	if !s.p.cfg.AllowUntrustedRouting && r.routed {
		return false, dunno
	}
	return r.class != lookup.ClassDefault, dunno
}

// nonFQDN is reject_non_fqdn_recipient and reject_non_fqdn_sender: the
// domain must have a dot and valid labels after one trailing dot is
// dropped; address literals pass.
func (s *state) nonFQDN(a Address, subj subject, why Reason) status {
	if strings.HasPrefix(a.Domain, "[") {
		return dunno
	}
	d := strings.TrimSuffix(a.Domain, ".")
	if d != "" && strings.Contains(d, ".") && checkDomain(d, true) == "" {
		return dunno
	}
	return s.reject(errPolicy, s.p.nonFQDNCode, "4.5.2", s.rejectText(subj, "need fully-qualified address"), why)
}

// invalidHelo is reject_invalid_helo_hostname: a HELO name that is
// neither a host name, an IP address nor a valid address literal
// (replies checked against Postfix, golden configuration heloname).
func (s *state) invalidHelo(why Reason) status {
	h := s.req.Helo
	if h == "" {
		return dunno
	}
	if h[0] == '[' {
		// Postfix's valid_mailhost_literal: an IPv4 address as
		// valid_ipv4_hostaddr reads it, or an IPv6 literal with its
		// "IPv6:" tag ("[::1]" is refused; golden configuration heloname).
		if inner, ok := strings.CutSuffix(h[1:], "]"); ok && !strings.Contains(inner, ":") {
			if validIPv4HostAddr(inner) {
				return dunno
			}
		} else if checkDomain(h, false) == "" {
			return dunno
		}
		return s.reject(errPolicy, s.p.invalidHostCode, "5.5.2", s.rejectText(subjHelo, "invalid ip address"), why)
	}
	name := heloName(h)
	if name != "" && checkDomain(name, false) == "" || validIPv4HostAddr(name) {
		return dunno
	}
	if ip, err := netip.ParseAddr(name); err == nil && ip.Is6() && ip.Zone() == "" {
		return dunno
	}
	return s.reject(errPolicy, s.p.invalidHostCode, "5.5.2", s.rejectText(subjHelo, "Invalid name"), why)
}

// nonFQDNHelo is reject_non_fqdn_helo_hostname: the HELO name must be a
// host name with a dot (an IP address without brackets is not).
func (s *state) nonFQDNHelo(why Reason) status {
	h := s.req.Helo
	if h == "" || h[0] == '[' {
		return dunno
	}
	name := heloName(h)
	if name != "" && strings.Contains(name, ".") && checkDomain(name, false) == "" {
		return dunno
	}
	return s.reject(errPolicy, s.p.nonFQDNCode, "4.5.2", s.rejectText(subjHelo, "need fully-qualified hostname"), why)
}

// heloName drops one trailing dot, but not from "..", as Postfix's
// dup_if_truncate: "a.example.." stays invalid.
func heloName(h string) string {
	if strings.HasSuffix(h, ".") && !strings.HasSuffix(h, "..") {
		return h[:len(h)-1]
	}
	return h
}

// validIPv4HostAddr is Postfix's valid_ipv4_hostaddr: four decimal octets
// up to 255, leading zeros allowed ("001.002.003.004"), a first octet of
// zero only in an all-zero address.
func validIPv4HostAddr(a string) bool {
	n, val, in := 0, 0, false
	for i := 0; i < len(a); i++ {
		switch c := a[i]; {
		case '0' <= c && c <= '9':
			if !in {
				in, val = true, 0
				n++
			}
			if val = val*10 + int(c-'0'); val > 255 {
				return false
			}
		case c == '.':
			if !in || i == len(a)-1 || n == 1 && val == 0 && strings.Trim(a, "0.") != "" {
				return false
			}
			in = false
		default:
			return false
		}
	}
	return in && n == 4
}

// unknownDomain is reject_unknown_recipient_domain and, for the
// sender, reject_unknown_sender_domain: domains of this server (local,
// alias, virtual) and address literals are not looked up.
func (s *state) unknownDomain(ctx context.Context, subj subject, why Reason) status {
	var domain string
	var class lookup.Class
	if subj == subjRcpt {
		r := s.resolve(ctx)
		if r.err != nil {
			return s.lookupError(r.err, subjRcpt, why)
		}
		if s.rcpt.Domain == "" {
			return dunno
		}
		domain, class = r.domain, r.class
	} else {
		sender, ok := s.from()
		if !ok {
			return s.badSender()
		}
		domain = strings.TrimSuffix(sender.Domain, ".")
		if domain == "" {
			return dunno // the null sender, or a bare localpart
		}
		c, err := s.p.domains.Class(ctx, domain)
		if err != nil {
			return s.lookupError(err, subjSender, why)
		}
		class = c
	}
	if class != lookup.ClassRelay && class != lookup.ClassDefault || strings.HasPrefix(domain, "[") {
		return dunno
	}
	notFound, nullCode, nullDSN := "4.1.2", 556, "5.1.10"
	if subj == subjSender {
		notFound, nullCode, nullDSN = "4.1.8", 550, "5.7.27"
	}
	ds, err := s.p.cfg.Resolver.MailDomain(ctx, domain)
	switch {
	case err != nil:
		s.d.Err = err
		s.deferIf(&s.dip, errPolicy, 450, "4.4.3", s.rejectText(subj, "Domain not found"), why)
		return dunno
	case ds == DomainNotFound:
		return s.reject(errPolicy, s.p.unknownAddrCode, notFound, s.rejectText(subj, "Domain not found"), why)
	case ds == DomainNullMX:
		return s.reject(errPolicy, nullCode, nullDSN, s.rejectText(subj, "Domain "+domain+" does not accept mail (nullMX)"), why)
	}
	return dunno
}

// access is check_{recipient,sender,client,helo}_access (access(5)).
func (s *state) access(ctx context.Context, st *step, why Reason) status {
	var kb [24]lookup.Key
	var keys []lookup.Key
	subj := subjRcpt
	switch st.name {
	case "check_recipient_access":
		if !s.hasRcpt {
			return dunno
		}
		keys = lookup.AppendAccessKeys(kb[:0], s.resolve(ctx).canon, s.p.access)
	case "check_sender_access":
		subj = subjSender
		if s.req.Stage < StageMail {
			return dunno
		}
		sender, ok := s.from()
		if !ok {
			return s.badSender()
		}
		if sender.IsNull() {
			keys = append(kb[:0], lookup.Key{Key: s.p.nullKey, Kind: lookup.KeyAddress})
		} else {
			canon, err := s.senderCanon(ctx)
			if err != nil {
				return s.lookupError(err, subjSender, why)
			}
			keys = lookup.AppendAccessKeys(kb[:0], canon, s.p.access)
		}
	case "check_client_access":
		subj = subjClient
		keys = clientKeys(kb[:0], s.req.ClientName, s.req.ClientAddr, s.p.parents)
	case "check_helo_access":
		subj = subjHelo
		if s.req.Helo == "" {
			return dunno
		}
		keys = heloKeys(kb[:0], s.req.Helo, s.p.parents)
	}
	if st.pattern {
		// regexp: and cidr: tables get only the complete forms: the
		// address (not its domain, parents or localpart), the client name
		// and address, the HELO name (golden configuration regexp).
		full := keys[:0]
		for _, k := range keys {
			if k.Kind == lookup.KeyAddress || k.Kind == lookup.KeyDomain && subj != subjRcpt && subj != subjSender {
				full = append(full, k)
			}
		}
		keys = full
	}
	r, found, err := lookup.Search(ctx, st.tables, keys)
	if err != nil {
		// Postfix answers any access table failure, temporary or not,
		// with "451 4.3.5 <name>: Class rejected: Server configuration
		// error" (checked with the oracle shim and a tcp: table).
		s.d.Err = err
		s.p.log.Warn("access table lookup problem", "restriction", why.Restriction, "table", st.arg, "err", err)
		why.Table = st.arg
		return s.reject(errSoftware, 451, "4.3.5", s.rejectText(subj, "Server configuration error"), why)
	}
	if !found {
		return dunno
	}
	why.Table, why.Key, why.Value = st.arg, r.Key.Key, r.Value
	status := s.tableResult(ctx, r.Value, why, subj)
	if status == permitted && subj == subjRcpt && !s.p.cfg.AllowUntrustedRouting && s.resolve(ctx).routed {
		return dunno // "too suspicious" for OK: check_mail_access in smtpd_check.c (golden configuration routed)
	}
	return status
}

// from parses the sender on first use (at RCPT most decisions never look
// at it). ok is false when it does not parse.
func (s *state) from() (a Address, ok bool) {
	if !s.senderDone {
		s.senderDone = true
		var err error
		s.sender, err = ParseAddress(s.req.Sender, s.req.SMTPUTF8)
		s.senderErr = err != nil
	}
	return s.sender, !s.senderErr
}

// badSender is 501 5.1.7 for a sender that does not parse, found by a
// restriction that needs it.
func (s *state) badSender() status {
	_, err := ParseAddress(s.req.Sender, s.req.SMTPUTF8)
	s.d.Err = err
	return s.reject(errSoftware, 501, "5.1.7", "Bad sender address syntax", Reason{Restriction: "address syntax"})
}

// senderCanon is the sender's form for check_sender_access: qualified
// with $myorigin, and, when it is local and its localpart routes
// elsewhere ("u@site"@local, site!u@local, u%site@local), resolved there,
// as Postfix looks up the resolved sender (golden configuration review3).
func (s *state) senderCanon(ctx context.Context) (string, error) {
	if strings.ContainsAny(s.sender.Local, "@!%") {
		var r resolution
		s.p.resolveAddr(ctx, &r, s.sender, s.req.SMTPUTF8)
		if r.err != nil {
			return "", r.err
		}
		if !r.bad {
			return r.canon, nil
		}
	}
	if s.sender.Domain == "" && s.p.myorig != "" {
		return s.sender.Local + "@" + s.p.myorig, nil
	}
	return s.sender.String(), nil
}

// clientKeys are check_client_access's keys: the host name and its
// parents, then the address and its shorter forms (192.0.2.1, 192.0.2,
// 192.0, 192). A client without a name is looked up as "unknown", as
// Postfix does (golden configuration misc).
func clientKeys(dst []lookup.Key, name string, ip netip.Addr, parents bool) []lookup.Key {
	if name == "" {
		name = "unknown"
	}
	dst = lookup.AppendDomainKeys(dst, name, parents)
	if !ip.IsValid() {
		return dst
	}
	a := ip.Unmap().String()
	delim := byte('.')
	if ip.Unmap().Is6() {
		delim = ':'
	}
	for kind := lookup.KeyAddress; a != ""; kind = lookup.KeyParent {
		dst = append(dst, lookup.Key{Key: a, Kind: kind})
		i := strings.LastIndexByte(a, delim)
		if i < 0 {
			break
		}
		a = a[:i]
	}
	return dst
}

// tableResult is Postfix's check_table_result: what an access table value,
// a policy server action or a Check result means (access(5)).
func (s *state) tableResult(ctx context.Context, value string, why Reason, subj subject) status {
	p := s.p
	cmd, text := value, ""
	if i := strings.IndexAny(value, " \t"); i >= 0 {
		cmd, text = value[:i], strings.TrimLeft(value[i:], " \t")
	}
	class := subjClass[subj]
	or := func(t, def string) string {
		if t == "" {
			return def
		}
		return t
	}
	switch {
	case allDigits(value):
		return s.permit(why)
	case strings.EqualFold(cmd, "OK"), strings.EqualFold(cmd, "RELAY"):
		return s.permit(why)
	case strings.EqualFold(cmd, "DUNNO"):
		return dunno
	case strings.EqualFold(cmd, "REJECT"):
		dsn, t := dsnSplit("5.7.1", text)
		return s.reject(errPolicy, p.mapReject, dsnFix(dsn, class), s.rejectText(subj, or(t, "Access denied")), why)
	case strings.EqualFold(cmd, "DEFER"):
		dsn, t := dsnSplit("4.7.1", text)
		return s.reject(errPolicy, p.mapDefer, dsnFix(dsn, class), s.rejectText(subj, or(t, "Access denied")), why)
	case strings.EqualFold(cmd, "DEFER_IF_PERMIT"), strings.EqualFold(cmd, "DEFER_IF_REJECT"):
		dsn, t := dsnSplit("4.7.1", text)
		pd := &s.dip
		if len(cmd) == len("DEFER_IF_REJECT") && strings.EqualFold(cmd[9:], "REJECT") {
			pd = &s.dir
		}
		s.deferIf(pd, errPolicy, p.mapDefer, dsnFix(dsn, class), s.rejectText(subj, or(t, "Service unavailable")), why)
		return dunno
	case len(cmd) == 3 && text != "" && (cmd[0] == '4' || cmd[0] == '5') && allDigits(cmd):
		code, _ := strconv.Atoi(cmd)
		dsn, t := dsnSplit(cmd[:1]+".7.1", text)
		return s.reject(errPolicy, code, dsnFix(dsn, class), s.rejectText(subj, or(t, "Access denied")), why)
	case strings.EqualFold(cmd, "DISCARD"):
		s.discard = true
		s.d.Actions = append(s.d.Actions, Action{Kind: ActionDiscard, Value: text, Reason: why})
		return s.permit(why)
	case strings.EqualFold(cmd, "HOLD"):
		s.d.Hold = true
		s.d.Actions = append(s.d.Actions, Action{Kind: ActionHold, Value: text, Reason: why})
		return dunno
	case strings.EqualFold(cmd, "WARN"), strings.EqualFold(cmd, "INFO"):
		k := ActionWarn
		if cmd[0] == 'I' || cmd[0] == 'i' {
			k = ActionInfo
		}
		p.log.Info(strings.ToLower(cmd), "text", text, "reason", why.String())
		s.d.Actions = append(s.d.Actions, Action{Kind: k, Value: text, Reason: why})
		return dunno
	case strings.EqualFold(cmd, "PREPEND"), strings.EqualFold(cmd, "REDIRECT"), strings.EqualFold(cmd, "BCC"), strings.EqualFold(cmd, "FILTER"):
		k := map[string]ActionKind{"PREPEND": ActionPrepend, "REDIRECT": ActionRedirect, "BCC": ActionBCC, "FILTER": ActionFilter}[strings.ToUpper(cmd)]
		if text == "" || k == ActionFilter && !strings.Contains(text, ":") || k == ActionPrepend && !strings.Contains(text, ":") {
			return s.serverError("access table " + why.Table + " entry " + why.Key + " has " + cmd + " action without valid argument")
		}
		s.d.Actions = append(s.d.Actions, Action{Kind: k, Value: text, Reason: why})
		return dunno
	}
	// Anything else is a restriction list: a class or restriction names,
	// without table lookups.
	if strings.Contains(value, ":") {
		return s.serverError("access table " + why.Table + " entry " + why.Key + " has a table lookup in its value: " + value)
	}
	l, err := p.compile(ctx, "access table value", value, false)
	if err != nil {
		return s.serverError(err.Error())
	}
	return s.run(ctx, l, subj)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
