package relay

import (
	"context"
	"net/netip"
	"strconv"
	"strings"

	"github.com/mxrelay/mxrelay/policy/msgauth"
	"github.com/mxrelay/mxrelay/relay/maincf"
)

// The main.cf parameters of message authentication. They are mxrelay's
// own: Postfix has no SPF, DKIM or DMARC of its own (it delegates them
// to milters and policy services), so none of them is a Postfix name.
const (
	// mxrelay_message_authentication = yes checks SPF, DKIM and DMARC at
	// the end of DATA and prepends Authentication-Results. Default no.
	paramMsgAuth = "mxrelay_message_authentication"
	// mxrelay_authserv_id names us in Authentication-Results. Default
	// (empty) $myhostname.
	paramAuthservID = "mxrelay_authserv_id"
	// mxrelay_dkim_signature_limit caps the DKIM signatures verified per
	// message. Default (empty) 10.
	paramDKIMLimit = "mxrelay_dkim_signature_limit"
	// mxrelay_spf_trusted_forwarders lists the client addresses and
	// networks (CIDR) not SPF checked: our own backup MX hosts. Default
	// empty.
	paramTrustedForwarders = "mxrelay_spf_trusted_forwarders"
	// mxrelay_dmarc_reject_action and mxrelay_dmarc_quarantine_action
	// say what a DMARC failure under p=reject and p=quarantine does:
	// reject (550 5.7.1), hold (the hold queue) or annotate (the header
	// only). Defaults reject and annotate.
	paramDMARCReject     = "mxrelay_dmarc_reject_action"
	paramDMARCQuarantine = "mxrelay_dmarc_quarantine_action"
)

// msgauthConfig reads message authentication's parameters. All are read
// whether or not it is enabled, so that a typo is an error either way.
// hostname is $myhostname, the default authserv-id; decide is
// LoadOptions.AuthDecide. It returns a nil Checker when
// mxrelay_message_authentication is no.
func msgauthConfig(r *reader, dns msgauth.DNS, hostname string, decide func(context.Context, *msgauth.Results) msgauth.Action) (*msgauth.Checker, error) {
	c := msgauth.Config{DNS: dns, AuthservID: r.str(paramAuthservID), Decide: decide}
	if c.AuthservID == "" {
		c.AuthservID = hostname
	}
	if v := r.str(paramDKIMLimit); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, &maincf.ValueError{Param: paramDKIMLimit, Value: v, Reason: "must be a number, at least 1"}
		}
		c.MaxSignatures = n
	}
	for _, s := range r.list(paramTrustedForwarders) {
		// As in mynetworks: "192.0.2.1", "192.0.2.0/24", "[2001:db8::]/32".
		bare := strings.ReplaceAll(strings.ReplaceAll(s, "[", ""), "]", "")
		p, err := netip.ParsePrefix(bare)
		if err != nil {
			a, aerr := netip.ParseAddr(bare)
			if aerr != nil {
				return nil, &maincf.ValueError{Param: paramTrustedForwarders, Value: s, Reason: "not an address or network"}
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		c.TrustedForwarders = append(c.TrustedForwarders, p.Masked())
	}
	for _, a := range []struct {
		param string
		to    *msgauth.Action
	}{{paramDMARCReject, &c.OnReject}, {paramDMARCQuarantine, &c.OnQuarantine}} {
		if v := r.str(a.param); v != "" {
			act, err := msgauth.ParseAction(v)
			if err != nil {
				return nil, &maincf.ValueError{Param: a.param, Value: v, Reason: "must be reject, hold or annotate"}
			}
			*a.to = act
		}
	}
	on, err := maincf.ParseBool(r.str(paramMsgAuth))
	if r.str(paramMsgAuth) == "" {
		on, err = false, nil
	}
	if err != nil {
		return nil, &maincf.ValueError{Param: paramMsgAuth, Value: r.str(paramMsgAuth), Reason: "bad boolean configuration (yes or no)"}
	}
	if !on {
		return nil, nil
	}
	return msgauth.New(c)
}
