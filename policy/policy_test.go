package policy

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/mxrelay/mxrelay/lookup"
)

// backupMX is a small backup MX configuration for the tests below.
func backupMX() Config {
	return Config{
		MyHostname:         "mx.example.net",
		MyDestination:      "mx.example.net, localhost",
		InetInterfaces:     "loopback-only",
		MyNetworks:         "192.0.2.0/24",
		RelayDomains:       "backup.example",
		RelayRecipientMaps: "inline:{ user1@backup.example=x, @open.backup.example=x }",
		RecipientDelimiter: "+",
	}
}

func mustNew(t *testing.T, c Config) *Policy {
	t.Helper()
	p, err := New(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func rcptFrom(p *Policy, client, sender, rcpt string) Decision {
	return p.Check(context.Background(), &Request{Stage: StageRcpt, ClientAddr: netip.MustParseAddr(client),
		Helo: "client.example", Sender: sender, Recipient: rcpt})
}

func rcpt(p *Policy, client, rcpt string) Decision {
	return rcptFrom(p, client, "<sender@sender.example>", rcpt)
}

func wantReply(t *testing.T, d Decision, want string) {
	t.Helper()
	if d.Reply() != want {
		t.Errorf("got  %q (reason %v, err %v)\nwant %q", d.Reply(), d.Reason, d.Err, want)
	}
}

func TestBackupMXBasics(t *testing.T) {
	p := mustNew(t, backupMX())
	wantReply(t, rcpt(p, "203.0.113.1", "<user1+tag@backup.example>"), "250 2.1.5 Ok")
	wantReply(t, rcpt(p, "203.0.113.1", "<nosuch@backup.example>"),
		"550 5.1.1 <nosuch@backup.example>: Recipient address rejected: User unknown in relay recipient table")
	wantReply(t, rcpt(p, "203.0.113.1", "<u@stranger.example>"), "454 4.7.1 <u@stranger.example>: Relay access denied")
	wantReply(t, rcpt(p, "192.0.2.7", "<u@stranger.example>"), "250 2.1.5 Ok")
	// Trusted clients are still held to the recipient list: the implicit
	// reject_unlisted_recipient runs after a permit_mynetworks.
	wantReply(t, rcpt(p, "192.0.2.7", "<nosuch@backup.example>"),
		"550 5.1.1 <nosuch@backup.example>: Recipient address rejected: User unknown in relay recipient table")
	// A source-routed localpart is not an authorised destination
	// (allow_untrusted_routing = no).
	wantReply(t, rcpt(p, "203.0.113.1", "<u%x.example@backup.example>"), "454 4.7.1 <u%x.example@backup.example>: Relay access denied")
	wantReply(t, rcpt(p, "203.0.113.1", "<u@backup.example"), "501 5.1.3 Bad recipient address syntax")
	d := rcpt(p, "203.0.113.1", "<user1@backup.example>")
	if d.Verdict != Permit || d.Reason.Table != "relay_recipient_maps" || d.Reason.Key != "user1@backup.example" {
		t.Errorf("reason for an accepted recipient: %+v", d)
	}
	d = rcpt(p, "203.0.113.1", "<u@stranger.example>")
	if d.Verdict != Defer || d.Reason.Restriction != "defer_unauth_destination" {
		t.Errorf("relay denial: %+v", d)
	}
}

func TestStartupGuard(t *testing.T) {
	c := backupMX()
	c.SMTPDRelayRestrictions = "dunno"
	c.SMTPDRecipientRestrictions = "permit_mynetworks, permit"
	_, err := New(context.Background(), c)
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "reject_unauth_destination") || !strings.Contains(err.Error(), "open relay") {
		t.Fatalf("open relay configuration accepted: %v", err)
	}
	// A class holding reject_unauth_destination satisfies the guard, as in Postfix.
	c.SMTPDRestrictionClasses = map[string]string{"relaycheck": "reject_unauth_destination"}
	c.SMTPDRecipientRestrictions = "permit_mynetworks, relaycheck"
	p := mustNew(t, c)
	wantReply(t, rcpt(p, "203.0.113.1", "<u@stranger.example>"), "554 5.7.1 <u@stranger.example>: Relay access denied")
	wantReply(t, rcpt(p, "192.0.2.1", "<u@stranger.example>"), "250 2.1.5 Ok")
}

func TestConfigErrors(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"unknown restriction":  func(c *Config) { c.SMTPDRecipientRestrictions = "reject_everything_bad" },
		"missing argument":     func(c *Config) { c.SMTPDRecipientRestrictions = "check_recipient_access" },
		"missing table":        func(c *Config) { c.SMTPDRecipientRestrictions = "check_recipient_access hash:/nonexistent/x" },
		"unimplemented":        func(c *Config) { c.SMTPDRecipientRestrictions = "reject_unverified_recipient" },
		"not a Postfix name":   func(c *Config) { c.SMTPDClientRestrictions = "check_client_hostname_access inline:{a=b}" },
		"MX check without DNS": func(c *Config) { c.SMTPDRecipientRestrictions = "check_recipient_mx_access inline:{a=b}" },
		"resolver needed":      func(c *Config) { c.SMTPDRecipientRestrictions = "reject_unknown_recipient_domain" },
		"bad relay map":        func(c *Config) { c.RelayRecipientMaps = "nosuchtype:/x" },
		"bad interface":        func(c *Config) { c.InetInterfaces = "mx.example.net" },
		"bad policy service":   func(c *Config) { c.SMTPDRecipientRestrictions = "check_policy_service nowhere" },
		"class named like one": func(c *Config) { c.SMTPDRestrictionClasses = map[string]string{"permit": "reject"} },
	} {
		c := backupMX()
		mod(&c)
		if _, err := New(context.Background(), c); err == nil {
			t.Errorf("%s: New accepted the configuration", name)
		}
	}
}

// ruleID matches a private rule number (a capital letter and one or two
// digits): warnings name Postfix parameters and man pages instead, which
// a reader can look up.
var ruleID = regexp.MustCompile(`\b[A-Z][0-9]{1,2}\b`)

func noRuleIDs(t *testing.T, warnings string) {
	t.Helper()
	if id := ruleID.FindString(warnings); id != "" {
		t.Errorf("warning cites %q, which no reader can look up:\n%s", id, warnings)
	}
}

func TestWarnings(t *testing.T) {
	c := backupMX()
	c.RelayDomains = "backup.example, mx.example.net, .dot.example, trailing.example."
	c.RelayRecipientMaps = "inline:{ user1@backup.example=x, backup.example=x }"
	c.SMTPDRelayRestrictions = "dunno"
	c.SMTPDRecipientRestrictions = "check_policy_service inet:127.0.0.1:9, reject_unauth_destination"
	p := mustNew(t, c)
	var all []string
	for _, w := range p.Warnings() {
		all = append(all, w.String())
	}
	text := strings.Join(all, "\n")
	for _, want := range []string{
		"relay_domains: do not list domain mx.example.net in BOTH mydestination and relay_domains: " +
			"mydestination wins and the domain is never relayed\n",
		`relay_domains: ".dot.example" matches nothing: relay_domains is in parent_domain_matches_subdomains, ` +
			`so "dot.example" already covers its subdomains` + "\n",
		`"trailing.example." ends in a dot`,
		`key "backup.example" has no '@' and never matches (relay_recipient_maps looks up addresses and @domain, ` +
			`never a bare domain); write "@backup.example" for a whole domain` + "\n",
		"check_policy_service before reject_unauth_destination",
	} {
		if !strings.Contains(text+"\n", want) {
			t.Errorf("no warning containing %q in:\n%s", want, text)
		}
	}
	noRuleIDs(t, text)
	// smtpd_relay_restrictions refuses unauthorised destinations before
	// the recipient list runs: what the recipient list permits is not
	// relayed anywhere, and there is nothing to warn about (issue 9).
	c = backupMX()
	c.SMTPDRelayRestrictions = DefaultRelayRestrictions
	c.SMTPDRecipientRestrictions = "check_policy_service inet:127.0.0.1:9, reject_unauth_destination"
	for _, w := range mustNew(t, c).Warnings() {
		if strings.Contains(w.Msg, "open relay") {
			t.Errorf("open relay warning with %s: %s", DefaultRelayRestrictions, w)
		}
	}
	// At compatibility_level < 2, relay_domains defaults to $mydestination:
	// every local domain is in both lists, as Postfix wants, and no
	// warning is due.
	c = backupMX()
	c.MyDestination = "mx.example.net, localhost"
	c.RelayDomains = "mx.example.net, localhost"
	for _, w := range mustNew(t, c).Warnings() {
		if strings.Contains(w.Msg, "BOTH") {
			t.Errorf("relay_domains = $mydestination warned: %s", w)
		}
	}
	c = backupMX()
	c.RelayRecipientMaps = ""
	p = mustNew(t, c)
	if len(p.Warnings()) != 1 || !strings.Contains(p.Warnings()[0].Msg, "backscatter") {
		t.Errorf("empty relay_recipient_maps: warnings %v", p.Warnings())
	}
	c = backupMX()
	c.AllowUntrustedRouting = true
	c.SMTPDRejectUnlistedRecipient = No
	text = ""
	for _, w := range mustNew(t, c).Warnings() {
		text += w.String() + "\n"
	}
	if !strings.Contains(text, "allow_untrusted_routing: yes: source-routed recipients (user%host@, host!user@, \"a@b\"@) of your domains "+
		"are authorised destinations and can be used to relay elsewhere\n") || !strings.Contains(text, "relay_recipient_maps is never consulted") {
		t.Errorf("warnings: %s", text)
	}
	noRuleIDs(t, text)
	c.SMTPDRecipientRestrictions = "reject_unlisted_recipient"
	c.AllowUntrustedRouting = false
	if w := mustNew(t, c).Warnings(); len(w) != 0 {
		t.Errorf("explicit reject_unlisted_recipient: %v", w)
	}
	c = backupMX()
	c.RelayDomains = "backup.example, inline:{ a.example=x, b.example=x }"
	c.RelayRecipientMaps = "inline:{ @b.example=x }"
	if w := mustNew(t, c).Warnings(); len(w) != 0 {
		t.Errorf("inline: table in relay_domains: %v", w)
	}
	if d := rcpt(mustNew(t, c), "203.0.113.1", "<u@b.example>"); d.Code != 250 {
		t.Errorf("inline: relay domain: %v", d)
	}
	if w := mustNew(t, backupMX()).Warnings(); len(w) != 0 {
		t.Errorf("clean configuration warned: %v", w)
	}
}

func TestAccessActions(t *testing.T) {
	c := backupMX()
	c.RelayRecipientMaps = ""
	c.SMTPDRecipientRestrictions = "check_recipient_access inline:{ " +
		"{dir@backup.example=DEFER_IF_REJECT later please}, {dip@backup.example=DEFER_IF_PERMIT wait}, " +
		"{hold@backup.example=HOLD for review}, {discard@backup.example=DISCARD}, " +
		"{prepend@backup.example=PREPEND X-Seen: yes}, {redirect@backup.example=REDIRECT other@backup.example}, " +
		"{bye@backup.example=421 4.7.0 closing}, {warn@backup.example=WARN look at this}, " +
		"{temp@backup.example=450 4.2.2 mailbox full}, {plain@backup.example=REJECT 5.7.9 with status} }" +
		", reject_unauth_destination"
	p := mustNew(t, c)
	// defer_if_reject turns the later 5xx relay denial into its 4xx.
	wantReply(t, rcpt(p, "203.0.113.1", "<dir@backup.example>"), "250 2.1.5 Ok")
	c2 := c
	c2.SMTPDRecipientRestrictions = "check_recipient_access inline:{ {dir@stranger.example=DEFER_IF_REJECT later please} }, reject_unauth_destination"
	c2.SMTPDRelayRestrictions = "dunno"
	p2 := mustNew(t, c2)
	wantReply(t, rcpt(p2, "203.0.113.1", "<dir@stranger.example>"), "450 4.7.1 <dir@stranger.example>: Recipient address rejected: later please")
	wantReply(t, rcpt(p, "203.0.113.1", "<dip@backup.example>"), "450 4.7.1 <dip@backup.example>: Recipient address rejected: wait")
	wantReply(t, rcpt(p, "203.0.113.1", "<temp@backup.example>"), "450 4.2.2 <temp@backup.example>: Recipient address rejected: mailbox full")
	wantReply(t, rcpt(p, "203.0.113.1", "<plain@backup.example>"), "554 5.7.9 <plain@backup.example>: Recipient address rejected: with status")

	d := rcpt(p, "203.0.113.1", "<hold@backup.example>")
	if d.Verdict != Permit || !d.Hold || len(d.Actions) != 1 || d.Actions[0].Kind != ActionHold || d.Actions[0].Value != "for review" {
		t.Errorf("HOLD: %+v", d)
	}
	d = rcpt(p, "203.0.113.1", "<discard@backup.example>")
	if d.Verdict != Permit || !d.Discard {
		t.Errorf("DISCARD: %+v", d)
	}
	// After DISCARD Postfix accepts every recipient of the transaction.
	d = p.Check(context.Background(), &Request{Stage: StageRcpt, ClientAddr: netip.MustParseAddr("203.0.113.1"),
		Sender: "<>", Recipient: "<u@stranger.example>", Discard: true})
	if d.Verdict != Permit || !d.Discard {
		t.Errorf("recipient after DISCARD: %+v", d)
	}
	d = rcpt(p, "203.0.113.1", "<prepend@backup.example>")
	if d.Verdict != Permit || len(d.Actions) != 1 || d.Actions[0].Kind != ActionPrepend || d.Actions[0].Value != "X-Seen: yes" {
		t.Errorf("PREPEND: %+v", d)
	}
	d = rcpt(p, "203.0.113.1", "<redirect@backup.example>")
	if len(d.Actions) != 1 || d.Actions[0].Kind != ActionRedirect || d.Actions[0].Value != "other@backup.example" {
		t.Errorf("REDIRECT: %+v", d)
	}
	d = rcpt(p, "203.0.113.1", "<warn@backup.example>")
	if d.Verdict != Permit || len(d.Actions) != 1 || d.Actions[0].Kind != ActionWarn {
		t.Errorf("WARN: %+v", d)
	}
	d = rcpt(p, "203.0.113.1", "<bye@backup.example>")
	if d.Code != 421 || !d.EndSession || d.Verdict != Defer {
		t.Errorf("421: %+v", d)
	}
}

func TestWarnIfRejectAndSoftBounce(t *testing.T) {
	c := backupMX()
	c.SMTPDRecipientRestrictions = "warn_if_reject reject_non_fqdn_recipient, warn_if_reject reject_unlisted_recipient"
	p := mustNew(t, c)
	d := rcpt(p, "192.0.2.1", "<nosuch@backup.example>")
	// The warned check does not count: the implicit
	// reject_unlisted_recipient still rejects.
	wantReply(t, d, "550 5.1.1 <nosuch@backup.example>: Recipient address rejected: User unknown in relay recipient table")
	if len(d.Actions) != 1 || d.Actions[0].Kind != ActionWarn || !strings.HasPrefix(d.Actions[0].Value, "550 5.1.1") {
		t.Errorf("warn_if_reject left no warning: %+v", d.Actions)
	}
	d = rcpt(p, "192.0.2.1", "<u@nodot>")
	wantReply(t, d, "250 2.1.5 Ok")
	if len(d.Actions) != 1 || d.Actions[0].Value != "504 5.5.2 <u@nodot>: Recipient address rejected: need fully-qualified address" {
		t.Errorf("warn_if_reject reject_non_fqdn_recipient: %+v", d.Actions)
	}
	c = backupMX()
	c.SoftBounce = true
	p = mustNew(t, c)
	wantReply(t, rcpt(p, "192.0.2.1", "<nosuch@backup.example>"),
		"450 4.1.1 <nosuch@backup.example>: Recipient address rejected: User unknown in relay recipient table")
}

// failing is a table that always fails with the given kind.
func failing(kind lookup.ErrorKind) lookup.Table {
	return lookup.TableFunc(func(ctx context.Context, key string) (string, bool, error) {
		return "", false, &lookup.Error{Table: "test:failing", Key: key, Kind: kind, Err: errors.New("server down")}
	})
}

func TestLookupFailures(t *testing.T) {
	c := backupMX()
	c.Tables = map[string]lookup.Table{"test:temp": failing(lookup.Temporary), "test:conf": failing(lookup.Config)}
	c.RelayRecipientMaps = "test:temp"
	p := mustNew(t, c)
	d := rcpt(p, "203.0.113.1", "<user1@backup.example>")
	wantReply(t, d, "451 4.3.0 <user1@backup.example>: Temporary lookup failure")
	if d.Err == nil || lookup.KindOf(d.Err) != lookup.Temporary {
		t.Errorf("Err = %v", d.Err)
	}
	c.RelayRecipientMaps = "test:conf"
	p = mustNew(t, c)
	wantReply(t, rcpt(p, "203.0.113.1", "<user1@backup.example>"), "451 4.3.5 Server configuration error")
	c = backupMX()
	c.Tables = map[string]lookup.Table{"test:temp": failing(lookup.Temporary)}
	c.RelayDomains = "test:temp"
	p = mustNew(t, c)
	wantReply(t, rcpt(p, "203.0.113.1", "<u@backup.example>"), "451 4.3.0 <u@backup.example>: Temporary lookup failure")
	c = backupMX()
	c.Tables = map[string]lookup.Table{"test:temp": failing(lookup.Temporary)}
	c.SMTPDRecipientRestrictions = "check_client_access test:temp"
	p = mustNew(t, c)
	wantReply(t, rcpt(p, "203.0.113.1", "<user1@backup.example>"), "451 4.3.5 <unknown[203.0.113.1]>: Client host rejected: Server configuration error")
}

func TestRecipientsHookAndRoutes(t *testing.T) {
	c := backupMX()
	c.MyDestination = "mx.example.net, local.example"
	c.Recipients = RecipientsFunc(func(ctx context.Context, class lookup.Class, rcpt string) (bool, error) {
		if rcpt == "broken@local.example" {
			return false, errors.New("user database down")
		}
		return class == lookup.ClassLocal && rcpt == "alice@local.example", nil
	})
	c.Routes = RoutesFunc(func(ctx context.Context, rcpt string) (string, string, error) {
		switch rcpt {
		case "user1@backup.example":
			return "error", "5.2.1 mailbox disabled", nil
		case "alice@local.example":
			return "retry", "", nil
		}
		return "relay", "backup.example", nil
	})
	c.RelayRecipientMaps = "inline:{ user1@backup.example=x, user2@backup.example=x }"
	p := mustNew(t, c)
	wantReply(t, rcpt(p, "203.0.113.1", "<bob@local.example>"),
		"550 5.1.1 <bob@local.example>: Recipient address rejected: User unknown in local recipient table")
	wantReply(t, rcpt(p, "203.0.113.1", "<broken@local.example>"), "451 4.3.0 <broken@local.example>: Temporary lookup failure")
	wantReply(t, rcpt(p, "203.0.113.1", "<alice@local.example>"),
		"450 4.1.1 <alice@local.example>: Recipient address rejected: Address is undeliverable")
	wantReply(t, rcpt(p, "203.0.113.1", "<user1@backup.example>"), "550 5.2.1 <user1@backup.example>: Recipient address rejected: mailbox disabled")
	wantReply(t, rcpt(p, "203.0.113.1", "<user2@backup.example>"), "250 2.1.5 Ok")
}

func TestOtherRestrictions(t *testing.T) {
	c := backupMX()
	c.RelayRecipientMaps = ""
	c.RelayDomains = "backup.example, nomx.example, nullmx.example, tempfail.example"
	c.Resolver = ResolverFunc(func(ctx context.Context, d string) (DomainStatus, error) {
		switch d {
		case "nomx.example":
			return DomainNotFound, nil
		case "nullmx.example":
			return DomainNullMX, nil
		case "tempfail.example":
			return 0, errors.New("SERVFAIL")
		}
		return DomainFound, nil
	})
	c.SMTPDRecipientRestrictions = "reject_non_fqdn_sender, reject_unknown_recipient_domain, permit_sasl_authenticated, " +
		"check_helo_access inline:{ {bad.helo.example=REJECT go away} }, check_sender_access inline:{ {spam.example=REJECT} }"
	p := mustNew(t, c)
	wantReply(t, rcpt(p, "203.0.113.1", "<u@nomx.example>"), "450 4.1.2 <u@nomx.example>: Recipient address rejected: Domain not found")
	wantReply(t, rcpt(p, "203.0.113.1", "<u@nullmx.example>"),
		"556 5.1.10 <u@nullmx.example>: Recipient address rejected: Domain nullmx.example does not accept mail (nullMX)")
	wantReply(t, rcpt(p, "203.0.113.1", "<u@tempfail.example>"), "450 4.1.2 <u@tempfail.example>: Recipient address rejected: Domain not found")
	c3 := c
	c3.SMTPDRecipientRestrictions = "reject_unknown_sender_domain"
	p3 := mustNew(t, c3)
	wantReply(t, rcptFrom(p3, "203.0.113.1", "<s@nomx.example>", "<u@backup.example>"),
		"450 4.1.8 <s@nomx.example>: Sender address rejected: Domain not found")
	wantReply(t, rcptFrom(p3, "203.0.113.1", "<s@nullmx.example>", "<u@backup.example>"),
		"550 5.7.27 <s@nullmx.example>: Sender address rejected: Domain nullmx.example does not accept mail (nullMX)")
	wantReply(t, rcptFrom(p3, "203.0.113.1", "<s@tempfail.example>", "<u@backup.example>"),
		"450 4.1.8 <s@tempfail.example>: Sender address rejected: Domain not found")
	wantReply(t, rcptFrom(p3, "203.0.113.1", "<s@mx.example.net>", "<u@backup.example>"), "250 2.1.5 Ok") // ours: not looked up
	wantReply(t, rcptFrom(p3, "203.0.113.1", "<>", "<u@backup.example>"), "250 2.1.5 Ok")
	wantReply(t, rcptFrom(p, "203.0.113.1", "<someone@localhost>", "<u@backup.example>"),
		"504 5.5.2 <someone@localhost>: Sender address rejected: need fully-qualified address")
	wantReply(t, rcptFrom(p, "203.0.113.1", "<>", "<u@backup.example>"), "250 2.1.5 Ok")
	c2 := c
	c2.SMTPDRecipientRestrictions = "check_sender_access inline:{ {nullsender=REJECT no bounces} }"
	c2.SMTPDNullAccessLookupKey = "nullsender"
	wantReply(t, rcptFrom(mustNew(t, c2), "203.0.113.1", "<>", "<u@backup.example>"), "554 5.7.1 <>: Sender address rejected: no bounces")
	wantReply(t, rcptFrom(p, "203.0.113.1", "<x@sub.spam.example>", "<u@backup.example>"),
		"554 5.7.1 <x@sub.spam.example>: Sender address rejected: Access denied")
	d := p.Check(context.Background(), &Request{Stage: StageRcpt, ClientAddr: netip.MustParseAddr("203.0.113.1"),
		Helo: "BAD.helo.example", Sender: "<a@sender.example>", Recipient: "<u@backup.example>"})
	wantReply(t, d, "554 5.7.1 <BAD.helo.example>: Helo command rejected: go away")
	d = p.Check(context.Background(), &Request{Stage: StageRcpt, ClientAddr: netip.MustParseAddr("203.0.113.1"),
		Helo: "bad.helo.example", Sender: "<a@sender.example>", Recipient: "<u@backup.example>", SASLUsername: "alice"})
	wantReply(t, d, "250 2.1.5 Ok")
	if d.Reason.Restriction != "permit_sasl_authenticated" {
		t.Errorf("reason %v", d.Reason)
	}
}

func TestClientAccessKeys(t *testing.T) {
	c := backupMX()
	c.RelayRecipientMaps = ""
	c.SMTPDClientRestrictions = "check_client_access inline:{ {203.0.113=REJECT net blocked}, {bad.example=REJECT name blocked}, {2001:db8=REJECT v6 blocked} }"
	p := mustNew(t, c)
	wantReply(t, rcpt(p, "203.0.113.9", "<u@backup.example>"), "554 5.7.1 <unknown[203.0.113.9]>: Client host rejected: net blocked")
	d := p.Check(context.Background(), &Request{Stage: StageRcpt, ClientAddr: netip.MustParseAddr("198.51.100.1"),
		ClientName: "host.sub.bad.example", Recipient: "<u@backup.example>"})
	wantReply(t, d, "554 5.7.1 <host.sub.bad.example[198.51.100.1]>: Client host rejected: name blocked")
	wantReply(t, rcpt(p, "2001:db8::25", "<u@backup.example>"), "554 5.7.1 <unknown[2001:db8::25]>: Client host rejected: v6 blocked")
	wantReply(t, rcpt(p, "198.51.100.1", "<u@backup.example>"), "250 2.1.5 Ok")
	// Without smtpd_delay_reject the client list answers at CONNECT.
	c.SMTPDDelayReject = No
	p = mustNew(t, c)
	d = p.Check(context.Background(), &Request{Stage: StageConnect, ClientAddr: netip.MustParseAddr("203.0.113.9")})
	wantReply(t, d, "554 5.7.1 <unknown[203.0.113.9]>: Client host rejected: net blocked")
	d = p.Check(context.Background(), &Request{Stage: StageConnect, ClientAddr: netip.MustParseAddr("198.51.100.9")})
	if d.Verdict != Continue {
		t.Errorf("unlisted client at CONNECT: %+v", d)
	}
}

func TestLimitsAndStages(t *testing.T) {
	p := mustNew(t, backupMX())
	d := p.Check(context.Background(), &Request{Stage: StageMail, ClientAddr: netip.MustParseAddr("203.0.113.1"),
		Sender: "<a@sender.example>", Size: 20000000})
	wantReply(t, d, "552 5.3.4 Message size exceeds fixed limit")
	d = p.Check(context.Background(), &Request{Stage: StageMail, Sender: "<a@b@>"})
	wantReply(t, d, "501 5.1.7 Bad sender address syntax")
	d = p.Check(context.Background(), &Request{Stage: StageMail, Sender: "<a@sender.example>"})
	if d.Verdict != Continue {
		t.Errorf("MAIL with delayed restrictions: %+v", d)
	}
	d = p.Check(context.Background(), &Request{Stage: StageRcpt, ClientAddr: netip.MustParseAddr("192.0.2.1"),
		Recipient: "<user1@backup.example>", RecipientCount: 1000})
	wantReply(t, d, "452 4.5.3 Error: too many recipients")
	wantReply(t, rcpt(p, "192.0.2.1", "<>"), "501 5.1.3 Bad recipient address syntax")
}

func TestCustomRestrictionAndClasses(t *testing.T) {
	c := backupMX()
	c.Restrictions = map[string]Check{"check_vip": CheckFunc(func(ctx context.Context, r *Request) (string, error) {
		if strings.HasPrefix(r.Recipient, "<vip") {
			return "vipclass", nil
		}
		if strings.HasPrefix(r.Recipient, "<fail") {
			return "", errors.New("backend down")
		}
		return "", nil
	})}
	c.SMTPDRestrictionClasses = map[string]string{"vipclass": "reject_non_fqdn_recipient, defer"}
	c.SMTPDRecipientRestrictions = "check_vip"
	p := mustNew(t, c)
	wantReply(t, rcpt(p, "192.0.2.1", "<vip@backup.example>"), "450 4.3.2 <vip@backup.example>: Recipient address rejected: Try again later")
	wantReply(t, rcpt(p, "192.0.2.1", "<fail@backup.example>"), "451 4.3.0 <fail@backup.example>: Temporary lookup failure")
	wantReply(t, rcpt(p, "192.0.2.1", "<user1@backup.example>"), "250 2.1.5 Ok")
}

func TestGoTables(t *testing.T) {
	c := backupMX()
	c.Tables = map[string]lookup.Table{
		"mem:domains": lookup.NewMap(map[string]string{"backup.example": "x"}),
		"mem:users":   lookup.NewMap(map[string]string{"Alice@Backup.Example": "x"}),
	}
	c.RelayDomains = "mem:domains"
	c.RelayRecipientMaps = "mem:users"
	p := mustNew(t, c)
	wantReply(t, rcpt(p, "203.0.113.1", "<alice@sub.backup.example>"),
		"550 5.1.1 <alice@sub.backup.example>: Recipient address rejected: User unknown in relay recipient table")
	wantReply(t, rcpt(p, "203.0.113.1", "<ALICE@backup.example>"), "250 2.1.5 Ok")
	wantReply(t, rcpt(p, "203.0.113.1", "<u@other.example>"), "454 4.7.1 <u@other.example>: Relay access denied")
}

func TestRestrictionParse(t *testing.T) {
	rs, err := ParseRestrictions("permit_mynetworks,  CHECK_recipient_access hash:/etc/x\tcheck_policy_service { inet:127.0.0.1:9998, timeout=10s }, " +
		"check_sender_access inline:{ a=b, {c = d e} } reject_unauth_destination")
	if err != nil {
		t.Fatal(err)
	}
	want := []Restriction{PermitMynetworks, CheckRecipientAccess("hash:/etc/x"),
		CheckPolicyService("inet:127.0.0.1:9998, timeout=10s"), CheckSenderAccess("inline:{ a=b, {c = d e} }"), RejectUnauthDestination}
	if len(rs) != len(want) {
		t.Fatalf("got %v", rs)
	}
	for i := range rs {
		if rs[i] != want[i] {
			t.Errorf("%d: got %+v, want %+v", i, rs[i], want[i])
		}
	}
	if s := FormatRestrictions(rs); s != "permit_mynetworks, check_recipient_access hash:/etc/x, "+
		"check_policy_service { inet:127.0.0.1:9998, timeout=10s }, check_sender_access inline:{ a=b, {c = d e} }, reject_unauth_destination" {
		t.Errorf("FormatRestrictions = %q", s)
	}
	for _, bad := range []string{"check_recipient_access", "permit {", "permit }", "{ permit }", "check_helo_access {}"} {
		if _, err := ParseRestrictions(bad); err == nil {
			t.Errorf("ParseRestrictions(%q) accepted", bad)
		}
	}
}

func TestBadSenderAtRcpt(t *testing.T) {
	c := backupMX()
	c.SMTPDRecipientRestrictions = "check_sender_access inline:{ {a@b.example=OK} }"
	p := mustNew(t, c)
	wantReply(t, rcptFrom(p, "203.0.113.1", "<a@b..example>", "<user1@backup.example>"), "501 5.1.7 Bad sender address syntax")
	// Without a sender restriction the sender is never looked at.
	p = mustNew(t, backupMX())
	wantReply(t, rcptFrom(p, "203.0.113.1", "<a@b..example>", "<user1@backup.example>"), "250 2.1.5 Ok")
}

func TestConcurrentChecks(t *testing.T) {
	srv := startServer(t, "tcp", func(a map[string]string) string {
		if strings.HasPrefix(a["recipient"], "no") {
			return "action=REJECT\n\n"
		}
		return "action=DUNNO\n\n"
	})
	c := policyConfig("inet:" + srv.addr)
	c.RelayRecipientMaps = "inline:{ @backup.example=x }"
	p := mustNew(t, c)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				local := "yes"
				if (g+i)%2 == 0 {
					local = "no"
				}
				d := rcpt(p, "203.0.113.1", "<"+local+"@backup.example>")
				if (local == "no") != (d.Code == 554) {
					errs <- d.Reply()
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := srv.conns.Load(); n > maxIdleConns+16 {
		t.Errorf("%d connections for 16 concurrent clients", n)
	}
}

// TestDataStage follows what Postfix 3.7's smtpd answers at DATA (checked
// with the oracle shim): "<DATA>: Data command rejected", a pending
// defer_if_permit applied, recipient restrictions only with one recipient.
func TestDataStage(t *testing.T) {
	data := func(p *Policy, count int, rcpt string) Decision {
		return p.Check(context.Background(), &Request{Stage: StageData, ClientAddr: netip.MustParseAddr("203.0.113.9"),
			Sender: "<s@sender.example>", Recipient: rcpt, RecipientCount: count})
	}
	c := backupMX()
	c.SMTPDDataRestrictions = "reject"
	wantReply(t, data(mustNew(t, c), 1, "<user1@backup.example>"), "554 5.7.1 <DATA>: Data command rejected: Access denied")
	c.SMTPDDataRestrictions = "defer_if_permit"
	wantReply(t, data(mustNew(t, c), 2, ""), "450 4.7.0 <DATA>: Data command rejected: defer_if_permit requested")
	c.SMTPDDataRestrictions = "check_recipient_access inline:{u@backup.example=REJECT}"
	p := mustNew(t, c)
	wantReply(t, data(p, 1, "<u@backup.example>"), "554 5.7.1 <u@backup.example>: Recipient address rejected: Access denied")
	if d := data(p, 2, "<u@backup.example>"); d.Verdict != Continue {
		t.Errorf("two recipients: %+v", d)
	}
}

// TestRelayDomainsSyntax: relay_domains list syntax (postconf(5)): names, /file,
// !exclusions (first match wins), a '#' token ending the list with a
// warning.
func TestRelayDomainsSyntax(t *testing.T) {
	file := t.TempDir() + "/relay_domains"
	if err := os.WriteFile(file, []byte("# comment\nfile.example\n\nother-file.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := backupMX()
	c.RelayRecipientMaps = ""
	c.RelayDomains = "!no.backup.example, backup.example, " + file + " #ignored.example, ignored2.example"
	p := mustNew(t, c)
	for addr, want := range map[string]int{
		"<u@backup.example>": 250, "<u@sub.backup.example>": 250, "<u@no.backup.example>": 454, "<u@x.no.backup.example>": 454,
		"<u@file.example>": 250, "<u@other-file.example>": 250, "<u@ignored.example>": 454, "<u@ignored2.example>": 454,
	} {
		if d := rcptFrom(p, "203.0.113.1", "<s@sender.example>", addr); d.Code != want {
			t.Errorf("%s: %s, want %d", addr, d.Reply(), want)
		}
	}
	found := false
	for _, w := range p.Warnings() {
		found = found || strings.Contains(w.Msg, "comment at end of line is not supported")
	}
	if !found {
		t.Errorf("no warning for '#' in relay_domains: %v", p.Warnings())
	}
}

func TestDecisionString(t *testing.T) {
	p := mustNew(t, backupMX())
	if got, want := rcpt(p, "203.0.113.1", "<nosuch@backup.example>").String(),
		"reject: 550 5.1.1 <nosuch@backup.example>: Recipient address rejected: User unknown in relay recipient table "+
			"[reject_unlisted_recipient relay_recipient_maps]"; got != want {
		t.Errorf("String() = %q\nwant       %q", got, want)
	}
	if got := (Decision{}).String(); got != "continue" {
		t.Errorf("zero Decision: %q", got)
	}
}

// TestMailSyntax: MAIL FROM paths as Postfix 3.7's smtpd answered them
// (oracle shim, 2026-11-24), except the two deliberate differences.
func TestMailSyntax(t *testing.T) {
	p := mustNew(t, backupMX())
	for path, want := range map[string]string{
		"<u@127.0.0.1>": "501", "<u@[::1]>": "501", "<-u@x.example>": "501", "<u@x..example>": "501",
		"<u@bücher.example>": "501", "<user>": "", "<@route:u@x.example>": "", "<>": "", "<u@x.example": "501",
		"<u name@x.example>": "501", `<"a b"@x.example>`: "",
		`<"u@"@mx.example.net>`: "501", `<"u@1.2.3.4"@mx.example.net>`: "501", `<"u@other.example"@mx.example.net>`: "",
		`<"u@1.2.3.4"@x.example>`: "",
		"<u@x.example@>":          "501", "<u@[0177.0.0.1]>": "501", // deliberate: Postfix accepts both
	} {
		d := p.Check(context.Background(), &Request{Stage: StageMail, ClientAddr: netip.MustParseAddr("203.0.113.9"), Sender: path})
		switch {
		case want == "501" && d.Reply() != "501 5.1.7 Bad sender address syntax":
			t.Errorf("MAIL FROM:%s: %v, want 501 5.1.7", path, d)
		case want == "" && d.Verdict != Continue:
			t.Errorf("MAIL FROM:%s: %v, want accepted", path, d)
		}
	}
}

// TestTableFailureNeverPermanent injects a failing table (temporary and
// configuration errors) and failing Go hooks at every place policy
// consults one, and requires a 4xx deferral each time: a lookup error
// must never bounce mail (smtpd_check.c answers 451 4.3.0 or 451 4.3.5).
func TestTableFailureNeverPermanent(t *testing.T) {
	type setup func(c *Config)
	type failCase struct {
		name  string
		set   setup
		stage Stage
		// mayAccept: a failure here must not refuse at all (a DNS
		// list that fails lists nobody, as Postfix); it still must
		// never give a 5xx.
		mayAccept bool
	}
	cases := []failCase{
		{"mydestination", func(c *Config) { c.MyDestination = "mx.example.net, test:fail" }, StageRcpt, false},
		{"relay_domains", func(c *Config) { c.RelayDomains = "test:fail" }, StageRcpt, false},
		{"virtual_alias_domains", func(c *Config) { c.VirtualAliasDomains = "test:fail" }, StageRcpt, false},
		{"virtual_mailbox_domains", func(c *Config) { c.VirtualMailboxDomains = "test:fail" }, StageRcpt, false},
		{"mynetworks", func(c *Config) { c.MyNetworks = "test:fail" }, StageRcpt, false},
		{"relay_recipient_maps", func(c *Config) { c.RelayRecipientMaps = "test:fail" }, StageRcpt, false},
		{"local_recipient_maps", func(c *Config) {
			c.MyDestination, c.LocalRecipientMaps = "mx.example.net, backup.example", "test:fail"
			c.RelayDomains = ""
		}, StageRcpt, false},
		{"virtual_alias_maps", func(c *Config) { c.VirtualAliasMaps = "test:fail" }, StageRcpt, false},
		{"virtual_mailbox_maps", func(c *Config) {
			c.VirtualMailboxDomains, c.VirtualMailboxMaps, c.RelayDomains = "backup.example", "test:fail", ""
		}, StageRcpt, false},
		{"canonical_maps", func(c *Config) { c.CanonicalMaps = "test:fail" }, StageRcpt, false},
		{"recipient_canonical_maps", func(c *Config) { c.RecipientCanonicalMaps = "test:fail" }, StageRcpt, false},
		{"relocated_maps", func(c *Config) { c.RelocatedMaps = "test:fail" }, StageRcpt, false},
		{"check_recipient_access", func(c *Config) { c.SMTPDRecipientRestrictions = "check_recipient_access test:fail" }, StageRcpt, false},
		{"check_sender_access", func(c *Config) { c.SMTPDSenderRestrictions = "check_sender_access test:fail" }, StageRcpt, false},
		{"check_client_access", func(c *Config) { c.SMTPDClientRestrictions = "check_client_access test:fail" }, StageRcpt, false},
		{"check_helo_access", func(c *Config) { c.SMTPDHeloRestrictions = "check_helo_access test:fail" }, StageRcpt, false},
		{"check_recipient_access in a class", func(c *Config) {
			c.SMTPDRestrictionClasses = map[string]string{"cls": "check_recipient_access test:fail"}
			c.SMTPDRelayRestrictions = "check_client_access inline:{ 203.0.113.1=cls, 192.0.2.1=cls }, reject_unauth_destination"
		}, StageRcpt, false},
		{"warn_if_reject check_recipient_access", func(c *Config) {
			c.SMTPDRecipientRestrictions = "warn_if_reject check_recipient_access test:fail"
		}, StageRcpt, false},
		{"defer_if_reject then check_recipient_access", func(c *Config) {
			c.SMTPDRecipientRestrictions = "defer_if_reject, check_recipient_access test:fail"
		}, StageRcpt, false},
		{"check_sender_access at MAIL", func(c *Config) {
			c.SMTPDDelayReject = No
			c.SMTPDSenderRestrictions = "check_sender_access test:fail"
		}, StageMail, false},
		{"check_client_access at CONNECT", func(c *Config) {
			c.SMTPDDelayReject = No
			c.SMTPDClientRestrictions = "check_client_access test:fail"
		}, StageConnect, false},
		{"check_helo_access at HELO", func(c *Config) {
			c.SMTPDDelayReject = No
			c.SMTPDHeloRestrictions = "check_helo_access test:fail"
		}, StageHelo, false},
		{"check_recipient_access at DATA", func(c *Config) {
			c.SMTPDDataRestrictions = "check_recipient_access test:fail"
		}, StageData, false},
		{"Routes", func(c *Config) {
			c.Routes = RoutesFunc(func(ctx context.Context, rcpt string) (string, string, error) {
				return "", "", errors.New("transport map down")
			})
		}, StageRcpt, false},
		{"Recipients", func(c *Config) {
			c.MyDestination, c.RelayDomains = "mx.example.net, backup.example", ""
			c.Recipients = RecipientsFunc(func(ctx context.Context, class lookup.Class, rcpt string) (bool, error) {
				return false, errors.New("user database down")
			})
		}, StageRcpt, false},
		{"Resolver", func(c *Config) {
			c.SMTPDRecipientRestrictions = "reject_unknown_recipient_domain"
			c.Resolver = ResolverFunc(func(ctx context.Context, domain string) (DomainStatus, error) {
				return 0, errors.New("SERVFAIL")
			})
		}, StageRcpt, false},
		{"Resolver for the sender", func(c *Config) {
			c.SMTPDRecipientRestrictions = "reject_unknown_sender_domain"
			c.Resolver = ResolverFunc(func(ctx context.Context, domain string) (DomainStatus, error) {
				return 0, errors.New("SERVFAIL")
			})
		}, StageRcpt, false},
		// DNS lists: the failing DNS is c.DNS (failingDNS).
		{"permit_dnswl_client then reject", func(c *Config) {
			c.SMTPDClientRestrictions = "permit_dnswl_client wl.example, reject"
		}, StageRcpt, false},
		{"permit_rhswl_client then reject", func(c *Config) {
			c.SMTPDClientRestrictions = "permit_rhswl_client wl.example, reject"
		}, StageRcpt, false},
		{"permit_dnswl_client then reject at CONNECT", func(c *Config) {
			c.SMTPDDelayReject = No
			c.SMTPDClientRestrictions = "permit_dnswl_client wl.example, reject"
		}, StageConnect, false},
		{"reject_rbl_client and reject_rhsbl_*", func(c *Config) {
			c.SMTPDRecipientRestrictions = "reject_rbl_client bl.example, reject_rhsbl_client bl.example, " +
				"reject_rhsbl_reverse_client bl.example, reject_rhsbl_helo bl.example, reject_rhsbl_sender bl.example, " +
				"reject_rhsbl_recipient bl.example=127.0.0.2"
		}, StageRcpt, true},
		{"reject_rbl_client, then a failing recipient map", func(c *Config) {
			c.SMTPDRecipientRestrictions = "reject_rbl_client bl.example"
			c.RelayRecipientMaps = "test:fail"
		}, StageRcpt, false},
		{"reject_unknown_helo_hostname", func(c *Config) {
			c.SMTPDHeloRestrictions = "reject_unknown_helo_hostname"
		}, StageRcpt, false},
		{"reject_unknown_helo_hostname at HELO", func(c *Config) {
			c.SMTPDDelayReject = No
			c.UnknownHeloHostnameTempfailAction = "defer"
			c.SMTPDHeloRestrictions = "reject_unknown_hostname"
		}, StageHelo, false},
		{"rbl_reply_maps", func(c *Config) {
			c.SMTPDRecipientRestrictions = "reject_rbl_client bl.example"
			c.RBLReplyMaps = "test:fail"
			c.DNS = DNSFunc(func(ctx context.Context, name string, t RRType) ([]string, error) {
				return []string{"127.0.0.2"}, nil // every client listed
			})
		}, StageRcpt, false},
		{"a bare type:table", func(c *Config) { c.SMTPDRecipientRestrictions = "test:fail" }, StageRcpt, false},
		{"a bare type:table in the sender list", func(c *Config) { c.SMTPDSenderRestrictions = "test:fail" }, StageRcpt, false},
		{"reject_unlisted_sender", func(c *Config) {
			c.RelayDomains, c.RelayRecipientMaps = "backup.example, sender.example", "test:fail"
			c.SMTPDSenderRestrictions = "reject_unlisted_sender"
		}, StageRcpt, false},
		{"smtpd_reject_unlisted_sender at MAIL", func(c *Config) {
			c.RelayDomains, c.RelayRecipientMaps = "backup.example, sender.example", "test:fail"
			c.SMTPDRejectUnlistedSender, c.SMTPDDelayReject = Yes, No
		}, StageMail, false},
		{"permit_mx_backup_networks", func(c *Config) {
			c.RelayDomains, c.PermitMXBackupNetworks = "", "test:fail"
			c.SMTPDRelayRestrictions = "permit_mx_backup, reject_unauth_destination"
			c.DNS = DNSFunc(func(ctx context.Context, name string, t RRType) ([]string, error) {
				switch {
				case t == TypeMX:
					return []string{"10 primary.example", "20 mx.example.net"}, nil
				case t == TypeA && name == "mx.example.net":
					return []string{"127.0.0.1"}, nil
				case t == TypeA:
					return []string{"198.51.100.1"}, nil
				}
				return nil, ErrNoRecords
			})
		}, StageRcpt, false},
		{"permit_mx_backup with DNS failing", func(c *Config) {
			c.RelayDomains = ""
			c.SMTPDRelayRestrictions = "permit_mx_backup, reject_unauth_destination"
		}, StageRcpt, false},
		{"check_reverse_client_hostname_access", func(c *Config) {
			c.SMTPDClientRestrictions = "check_reverse_client_hostname_access test:fail"
		}, StageRcpt, false},
	}
	// check_*_{mx,ns,a}_access: with DNS that answers, the failing table
	// is consulted (451 4.3.5); with DNS that fails, nothing is (Postfix
	// skips what it cannot look up), and never a 5xx.
	answering := DNSFunc(func(ctx context.Context, name string, t RRType) ([]string, error) {
		switch t {
		case TypeMX:
			return []string{"10 mx.example"}, nil
		case TypeNS:
			return []string{"mx.example"}, nil
		case TypeA:
			return []string{"192.0.2.9"}, nil
		}
		return nil, ErrNoRecords
	})
	for _, target := range []string{"client", "reverse_client_hostname", "helo", "sender", "recipient"} {
		for _, typ := range []string{"mx", "ns", "a"} {
			r := "check_" + target + "_" + typ + "_access test:fail"
			cases = append(cases,
				failCase{r, func(c *Config) { c.SMTPDRecipientRestrictions, c.DNS = r, answering }, StageRcpt, false},
				failCase{r + " with DNS failing", func(c *Config) { c.SMTPDRecipientRestrictions = r }, StageRcpt, true})
		}
	}
	for _, kind := range []lookup.ErrorKind{lookup.Temporary, lookup.Config} {
		for _, tc := range cases {
			for _, client := range []string{"203.0.113.1", "192.0.2.1"} {
				c := backupMX()
				c.Tables = map[string]lookup.Table{"test:fail": failing(kind)}
				c.DNS = DNSFunc(func(ctx context.Context, name string, t RRType) ([]string, error) {
					return nil, errors.New("SERVFAIL")
				})
				tc.set(&c)
				p := mustNew(t, c)
				req := &Request{Stage: tc.stage, ClientAddr: netip.MustParseAddr(client), ClientName: "client.example",
					ReverseClientName: "client.example", Helo: "client.example", Sender: "<sender@sender.example>"}
				if tc.stage >= StageRcpt {
					req.Recipient = "<user1@backup.example>"
				}
				if tc.stage == StageData {
					req.RecipientCount = 1
				}
				d := p.Check(context.Background(), req)
				if tc.mayAccept && (d.Verdict == Permit || d.Verdict == Continue) {
					continue
				}
				if d.Code/100 != 4 || d.Verdict != Defer || d.Enhanced == "" || d.Enhanced[0] != '4' {
					t.Errorf("%s (%v, client %s): %q (reason %v, err %v), want a 4xx deferral",
						tc.name, kind, client, d.Reply(), d.Reason, d.Err)
				}
			}
		}
	}
}
