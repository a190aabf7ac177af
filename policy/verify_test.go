package policy

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// verifierOf answers from a map; an address not in it fails the service.
func verifierOf(m map[string]Verification) Verifier {
	return VerifierFunc(func(_ context.Context, a string) (Verification, error) {
		v, ok := m[a]
		if !ok {
			return Verification{}, errors.New("verify service down")
		}
		return v, nil
	})
}

// reject_unverified_recipient and reject_unverified_sender give Postfix's
// replies (smtpd_check.c; golden cases in relay's TestVerifyLab): the
// codes, the 4.1.1/5.1.1 (recipient) and 4.1.7/5.1.7 (sender) statuses,
// "unverified"/"undeliverable address" by the reject code's class, the
// null sender never verified, and a failing verification service
// answered by the tempfail action: defer_if_permit remembers it (a later
// reject wins), defer answers at once.
func TestUnverified(t *testing.T) {
	v := verifierOf(map[string]Verification{
		"ok@backup.example":      {Status: VerifyDeliverable},
		"gone@backup.example":    {Status: VerifyUndeliverable, Reason: "host mx[192.0.2.9] said: 550 5.1.1 no such user (in reply to RCPT TO command)"},
		"later@backup.example":   {Status: VerifyDeferred, Reason: "connect to mx[192.0.2.9]:25: Connection refused"},
		"pending@backup.example": {Status: VerifyUnknown},
		"bad@sender.example":     {Status: VerifyUndeliverable, Reason: "host mx said: 550 5.1.1 no"},
	})
	c := backupMX()
	c.RelayRecipientMaps = ""
	c.SMTPDRecipientRestrictions = "reject_unverified_recipient"
	c.Verifier = v
	p := mustNew(t, c)
	wantReply(t, rcpt(p, "203.0.113.1", "<ok@backup.example>"), "250 2.1.5 Ok")
	wantReply(t, rcpt(p, "203.0.113.1", "<gone@backup.example>"),
		"450 4.1.1 <gone@backup.example>: Recipient address rejected: unverified address: host mx[192.0.2.9] said: 550 5.1.1 no such user (in reply to RCPT TO command)")
	wantReply(t, rcpt(p, "203.0.113.1", "<later@backup.example>"),
		"450 4.1.1 <later@backup.example>: Recipient address rejected: unverified address: connect to mx[192.0.2.9]:25: Connection refused")
	wantReply(t, rcpt(p, "203.0.113.1", "<pending@backup.example>"),
		"450 4.1.1 <pending@backup.example>: Recipient address rejected: unverified address: Address verification in progress")
	// The service fails: defer_if_permit, so a permit gives 450 4.1.1.
	wantReply(t, rcpt(p, "203.0.113.1", "<down@backup.example>"),
		"450 4.1.1 <down@backup.example>: Recipient address rejected: address verification problem")

	c.UnverifiedRecipient = Unverified{RejectCode: 550, DeferCode: 451, RejectReason: "no such mailbox at the primary"}
	p = mustNew(t, c)
	wantReply(t, rcpt(p, "203.0.113.1", "<gone@backup.example>"),
		"550 5.1.1 <gone@backup.example>: Recipient address rejected: no such mailbox at the primary")
	wantReply(t, rcpt(p, "203.0.113.1", "<later@backup.example>"),
		"451 4.1.1 <later@backup.example>: Recipient address rejected: unverified address: connect to mx[192.0.2.9]:25: Connection refused")
	// defer_if_permit: a later reject wins over the service failure.
	c.SMTPDRecipientRestrictions = "reject_unverified_recipient, reject"
	p = mustNew(t, c)
	wantReply(t, rcpt(p, "203.0.113.1", "<down@backup.example>"),
		"554 5.7.1 <down@backup.example>: Recipient address rejected: Access denied")
	c.UnverifiedRecipient.TempfailAction = "defer"
	p = mustNew(t, c)
	wantReply(t, rcpt(p, "203.0.113.1", "<down@backup.example>"),
		"450 4.1.1 <down@backup.example>: Recipient address rejected: address verification problem")

	// The sender, in smtpd_recipient_restrictions: its own subject.
	c = backupMX()
	c.SMTPDRecipientRestrictions = "reject_unverified_sender, permit_auth_destination, reject"
	c.Verifier, c.UnverifiedSender = v, Unverified{RejectCode: 550}
	p = mustNew(t, c)
	wantReply(t, rcptFrom(p, "203.0.113.1", "<bad@sender.example>", "<user1@backup.example>"),
		"550 5.1.7 <bad@sender.example>: Sender address rejected: undeliverable address: host mx said: 550 5.1.1 no")
	wantReply(t, rcptFrom(p, "203.0.113.1", "<>", "<user1@backup.example>"), "250 2.1.5 Ok")
}

// Bad codes and actions are refused by parameter name; the restrictions
// need a Verifier.
func TestUnverifiedConfig(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.UnverifiedRecipient.RejectCode = 250 }, "unverified_recipient_reject_code"},
		{func(c *Config) { c.UnverifiedSender.DeferCode = 550 }, "unverified_sender_defer_code"},
		{func(c *Config) { c.UnverifiedRecipient.TempfailAction = "reject" }, "unverified_recipient_tempfail_action"},
		{func(c *Config) { c.Verifier = nil }, "needs Config.Verifier"},
	} {
		c := backupMX()
		c.SMTPDRecipientRestrictions = "reject_unverified_recipient"
		c.Verifier = verifierOf(nil)
		tc.mod(&c)
		if _, err := New(context.Background(), c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one naming %s", err, tc.want)
		}
	}
}
