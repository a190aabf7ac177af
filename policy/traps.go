package policy

import (
	"context"
	"fmt"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
)

// Warning is a configuration trap found by New: the configuration works,
// but probably not as intended. Postfix accepts most of them silently.
type Warning struct {
	Param string // the parameter concerned
	Msg   string // what is wrong and what Postfix would do
}

// String formats the warning as "param: message".
func (w Warning) String() string { return w.Param + ": " + w.Msg }

// Warnings returns the configuration traps New found.
func (p *Policy) Warnings() []Warning { return p.warnings }

func (p *Policy) warn(param, msg string) {
	p.warnings = append(p.warnings, Warning{Param: param, Msg: msg})
}

// checkTraps reports as warnings the traps listed under "Deliberate
// differences" in the package documentation.
func (p *Policy) checkTraps(ctx context.Context) {
	c := &p.cfg
	relayToks, _ := tokenize(c.RelayDomains) // New has parsed it: no error
	// At compatibility_level < 2 Postfix's own default is relay_domains =
	// $mydestination: every local domain is then in both lists, and
	// harmlessly so (mail to them is delivered locally either way).
	sameAsLocal := strings.Join(lookup.SplitList(c.RelayDomains), " ") == strings.Join(lookup.SplitList(c.MyDestination), " ")
	for _, tok := range relayToks {
		if strings.HasPrefix(tok, "#") {
			break
		}
		if strings.Contains(tok, ":") || strings.HasPrefix(tok, "/") || strings.HasPrefix(tok, "!") {
			continue
		}
		name := strings.TrimSuffix(lookup.FoldKey(tok), ".")
		if strings.HasSuffix(tok, ".") {
			p.warn("relay_domains", fmt.Sprintf("%q ends in a dot: Postfix 3.7 matches no domain with it, policy matches %q; "+
				"write it without the dot", tok, name))
		}
		if strings.HasPrefix(name, ".") && p.isParent("relay_domains") {
			p.warn("relay_domains", fmt.Sprintf("%q matches nothing: relay_domains is in parent_domain_matches_subdomains, "+
				"so %q already covers its subdomains", tok, strings.TrimPrefix(name, ".")))
			continue
		}
		for _, o := range []struct {
			param string
			l     *lookup.List
		}{{"mydestination", p.domains.MyDestination}, {"virtual_alias_domains", p.domains.VirtualAliasDomains},
			{"virtual_mailbox_domains", p.domains.VirtualMailboxDomains}} {
			if sameAsLocal && o.param == "mydestination" {
				continue
			}
			if m, err := o.l.MatchDomain(ctx, name); err == nil && m {
				p.warn("relay_domains", fmt.Sprintf("do not list domain %s in BOTH %s and relay_domains: %s wins and the domain is never relayed",
					name, o.param, o.param))
			}
		}
	}
	if strings.TrimSpace(c.RelayDomains) != "" && len(p.relayRcpt.all) == 0 {
		p.warn("relay_recipient_maps", "empty: every localpart of a relay domain is accepted, and mail to unknown users "+
			"will bounce to forged senders (backscatter); list the valid recipients")
	}
	for _, t := range p.relayRcpt.all {
		for _, e := range tableEntries(t) {
			if !strings.Contains(e.Key, "@") {
				p.warn("relay_recipient_maps", fmt.Sprintf("%s: key %q has no '@' and never matches (relay_recipient_maps looks up addresses and @domain, never a bare domain); write \"@%s\" for a whole domain",
					lookup.Name(t), e.Key, e.Key))
			}
		}
	}
	if c.AllowUntrustedRouting {
		p.warn("allow_untrusted_routing", "yes: source-routed recipients (user%host@, host!user@, \"a@b\"@) of your domains "+
			"are authorised destinations and can be used to relay elsewhere")
	}
	if len(p.relayRcpt.all) > 0 && !p.rejectUnlisted && !p.listsHave("reject_unlisted_recipient") {
		p.warn("smtpd_reject_unlisted_recipient", "no, and no reject_unlisted_recipient in the restriction lists: "+
			"relay_recipient_maps is never consulted and unknown recipients are accepted (backscatter)")
	}
	for i := listRelay; i <= listRecipient; i++ {
		if i == listRecipient && p.unauthIn(listRelay) {
			// smtpd_relay_restrictions refuses unauthorised destinations
			// before this list can permit them.
			break
		}
		before := true
		for _, s := range p.lists[i] {
			switch s.name {
			case "reject_unauth_destination", "defer_unauth_destination":
				before = false
			case "check_policy_service", "permit", "check_recipient_access", "check_client_access", "check_sender_access", "check_helo_access":
				if before && p.unauthIn(i) {
					p.warn(listParams[i], fmt.Sprintf("%s before reject_unauth_destination: what it permits is relayed to any destination (open relay risk)", s.name))
				}
			}
		}
	}
}

// listsHave reports whether a restriction list or class names name.
func (p *Policy) listsHave(name string) bool {
	for _, l := range p.lists {
		for _, s := range l {
			if s.name == name {
				return true
			}
		}
	}
	for _, l := range p.classes {
		for _, s := range l {
			if s.name == name {
				return true
			}
		}
	}
	return false
}

// unauthIn reports whether list i holds the unauth destination check.
func (p *Policy) unauthIn(i int) bool {
	for _, s := range p.lists[i] {
		if s.name == "reject_unauth_destination" || s.name == "defer_unauth_destination" {
			return true
		}
	}
	return false
}

// tableEntries lists a table's entries when it is held in memory anyway
// (hash:, texthash:, Go maps); cdb: tables are not read whole.
func tableEntries(t lookup.Table) []lookup.Entry {
	switch t := t.(type) {
	case lookup.CDBTable:
		return nil
	case interface{ All() []lookup.Entry }:
		return t.All()
	case interface {
		All() ([]lookup.Entry, error)
	}:
		es, _ := t.All()
		return es
	}
	return nil
}
