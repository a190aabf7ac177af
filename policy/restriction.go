package policy

import (
	"context"
	"fmt"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
)

// Restriction is one entry of a restriction list as written in main.cf:
// a name and, for the restrictions that take one, its argument (a table
// or a policy service).
type Restriction struct {
	Name string // lower case: "check_recipient_access"
	Arg  string // "hash:/etc/postfix/access", "inet:127.0.0.1:10031"; empty when none
}

// The restrictions without argument, as Go values. Restriction classes
// and Config.Restrictions add names of their own. policy never reads these
// variables itself: they are conveniences for building lists in Go.
var (
	PermitAll                    = Restriction{Name: "permit"} // Postfix's PERMIT_ALL: "permit"
	RejectAll                    = Restriction{Name: "reject"}
	DeferAll                     = Restriction{Name: "defer"}
	DunnoAll                     = Restriction{Name: "dunno"}
	DeferIfPermit                = Restriction{Name: "defer_if_permit"}
	DeferIfReject                = Restriction{Name: "defer_if_reject"}
	WarnIfReject                 = Restriction{Name: "warn_if_reject"}
	PermitMynetworks             = Restriction{Name: "permit_mynetworks"}
	PermitSASLAuthenticated      = Restriction{Name: "permit_sasl_authenticated"}
	PermitAuthDestination        = Restriction{Name: "permit_auth_destination"}
	RejectUnauthDestination      = Restriction{Name: "reject_unauth_destination"}
	DeferUnauthDestination       = Restriction{Name: "defer_unauth_destination"}
	RejectUnlistedRecipient      = Restriction{Name: "reject_unlisted_recipient"}
	RejectNonFQDNRecipient       = Restriction{Name: "reject_non_fqdn_recipient"}
	RejectNonFQDNSender          = Restriction{Name: "reject_non_fqdn_sender"}
	RejectUnknownRecipientDomain = Restriction{Name: "reject_unknown_recipient_domain"}
)

// CheckRecipientAccess returns "check_recipient_access table".
func CheckRecipientAccess(table string) Restriction {
	return Restriction{Name: "check_recipient_access", Arg: table}
}

// CheckSenderAccess returns "check_sender_access table".
func CheckSenderAccess(table string) Restriction {
	return Restriction{Name: "check_sender_access", Arg: table}
}

// CheckClientAccess returns "check_client_access table".
func CheckClientAccess(table string) Restriction {
	return Restriction{Name: "check_client_access", Arg: table}
}

// CheckHeloAccess returns "check_helo_access table".
func CheckHeloAccess(table string) Restriction {
	return Restriction{Name: "check_helo_access", Arg: table}
}

// CheckPolicyService returns "check_policy_service service", service being
// "inet:host:port" or "unix:/path".
func CheckPolicyService(service string) Restriction {
	return Restriction{Name: "check_policy_service", Arg: service}
}

// takesArg reports whether a restriction is followed by an argument. The
// check_*_{mx,ns,a}_access and other Postfix names policy does not
// implement are listed so that New refuses them clearly.
func takesArg(name string) bool {
	switch name {
	case "check_recipient_access", "check_sender_access", "check_client_access", "check_helo_access",
		"check_policy_service", "check_reverse_client_hostname_access", "check_ccert_access",
		"check_sasl_access", "check_recipient_mx_access", "check_recipient_ns_access",
		"check_recipient_a_access", "check_sender_mx_access", "check_sender_ns_access",
		"check_sender_a_access", "check_client_mx_access", "check_client_ns_access",
		"check_client_a_access", "check_helo_mx_access", "check_helo_ns_access", "check_helo_a_access",
		"check_reverse_client_hostname_mx_access", "check_reverse_client_hostname_ns_access",
		"check_reverse_client_hostname_a_access", "check_client_hostname_access":
		return true
	}
	return isDNSList(name)
}

// String returns the restriction as main.cf writes it. An argument that
// would not read back as one token is wrapped in "{ }".
func (r Restriction) String() string {
	if r.Arg == "" && !takesArg(r.Name) {
		return r.Name
	}
	if toks, err := tokenize(r.Arg); err != nil || len(toks) != 1 || toks[0] != r.Arg || strings.HasPrefix(r.Arg, "{") {
		return r.Name + " { " + r.Arg + " }"
	}
	return r.Name + " " + r.Arg
}

// FormatRestrictions joins restrictions as a main.cf value.
func FormatRestrictions(rs []Restriction) string {
	var b strings.Builder
	for i, r := range rs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r.String())
	}
	return b.String()
}

// ParseRestrictions parses a restriction list value ("permit_mynetworks,
// reject_unauth_destination"): names separated by commas or white space,
// each followed by its argument when it takes one. "{ ... }" groups an
// argument that contains separators, as in Postfix 3.x
// ("check_policy_service { inet:127.0.0.1:9998, timeout=10s }"). Names are
// case-insensitive. ParseRestrictions checks syntax only: New checks that
// every name exists and opens the tables.
func ParseRestrictions(s string) ([]Restriction, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	var out []Restriction
	for i := 0; i < len(toks); i++ {
		name := toks[i]
		if strings.HasPrefix(name, "{") {
			return nil, fmt.Errorf("restriction list: unexpected %q where a restriction name belongs", name)
		}
		r := Restriction{Name: strings.ToLower(name)}
		if strings.Contains(name, ":") {
			r.Name = name // a bare type:table: its name is case-sensitive
		}
		if takesArg(r.Name) {
			if i+1 >= len(toks) {
				return nil, fmt.Errorf("restriction list: %s needs an argument", r.Name)
			}
			i++
			r.Arg = unbrace(toks[i])
			if r.Arg == "" {
				return nil, fmt.Errorf("restriction list: %s needs an argument", r.Name)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// tokenize splits at commas and white space outside "{ }".
func tokenize(s string) ([]string, error) {
	if err := lookup.CheckBraces(s); err != nil {
		return nil, fmt.Errorf("restriction list: %w", err)
	}
	return lookup.SplitList(s), nil
}

// unbrace removes the "{ }" around a grouped argument.
func unbrace(t string) string {
	if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
		return strings.Trim(t[1:len(t)-1], " \t\r\n")
	}
	return t
}

// Check is a restriction written in Go, named in Config.Restrictions. It
// returns an access(5) action ("OK", "REJECT text", "DUNNO",
// "DEFER_IF_PERMIT text", "550 5.7.1 text", a restriction class...) that
// policy evaluates exactly as it evaluates an access table's value; ""
// means DUNNO. An error is a temporary failure (451 4.3.0), or 451 4.3.5
// when it is a lookup.Error of kind lookup.Config.
type Check interface {
	// Check returns the access(5) action for the request.
	Check(ctx context.Context, r *Request) (action string, err error)
}

// CheckFunc adapts a function to Check.
type CheckFunc func(ctx context.Context, r *Request) (string, error)

// Check calls f.
func (f CheckFunc) Check(ctx context.Context, r *Request) (string, error) { return f(ctx, r) }

type stepKind int8

const (
	stepBuiltin stepKind = iota
	stepAccess
	stepService
	stepClass
	stepCustom
	stepDNSList
)

// isAccessCheck reports whether name is an access table restriction:
// check_{recipient,sender,client,helo,reverse_client_hostname}_access
// and the check_*_{mx,ns,a}_access family.
func isAccessCheck(name string) bool {
	switch name {
	case "check_recipient_access", "check_sender_access", "check_client_access", "check_helo_access",
		"check_reverse_client_hostname_access":
		return true
	}
	_, ok := serverCheckOf(name)
	return ok
}

// step is one compiled restriction.
type step struct {
	name    string
	kind    stepKind
	arg     string
	tables  []lookup.Table // stepAccess: the one table
	pattern bool           // the table matches patterns (regexp:, cidr:)
	svc     *policyClient
	check   Check
	list    *dnsList     // stepDNSList
	server  *serverCheck // check_*_{mx,ns,a}_access
	bare    bool         // a bare type:table: the stage's access restriction
}

type compiled []step

// builtin reports whether name is a restriction without argument that
// policy implements (reject_invalid_hostname and reject_non_fqdn_hostname
// are the pre-2.3 names).
func builtin(name string) bool {
	if isVerify(name) {
		return true
	}
	switch name {
	case "permit", "reject", "defer", "dunno", "defer_if_permit", "defer_if_reject", "warn_if_reject",
		"permit_mynetworks", "permit_sasl_authenticated", "permit_auth_destination",
		"reject_unauth_destination", "defer_unauth_destination", "reject_unlisted_recipient",
		"reject_non_fqdn_recipient", "reject_non_fqdn_sender", "reject_unknown_recipient_domain",
		"reject_invalid_helo_hostname", "reject_non_fqdn_helo_hostname", "reject_unknown_sender_domain",
		"reject_invalid_hostname", "reject_non_fqdn_hostname", "reject_unauth_pipelining",
		"reject_unknown_helo_hostname", "reject_unknown_hostname", "reject_unknown_client_hostname",
		"reject_unknown_client", "reject_unknown_reverse_client_hostname", "permit_mx_backup",
		"reject_unlisted_sender", "reject_unknown_address", "reject_multi_recipient_bounce", "permit_inet_interfaces",
		"reject_sender_login_mismatch", "reject_authenticated_sender_login_mismatch",
		"reject_known_sender_login_mismatch", "reject_unauthenticated_sender_login_mismatch":
		return true
	}
	return false
}

// compileLists compiles the six lists and the restriction classes.
func (p *Policy) compileLists(ctx context.Context) error {
	c := &p.cfg
	values := [...]string{c.SMTPDClientRestrictions, c.SMTPDHeloRestrictions, c.SMTPDSenderRestrictions,
		c.SMTPDRelayRestrictions, c.SMTPDRecipientRestrictions, c.SMTPDDataRestrictions}
	if values[listRelay] == "" {
		values[listRelay] = DefaultRelayRestrictions
	}
	p.classes = make(map[string]compiled, len(c.SMTPDRestrictionClasses))
	for name := range c.SMTPDRestrictionClasses {
		if builtin(strings.ToLower(name)) || takesArg(strings.ToLower(name)) {
			return &ConfigError{"smtpd_restriction_classes", fmt.Errorf("class %q has the name of a restriction", name)}
		}
		p.classes[strings.ToLower(name)] = nil
	}
	for name, value := range c.SMTPDRestrictionClasses {
		l, err := p.compile(ctx, name, value, true)
		if err != nil {
			return err
		}
		p.classes[strings.ToLower(name)] = l
	}
	for i, v := range values {
		l, err := p.compile(ctx, listParams[i], v, true)
		if err != nil {
			return err
		}
		p.lists[i] = l
	}
	return nil
}

// compile parses and compiles one list. With tables false (a list found in
// an access table's value) no argument is allowed.
func (p *Policy) compile(ctx context.Context, param, value string, tables bool) (compiled, error) {
	rs, err := ParseRestrictions(value)
	if err != nil {
		return nil, &ConfigError{param, err}
	}
	out := make(compiled, 0, len(rs))
	for _, r := range rs {
		s := step{name: r.Name, arg: r.Arg}
		switch {
		case builtin(r.Name):
			s.kind = stepBuiltin
			switch {
			case isVerify(r.Name) && p.cfg.Verifier == nil:
				return nil, &ConfigError{param, fmt.Errorf("%s needs Config.Verifier", r.Name)}
			case (r.Name == "reject_unknown_helo_hostname" || r.Name == "reject_unknown_hostname" || r.Name == "permit_mx_backup") && p.cfg.DNS == nil:
				return nil, &ConfigError{param, fmt.Errorf("%s needs Config.DNS", r.Name)}
			case strings.HasPrefix(r.Name, "reject_unknown_client") || strings.HasPrefix(r.Name, "reject_unknown_reverse"):
			case strings.HasSuffix(r.Name, "_login_mismatch") && tables: // tables: at New, not for a table's value
				p.warn(param, "restriction `"+r.Name+"' ignored: no SASL support (as Postfix with smtpd_sasl_auth_enable = no)")
			case (strings.HasSuffix(r.Name, "_domain") && strings.HasPrefix(r.Name, "reject_unknown_") || r.Name == "reject_unknown_address") && p.cfg.Resolver == nil:
				return nil, &ConfigError{param, fmt.Errorf("%s needs Config.Resolver", r.Name)}
			}
		case p.cfg.Restrictions[r.Name] != nil:
			s.kind, s.check = stepCustom, p.cfg.Restrictions[r.Name]
		case r.Arg == "" && p.hasClass(r.Name):
			s.kind = stepClass
		case !tables && (r.Arg != "" && !isDNSList(r.Name) || strings.Contains(r.Name, ":")):
			return nil, &ConfigError{param, fmt.Errorf("%s: table lookups are not allowed here", r.Name)}
		case r.Name == "check_policy_service":
			svc, err := p.newPolicyClient(r.Arg)
			if err != nil {
				return nil, &ConfigError{param, err}
			}
			p.services = append(p.services, svc)
			s.kind, s.svc = stepService, svc
		case r.Name == "check_client_hostname_access":
			// Not a Postfix 3.7 name (nor a later one): Postfix answers
			// every mail 451 4.3.5 for it.
			return nil, &ConfigError{param, fmt.Errorf("%s is not a Postfix restriction: use check_client_access (the verified client name, then the address) or check_reverse_client_hostname_access (the unverified name)", r.Name)}
		case isAccessCheck(r.Name) || strings.Contains(r.Name, ":") && r.Arg == "":
			spec := r.Arg
			if spec == "" {
				spec = r.Name // a bare type:table
			}
			t, err := p.openTable(ctx, spec)
			if err != nil {
				return nil, &ConfigError{param, err}
			}
			s.kind, s.tables, s.bare = stepAccess, []lookup.Table{t}, !isAccessCheck(r.Name)
			if s.bare {
				s.arg = r.Name
			}
			if c, ok := serverCheckOf(r.Name); ok {
				if p.cfg.DNS == nil {
					return nil, &ConfigError{param, fmt.Errorf("%s needs Config.DNS", r.Name)}
				}
				s.server = &c
			}
			// Pattern tables (regexp:, pcre:, cidr:, socketmap:, tcp:)
			// are asked the complete key only, as smtpd_check.c asks
			// them.
			s.pattern = lookup.IsPattern(t)
		case isDNSList(r.Name):
			if p.cfg.DNS == nil {
				return nil, &ConfigError{param, fmt.Errorf("%s needs Config.DNS", r.Name)}
			}
			l, err := parseDNSList(r.Arg)
			if err != nil {
				return nil, &ConfigError{param, fmt.Errorf("%s: %w", r.Name, err)}
			}
			s.kind, s.list = stepDNSList, l
		case takesArg(r.Name):
			return nil, &ConfigError{param, fmt.Errorf("%s is not implemented", r.Name)}
		default:
			return nil, &ConfigError{param, fmt.Errorf("unknown restriction %q", r.Name)}
		}
		out = append(out, s)
	}
	return out, nil
}

func (p *Policy) hasClass(name string) bool {
	_, ok := p.classes[name]
	return ok
}
