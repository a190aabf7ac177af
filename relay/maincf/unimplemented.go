package maincf

import (
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
)

// gap is a Postfix feature that changes how mail flows and that mxrelay
// does not implement. Setting its parameter to anything but an inert value
// is refused (see Classify and Refuse): running without the feature would
// lose, bounce or pass mail that Postfix would not.
type gap struct {
	why string
	// active reports whether a value turns the feature on. Nil: any value
	// other than empty, "0", "no" or Postfix's default.
	active func(f *File, name, value string) bool
}

// gaps are the parameters of unimplemented features, by name; gapPrefixes
// by name prefix. They are never written. smtpd_helo_required is not
// among them: mxrelay always requires HELO or EHLO before MAIL (as
// smtpd_helo_required = yes; the SMTP engine refuses MAIL without it).
var gaps = map[string]gap{
	// Probes take the mail's own route (relay's Verifier): a separate
	// route for them is not implemented.
	"address_verify_transport_maps":           {why: "a separate route for address verification probes is not implemented: probes take the mail's route", active: differsFrom("transport_maps")},
	"address_verify_relayhost":                {why: "a separate route for address verification probes is not implemented: probes take the mail's route", active: differsFrom("relayhost")},
	"address_verify_relay_transport":          {why: "a separate route for address verification probes is not implemented: probes take the mail's route", active: differsFrom("relay_transport")},
	"address_verify_default_transport":        {why: "a separate route for address verification probes is not implemented: probes take the mail's route", active: differsFrom("default_transport")},
	"remote_header_rewrite_domain":            {why: "rewriting the headers of remote clients (remote_header_rewrite_domain) is not implemented: only local_header_rewrite_clients get their headers rewritten"},
	"message_reject_characters":               {why: "cleanup's character filters are not implemented"},
	"message_strip_characters":                {why: "cleanup's character filters are not implemented"},
	"milter_header_checks":                    {why: "milter_header_checks (header checks of the headers milters add) is not implemented"},
	"smtp_generic_maps":                       {why: "outbound address rewriting (smtp_generic_maps) is not implemented"},
	"lmtp_generic_maps":                       {why: "outbound address rewriting (lmtp_generic_maps) is not implemented"},
	"sender_dependent_relayhost_maps":         {why: "sender-dependent routing is not implemented: mail would go to relayhost or the MX instead"},
	"sender_dependent_default_transport_maps": {why: "sender-dependent routing is not implemented: mail would go to default_transport instead"},
	"defer_transports":                        {why: "defer_transports is not implemented: the mail would be delivered instead of held"},
	"smtp_sasl_auth_enable":                   {why: "SMTP client authentication is not implemented: a next hop that requires it would refuse the mail"},
	"lmtp_sasl_auth_enable":                   {why: "LMTP client authentication is not implemented: a next hop that requires it would refuse the mail"},
	"smtpd_sasl_auth_enable":                  {why: "SMTP AUTH is not implemented: clients that relay after authenticating would be refused"},
	"smtp_tls_security_level": {
		why: "DANE and fingerprint TLS verification are not implemented",
		active: func(_ *File, _, v string) bool {
			switch strings.ToLower(v) {
			case "dane", "dane-only", "fingerprint":
				return true
			}
			return false
		},
	},
	// Postfix appends .$mydomain to user@host when it rewrites envelope
	// addresses (trivial-rewrite's rewrite.c, local context); mxrelay
	// does not rewrite user@host, so "yes" would route such mail
	// elsewhere than Postfix.
	"append_dot_mydomain": {
		why: "append_dot_mydomain is not implemented: user@host addresses would not get .$mydomain appended",
		active: func(_ *File, _, v string) bool {
			b, err := ParseBool(v)
			return err != nil || b
		},
	},
	"smtp_tls_wrappermode": {why: "delivery over TLS-wrapped connections (port 465) is not implemented"},
	"smtp_host_lookup":     {why: "host lookups other than DNS (native, /etc/hosts) are not implemented", active: notDNS},
	"lmtp_host_lookup":     {why: "host lookups other than DNS (native, /etc/hosts) are not implemented", active: notDNS},
	"disable_dns_lookups":  {why: "delivery without DNS lookups is not implemented"},
	"smtp_dns_support_level": {
		why:    "delivery without DNS lookups is not implemented",
		active: func(_ *File, _, v string) bool { return strings.EqualFold(v, "disabled") },
	},
	"smtp_bind_address":              {why: "choosing the source address of deliveries is not implemented"},
	"smtp_bind_address6":             {why: "choosing the source address of deliveries is not implemented"},
	"smtpd_client_auth_rate_limit":   {why: "client rate limits (anvil) are not implemented"},
	"smtpd_end_of_data_restrictions": {why: "end-of-data restrictions are not implemented"},
	"smtpd_etrn_restrictions":        {why: "ETRN restrictions are not implemented: any client could ask for a flush of fast_flush_domains"},
	"smtpd_authorized_xclient_hosts": {why: "XCLIENT is not implemented: the front end's clients would all appear as the front end"},
	"smtpd_tls_req_ccert":            {why: "requiring client certificates is not implemented"},
	"smtpd_forbidden_commands": {
		why: "only Postfix's default smtpd_forbidden_commands are implemented",
		active: func(_ *File, _, v string) bool {
			// A subset of the default is honoured: the engine refuses
			// at least what it names.
			for _, tok := range lookup.SplitList(v) {
				switch strings.ToUpper(tok) {
				case "CONNECT", "GET", "POST", "REGEXP:{{/^[^A-Z]/ BOGUS}}":
				default:
					return true
				}
			}
			return false
		},
	},
	"smtpd_noop_commands":                     {why: "smtpd_noop_commands is not implemented"},
	"smtpd_per_request_deadline":              {why: "per-request deadlines (smtpd_per_request_deadline, smtpd_min_data_rate) are not implemented"},
	"smtpd_discard_ehlo_keyword_address_maps": {why: "per-client EHLO keyword discarding is not implemented"},
}

// gapPrefixes are families of parameters of unimplemented features.
var gapPrefixes = []struct {
	prefix string
	gap    gap
}{
	{"postscreen_", gap{
		why: "postscreen is not implemented: its checks (DNS blocklists, greeting and protocol tests) would not run",
		active: func(f *File, name, v string) bool {
			return f.runs("postscreen") && defaultActive(f, name, v)
		},
	}},
}

// notDNS is the active test of smtp_host_lookup: anything but "dns".
func notDNS(_ *File, _, v string) bool { return !strings.EqualFold(strings.TrimSpace(v), "dns") }

// defaultActive is the active test of most gaps: a value other than empty,
// "0", "no" or Postfix's default.
func defaultActive(f *File, name, v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "no":
		return false
	}
	if def, ok := f.defaultValue(name); ok {
		e := expander{f: f, active: map[string]bool{name: true}, quiet: true}
		if e.expand(def, 0) == v {
			return false
		}
	}
	return true
}

// gapOf returns the gap a parameter belongs to, if any.
func gapOf(name string) (gap, bool) {
	if g, ok := gaps[name]; ok {
		return g, true
	}
	for _, p := range gapPrefixes {
		if strings.HasPrefix(name, p.prefix) {
			return p.gap, true
		}
	}
	return gap{}, false
}

// activeGap returns why a set parameter is refused, or "".
func (f *File) activeGap(name, value string) string {
	g, ok := gapOf(name)
	if !ok {
		return ""
	}
	active := g.active
	if active == nil {
		active = defaultActive
	}
	if !active(f, name, value) {
		return ""
	}
	return g.why
}

// differsFrom is a gap's active func for a parameter that is inert while
// it equals another parameter (its default, "$transport_maps").
func differsFrom(other string) func(f *File, name, value string) bool {
	return func(f *File, _, value string) bool { return value != f.Get(other) }
}
