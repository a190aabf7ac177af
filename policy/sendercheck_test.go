package policy

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

func TestSenderChecks(t *testing.T) {
	c := backupMX()
	c.VirtualAliasDomains = "alias.example"
	c.VirtualAliasMaps = "inline:{ known@alias.example=user1@backup.example }"
	c.SMTPDSenderRestrictions = "reject_unlisted_sender, reject_sender_login_mismatch"
	c.SMTPDSenderLoginMaps = "inline:{ user1@backup.example=user1 }"
	p := mustNew(t, c)
	for _, tc := range []struct{ sender, want string }{
		{"<user1@backup.example>", "250 2.1.5 Ok"},
		{"<>", "250 2.1.5 Ok"},
		{"<x@elsewhere.example>", "250 2.1.5 Ok"},
		{"<nobody@backup.example>", "550 5.1.0 <nobody@backup.example>: Sender address rejected: User unknown in relay recipient table"},
		// The resolver's 5.1.1 fixed for a sender (golden lab
		// senderchecks2).
		{"<nobody@alias.example>", "550 5.1.7 <nobody@alias.example>: Sender address rejected: User unknown in virtual alias table"},
		{"<known@alias.example>", "250 2.1.5 Ok"},
	} {
		wantReply(t, rcptFrom(p, "203.0.113.1", tc.sender, "<user1@backup.example>"), tc.want)
	}
	var warned bool
	for _, w := range p.Warnings() {
		warned = warned || strings.Contains(w.String(), "reject_sender_login_mismatch' ignored: no SASL support")
	}
	if !warned {
		t.Errorf("no warning that reject_sender_login_mismatch is ignored: %v", p.Warnings())
	}
	c.SMTPDSenderLoginMaps = "hash:/nonexistent/logins"
	if _, err := New(context.Background(), c); err == nil {
		t.Error("a missing smtpd_sender_login_maps table was accepted")
	}
}

// A bare type:table is the access restriction of the list it is in: a
// restriction class takes the list that names it; in DATA, or in an
// access table's value, it is a configuration error.
func TestBareTable(t *testing.T) {
	c := backupMX()
	c.SMTPDRestrictionClasses = map[string]string{"cls": "inline:{ {user1@backup.example=REJECT by the class} }"}
	c.SMTPDRecipientRestrictions = "check_client_access inline:{ 203.0.113.9=cls, 203.0.113.8=inline:x }, inline:{ {203.0.113.1=REJECT never a client key here} }"
	c.SMTPDClientRestrictions = "inline:{ {203.0.113.2=REJECT by the client list} }"
	p := mustNew(t, c)
	wantReply(t, rcpt(p, "203.0.113.9", "<user1@backup.example>"), "554 5.7.1 <user1@backup.example>: Recipient address rejected: by the class")
	wantReply(t, rcpt(p, "203.0.113.1", "<user1@backup.example>"), "250 2.1.5 Ok")
	wantReply(t, rcpt(p, "203.0.113.2", "<user1@backup.example>"), "554 5.7.1 <unknown[203.0.113.2]>: Client host rejected: by the client list")
	wantReply(t, rcpt(p, "203.0.113.8", "<user1@backup.example>"), "451 4.3.5 Server configuration error")
	d := p.Check(context.Background(), &Request{Stage: StageData, ClientAddr: netip.MustParseAddr("203.0.113.1"),
		Sender: "<a@b.example>", RecipientCount: 1})
	wantReply(t, d, "")
	c.SMTPDDataRestrictions = "inline:{ a=b }"
	p = mustNew(t, c)
	d = p.Check(context.Background(), &Request{Stage: StageData, ClientAddr: netip.MustParseAddr("203.0.113.1"),
		Sender: "<a@b.example>", RecipientCount: 1})
	wantReply(t, d, "451 4.3.5 Server configuration error")
	rs, err := ParseRestrictions("CDB:/etc/Postfix/Access, Permit")
	if err != nil || rs[0].Name != "CDB:/etc/Postfix/Access" || rs[1].Name != "permit" {
		t.Errorf("ParseRestrictions folded a table name: %v %v", rs, err)
	}
}

func TestMultiRecipientBounce(t *testing.T) {
	c := backupMX()
	c.SMTPDRecipientRestrictions = "reject_multi_recipient_bounce"
	c.SMTPDDataRestrictions = "reject_multi_recipient_bounce"
	c.MultiRecipientBounceRejectCode = 554
	p := mustNew(t, c)
	check := func(stage Stage, sender string, n int) string {
		return p.Check(context.Background(), &Request{Stage: stage, ClientAddr: netip.MustParseAddr("203.0.113.1"),
			Sender: sender, Recipient: "<user1@backup.example>", RecipientCount: n}).Reply()
	}
	for _, tc := range []struct {
		stage  Stage
		sender string
		n      int
		want   string
	}{
		{StageRcpt, "<>", 0, "250 2.1.5 Ok"},
		{StageRcpt, "<>", 1, "554 5.5.3 <user1@backup.example>: Recipient address rejected: Multi-recipient bounce"},
		{StageRcpt, "<a@b.example>", 5, "250 2.1.5 Ok"},
		{StageData, "<>", 1, ""}, // Continue
		{StageData, "<>", 2, "554 5.5.3 <DATA>: Data command rejected: Multi-recipient bounce"},
	} {
		if got := check(tc.stage, tc.sender, tc.n); got != tc.want {
			t.Errorf("%v from %s after %d: %q, want %q", tc.stage, tc.sender, tc.n, got, tc.want)
		}
	}
}

func TestPermitInetInterfaces(t *testing.T) {
	c := backupMX()
	c.InetInterfaces = "198.51.100.1"
	c.ProxyInterfaces = "198.51.100.2"
	c.MyNetworks = ""
	c.SMTPDRelayRestrictions = "permit_inet_interfaces, reject_unauth_destination"
	p := mustNew(t, c)
	wantReply(t, rcpt(p, "198.51.100.1", "<u@elsewhere.example>"), "250 2.1.5 Ok")
	wantReply(t, rcpt(p, "198.51.100.2", "<u@elsewhere.example>"), "554 5.7.1 <u@elsewhere.example>: Relay access denied")
}
