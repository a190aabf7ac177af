package relay

import (
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// reject_unknown_recipient_domain in a main.cf loads (policy gets
// transport's DNS client) and answers as Postfix's smtpd_check.c does:
// MX or address records accept, NXDOMAIN and no records give 450 4.1.2,
// a null MX 556 5.1.10, and a DNS failure only defers (450 4.1.2, as
// defer_if_permit).
func TestLoadRejectUnknownRecipientDomain(t *testing.T) {
	d, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.AddZone(`
$ORIGIN test.
mx.example      300 IN MX 10 mail.mx.example.test.
mail.mx.example 300 IN A  127.0.0.9
a.example       300 IN A  127.0.0.10
null.example    300 IN MX 0 .
txt.example     300 IN TXT "no mail records"
fail.example    300 IN MX 10 mail.mx.example.test.
`); err != nil {
		t.Fatal(err)
	}
	d.SetFault("fail.example.test", dns.TypeMX, dnstest.ServFail)
	_, addr := loadAndServe(t, `compatibility_level = 3.6
myhostname = mx.relay.test
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = reject_unknown_recipient_domain, permit_mynetworks, reject_unauth_destination
`, LoadOptions{DNS: []string{d.Addr()}})
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("s@mx.example.test", nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rcpt     string
		code     int
		enhanced smtp.EnhancedCode
	}{
		{"u@mx.example.test", 250, smtp.EnhancedCode{2, 1, 5}},
		{"u@a.example.test", 250, smtp.EnhancedCode{2, 1, 5}},
		{"u@nowhere.example.test", 450, smtp.EnhancedCode{4, 1, 2}},
		{"u@txt.example.test", 450, smtp.EnhancedCode{4, 1, 2}},
		{"u@null.example.test", 556, smtp.EnhancedCode{5, 1, 10}},
		{"u@fail.example.test", 450, smtp.EnhancedCode{4, 1, 2}}, // defer_if_permit, then permit_mynetworks (golden lab unknowndomain)
	} {
		err := c.Rcpt(tc.rcpt, nil)
		code, enh := 250, smtp.EnhancedCode{2, 1, 5}
		if e, ok := err.(*smtp.SMTPError); ok {
			code, enh = e.Code, e.EnhancedCode
		} else if err != nil {
			t.Fatalf("RCPT %s: %v", tc.rcpt, err)
		}
		if code != tc.code || enh != tc.enhanced {
			t.Errorf("RCPT %s: %d %v (%v); want %d %v", tc.rcpt, code, enh, err, tc.code, tc.enhanced)
		}
	}
}
