package relay

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/relay/cleanup"
	"github.com/mxrelay/mxrelay/relay/maincf"
)

// cleanupConfig builds the cleanup stage's configuration: the limits,
// sender_canonical_maps, the canonical classes and
// propagate_unmatched_extensions from main.cf, and what the policy
// configuration already read (virtual_alias_maps, canonical_maps,
// recipient_canonical_maps, recipient_delimiter, owner_request_special,
// $myorigin), so that no parameter is read twice.
// The tables are opened with open. The local domains (bare localpart
// keys, as mail_addr_find.c) are $myorigin and the domains of
// mydestination and this host's [address] literals.
func cleanupConfig(r *reader, pc *policy.Config, domains *lookup.Domains, open func(string) (lookup.Table, error)) (cleanup.Config, error) {
	c := cleanup.Config{
		HeaderSizeLimit:             r.positive("header_size_limit"),
		BodyChecksSizeLimit:         r.positive("body_checks_size_limit"),
		AlwaysBcc:                   r.str("always_bcc"),
		NoMIME:                      r.bool("disable_mime_input_processing"),
		DropHeaders:                 lookup.SplitList(r.str("message_drop_headers")),
		AlwaysAddMissingHeaders:     r.bool("always_add_missing_headers"),
		UndisclosedRecipientsHeader: r.str("undisclosed_recipients_header"),
		MyHostname:                  r.str("myhostname"),
		RecursionLimit:              r.positive("virtual_alias_recursion_limit"),
		ExpansionLimit:              r.positive("virtual_alias_expansion_limit"),
		AddressLengthLimit:          r.positive("virtual_alias_address_length_limit"),
		PropagateVirtual:            slices.Contains(r.list("propagate_unmatched_extensions"), "virtual"),
		PropagateCanonical:          slices.Contains(r.list("propagate_unmatched_extensions"), "canonical"),
		MyOrigin:                    pc.MyOrigin,
		SwapBangpath:                pc.SwapBangpath != policy.No,
		PercentHack:                 pc.AllowPercentHack != policy.No,
		Keys:                        lookup.KeyOptions{Delimiters: pc.RecipientDelimiter, SplitOwnerRequest: pc.OwnerRequestSpecial == policy.No},
	}
	c.LocalDomain = func(ctx context.Context, domain string) (bool, error) {
		if strings.EqualFold(strings.TrimSuffix(domain, "."), pc.MyOrigin) {
			return true, nil
		}
		class, err := domains.Class(ctx, domain)
		return class == lookup.ClassLocal, err
	}
	for _, p := range []struct {
		param, value string
		dst          *[]lookup.Table
	}{
		{"virtual_alias_maps", pc.VirtualAliasMaps, &c.VirtualAlias},
		{"canonical_maps", pc.CanonicalMaps, &c.Canonical},
		{"recipient_canonical_maps", pc.RecipientCanonicalMaps, &c.RecipientCanonical},
		{"sender_canonical_maps", r.tables("sender_canonical_maps"), &c.SenderCanonical},
		{"sender_bcc_maps", r.tables("sender_bcc_maps"), &c.SenderBcc},
		{"recipient_bcc_maps", r.tables("recipient_bcc_maps"), &c.RecipientBcc},
		{"header_checks", r.tables("header_checks"), &c.HeaderChecks},
		{"body_checks", r.tables("body_checks"), &c.BodyChecks},
		{"mime_header_checks", r.tables("mime_header_checks"), &c.MIMEHeaderChecks},
		{"nested_header_checks", r.tables("nested_header_checks"), &c.NestedHeaderChecks},
		{"smtp_header_checks", r.tables("smtp_header_checks"), &c.SMTPChecks.HeaderChecks},
		{"smtp_mime_header_checks", r.tables("smtp_mime_header_checks"), &c.SMTPChecks.MIMEHeaderChecks},
		{"smtp_nested_header_checks", r.tables("smtp_nested_header_checks"), &c.SMTPChecks.NestedHeaderChecks},
		{"smtp_body_checks", r.tables("smtp_body_checks"), &c.SMTPChecks.BodyChecks},
		{"lmtp_header_checks", r.tables("lmtp_header_checks"), &c.LMTPChecks.HeaderChecks},
		{"lmtp_mime_header_checks", r.tables("lmtp_mime_header_checks"), &c.LMTPChecks.MIMEHeaderChecks},
		{"lmtp_nested_header_checks", r.tables("lmtp_nested_header_checks"), &c.LMTPChecks.NestedHeaderChecks},
		{"lmtp_body_checks", r.tables("lmtp_body_checks"), &c.LMTPChecks.BodyChecks},
	} {
		for _, spec := range lookup.SplitList(p.value) {
			t, err := open(spec)
			if err != nil {
				return c, fmt.Errorf("relay: %s: %w", p.param, err)
			}
			*p.dst = append(*p.dst, t)
		}
	}
	for _, d := range lookup.SplitList(r.str("masquerade_domains")) {
		c.MasqueradeDomains = append(c.MasqueradeDomains, strings.ToLower(d))
	}
	for _, e := range lookup.SplitList(r.str("masquerade_exceptions")) {
		if strings.Contains(e, ":") || strings.HasPrefix(e, "/") || strings.HasPrefix(e, "!") {
			return c, &maincf.ValueError{Param: "masquerade_exceptions", Value: r.str("masquerade_exceptions"),
				Reason: e + ": only user names are implemented, not tables, files or exclusions"}
		}
		c.MasqueradeExceptions = append(c.MasqueradeExceptions, e)
	}
	for _, p := range []struct {
		param string
		dst   *cleanup.Classes
	}{{"canonical_classes", &c.CanonicalClasses}, {"sender_canonical_classes", &c.SenderCanonicalClasses}, {"recipient_canonical_classes", &c.RecipientCanonicalClasses}, {"masquerade_classes", &c.MasqueradeClasses}} {
		cls, err := cleanup.ParseClasses(r.str(p.param))
		if err != nil {
			return c, &maincf.ValueError{Param: p.param, Value: r.str(p.param), Reason: err.Error()}
		}
		*p.dst = cls
	}
	return c, nil
}

// newCleanup builds the cleanup stage of a main.cf, less what
// receive_override_options turns off; mine are this host's addresses
// (permit_inet_interfaces).
func newCleanup(ctx context.Context, r *reader, pc *policy.Config, ro receiveOverrides, domains *lookup.Domains, mine []netip.Addr, openOpts *lookup.OpenOptions, open func(string) (lookup.Table, error), log *slog.Logger) (*cleanup.Cleanup, error) {
	c, err := cleanupConfig(r, pc, domains, open)
	if err != nil {
		return nil, err
	}
	ro.apply(&c)
	if c.LocalClient, err = localHeaderClients(ctx, r.str("local_header_rewrite_clients"), pc, mine, openOpts); err != nil {
		return nil, err
	}
	c.Logger = log
	cl, err := cleanup.New(c)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	return cl, nil
}

// localHeaderClients reads local_header_rewrite_clients: the clients
// whose headers Postfix rewrites in the "local" context.
// permit_inet_interfaces (this host's addresses), permit_mynetworks
// (mynetworks, as policy reads it) and static:all are honoured;
// permit_sasl_authenticated matches no client (there is no SMTP AUTH);
// anything else is refused by name.
func localHeaderClients(ctx context.Context, value string, pc *policy.Config, mine []netip.Addr, openOpts *lookup.OpenOptions) (func(context.Context, netip.Addr) bool, error) {
	var tests []func(context.Context, netip.Addr) bool
	for _, tok := range lookup.SplitList(value) {
		switch strings.ToLower(tok) {
		case "permit_inet_interfaces":
			tests = append(tests, func(_ context.Context, a netip.Addr) bool { return slices.Contains(mine, a.Unmap()) })
		case "permit_mynetworks":
			nets, _, err := lookup.ParseList(ctx, pc.MyNetworks, lookup.ListOptions{Name: "mynetworks", Open: openOpts})
			if err != nil {
				return nil, fmt.Errorf("relay: local_header_rewrite_clients: mynetworks: %w", err)
			}
			tests = append(tests, func(ctx context.Context, a netip.Addr) bool {
				ok, err := nets.MatchClient(ctx, a, "")
				return ok && err == nil
			})
		case "static:all":
			tests = append(tests, func(context.Context, netip.Addr) bool { return true })
		case "permit_sasl_authenticated":
		default:
			return nil, &maincf.ValueError{Param: "local_header_rewrite_clients", Value: value,
				Reason: tok + " is not implemented (permit_inet_interfaces, permit_mynetworks, permit_sasl_authenticated and static:all are)"}
		}
	}
	if len(tests) == 0 {
		return nil, nil
	}
	return func(ctx context.Context, a netip.Addr) bool {
		for _, t := range tests {
			if t(ctx, a) {
				return true
			}
		}
		return false
	}, nil
}
