package cleanup

import (
	"context"
	"testing"
)

// TestMasquerade: the first of masquerade_domains that the domain is
// below decides; "!" and an exact match keep the address;
// masquerade_exceptions keeps a user; masquerade_classes chooses what is
// masqueraded (golden lab masquerade and masqclasses compare with
// Postfix).
func TestMasquerade(t *testing.T) {
	cl, err := New(Config{MasqueradeDomains: []string{"!sub.example.com", "example.com"}, MasqueradeExceptions: []string{"root"}})
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"u@host.example.com":     "u@example.com",
		"u@A.B.Example.COM":      "u@example.com",
		"u@example.com":          "u@example.com",
		"u@x.sub.example.com":    "u@x.sub.example.com",
		"u@sub.example.com":      "u@sub.example.com",
		"ROOT@host.example.com":  "ROOT@host.example.com",
		"u@host.notexample.com":  "u@host.notexample.com",
		"postmaster":             "postmaster",
		"u@host.example.com.org": "u@host.example.com.org",
	} {
		if got, err := cl.Sender(context.Background(), "Q", in); err != nil || got != want {
			t.Errorf("%s: %s (%v), want %s", in, got, err, want)
		}
	}
	// Envelope recipients are not masqueraded by default.
	if rc, err := cl.Recipients(context.Background(), "Q", []string{"u@host.example.com"}); err != nil || rc[0].Address != "u@host.example.com" {
		t.Errorf("recipient: %+v %v", rc, err)
	}
	cl, _ = New(Config{MasqueradeDomains: []string{"example.com"}, MasqueradeClasses: EnvelopeRecipient})
	if rc, err := cl.Recipients(context.Background(), "Q", []string{"u@host.example.com"}); err != nil || rc[0].Address != "u@example.com" || rc[0].Original != "u@host.example.com" {
		t.Errorf("recipient with envelope_recipient: %+v %v", rc, err)
	}
	if s, _ := cl.Sender(context.Background(), "Q", "u@host.example.com"); s != "u@host.example.com" {
		t.Errorf("sender without envelope_sender: %s", s)
	}
}
