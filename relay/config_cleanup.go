package relay

import (
	"context"
	"fmt"
	"log/slog"
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
		RecursionLimit:     r.positive("virtual_alias_recursion_limit"),
		ExpansionLimit:     r.positive("virtual_alias_expansion_limit"),
		AddressLengthLimit: r.positive("virtual_alias_address_length_limit"),
		PropagateVirtual:   slices.Contains(r.list("propagate_unmatched_extensions"), "virtual"),
		PropagateCanonical: slices.Contains(r.list("propagate_unmatched_extensions"), "canonical"),
		MyOrigin:           pc.MyOrigin,
		Keys:               lookup.KeyOptions{Delimiters: pc.RecipientDelimiter, SplitOwnerRequest: pc.OwnerRequestSpecial == policy.No},
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
	} {
		for _, spec := range lookup.SplitList(p.value) {
			t, err := open(spec)
			if err != nil {
				return c, fmt.Errorf("relay: %s: %w", p.param, err)
			}
			*p.dst = append(*p.dst, t)
		}
	}
	for _, p := range []struct {
		param string
		dst   *cleanup.Classes
	}{{"canonical_classes", &c.CanonicalClasses}, {"sender_canonical_classes", &c.SenderCanonicalClasses}, {"recipient_canonical_classes", &c.RecipientCanonicalClasses}} {
		cls, err := cleanup.ParseClasses(r.str(p.param))
		if err != nil {
			return c, &maincf.ValueError{Param: p.param, Value: r.str(p.param), Reason: err.Error()}
		}
		*p.dst = cls
	}
	return c, nil
}

// newCleanup builds the cleanup stage of a main.cf.
func newCleanup(r *reader, pc *policy.Config, domains *lookup.Domains, open func(string) (lookup.Table, error), log *slog.Logger) (*cleanup.Cleanup, error) {
	c, err := cleanupConfig(r, pc, domains, open)
	if err != nil {
		return nil, err
	}
	c.Logger = log
	cl, err := cleanup.New(c)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	return cl, nil
}
