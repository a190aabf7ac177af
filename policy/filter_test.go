package policy

import "testing"

// TestFilterAction: FILTER transport:destination is reported with
// Postfix's log text and does not decide; without transport:destination
// the entry is skipped, as smtpd_check.c does.
func TestFilterAction(t *testing.T) {
	c := Config{
		InetInterfaces:             "loopback-only",
		RelayDomains:               "example.com",
		SMTPDRecipientRestrictions: "check_recipient_access inline:{{scan@example.com=FILTER smtp:[127.0.0.1]:10024}, {bad@example.com=FILTER nocolon}}, reject_unauth_destination",
	}
	p := mustNew(t, c)
	d := rcpt(p, "203.0.113.1", "<scan@example.com>")
	if d.Verdict != Permit || len(d.Actions) != 1 || d.Actions[0].Kind != ActionFilter || d.Actions[0].Value != "smtp:[127.0.0.1]:10024" ||
		d.Actions[0].Log != "<scan@example.com>: Recipient address triggers FILTER smtp:[127.0.0.1]:10024" {
		t.Errorf("FILTER: %+v", d)
	}
	if d := rcpt(p, "203.0.113.1", "<bad@example.com>"); d.Verdict != Permit || len(d.Actions) != 0 {
		t.Errorf("FILTER without transport:destination: %+v", d)
	}
}

// TestNoUnknownRecipientChecks: receive_override_options =
// no_unknown_recipient_checks accepts recipients the recipient tables do
// not list, and still refuses unauthorised relaying.
func TestNoUnknownRecipientChecks(t *testing.T) {
	c := Config{InetInterfaces: "loopback-only", RelayDomains: "example.com", RelayRecipientMaps: "inline:{ alice@example.com=x }"}
	p := mustNew(t, c)
	wantReply(t, rcpt(p, "203.0.113.1", "<bob@example.com>"), "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown in relay recipient table")
	c.NoUnknownRecipientChecks = true
	p = mustNew(t, c)
	wantReply(t, rcpt(p, "203.0.113.1", "<bob@example.com>"), "250 2.1.5 Ok")
	wantReply(t, rcpt(p, "203.0.113.1", "<u@stranger.example>"), "454 4.7.1 <u@stranger.example>: Relay access denied")
}

// TestRedirectBccActions: REDIRECT and BCC need user@domain, else the
// entry is skipped as smtpd_check.c skips it; both are logged as Postfix
// logs them.
func TestRedirectBccActions(t *testing.T) {
	c := Config{
		InetInterfaces:             "loopback-only",
		RelayDomains:               "example.com",
		SMTPDRecipientRestrictions: "check_recipient_access inline:{{r@example.com=REDIRECT x@example.net}, {b@example.com=BCC y@example.net}, {bad@example.com=REDIRECT nodomain}, {badbcc@example.com=BCC nodomain}}, reject_unauth_destination",
	}
	p := mustNew(t, c)
	for rc, want := range map[string]Action{
		"r@example.com": {Kind: ActionRedirect, Value: "x@example.net", Log: "<r@example.com>: Recipient address triggers REDIRECT x@example.net"},
		"b@example.com": {Kind: ActionBCC, Value: "y@example.net", Log: "<b@example.com>: Recipient address triggers BCC y@example.net"},
	} {
		d := rcpt(p, "203.0.113.1", "<"+rc+">")
		if d.Verdict != Permit || len(d.Actions) != 1 || d.Actions[0].Kind != want.Kind || d.Actions[0].Value != want.Value || d.Actions[0].Log != want.Log {
			t.Errorf("%s: %+v", rc, d)
		}
	}
	for _, rc := range []string{"bad@example.com", "badbcc@example.com"} {
		if d := rcpt(p, "203.0.113.1", "<"+rc+">"); d.Verdict != Permit || len(d.Actions) != 0 {
			t.Errorf("%s without user@domain: %+v", rc, d)
		}
	}
}
