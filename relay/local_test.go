package relay

import (
	"fmt"
	"testing"

	"github.com/emersion/go-smtp"
)

// A main.cf with Postfix's default mydestination must not accept mail for
// local users: mxrelay has no local delivery, so such mail would sit in
// the queue for maximal_queue_lifetime and then bounce to a possibly
// forged sender. It is refused at RCPT as Postfix refuses an unknown
// local user; local mail that transport_maps routes over SMTP is
// accepted; a route to a transport the relay lacks defers at RCPT.
func TestLoadRefusesUndeliverableRoutes(t *testing.T) {
	dir := t.TempDir()
	tm := writeFile(t, dir, "transport", "routed.mx.relay.test smtp:[127.0.0.1]:2526\nuucp.relay.test uucp:gateway\n")
	_, addr := loadAndServe(t, fmt.Sprintf(`compatibility_level = 3.6
myhostname = mx.relay.test
mydestination = $myhostname, localhost, routed.$myhostname
relay_domains = relay.test, uucp.relay.test
mynetworks = 127.0.0.0/8
transport_maps = texthash:%s
`, tm), LoadOptions{})
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("s@sender.example", nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rcpt     string
		code     int
		enhanced smtp.EnhancedCode
		text     string
	}{
		{"nobody@mx.relay.test", 550, smtp.EnhancedCode{5, 1, 1}, "<nobody@mx.relay.test>: Recipient address rejected: User unknown in local recipient table"},
		{"root@localhost", 550, smtp.EnhancedCode{5, 1, 1}, "<root@localhost>: Recipient address rejected: User unknown in local recipient table"},
		{"u@routed.mx.relay.test", 250, smtp.EnhancedCode{2, 1, 5}, ""},
		{"u@relay.test", 250, smtp.EnhancedCode{2, 1, 5}, ""},
		{"u@uucp.relay.test", 450, smtp.EnhancedCode{4, 3, 5}, "<u@uucp.relay.test>: Recipient address rejected: mail transport unavailable: uucp"},
	} {
		err := c.Rcpt(tc.rcpt, nil)
		code, enh, text := 250, smtp.EnhancedCode{2, 1, 5}, ""
		if e, ok := err.(*smtp.SMTPError); ok {
			code, enh, text = e.Code, e.EnhancedCode, e.Message
		} else if err != nil {
			t.Fatalf("RCPT %s: %v", tc.rcpt, err)
		}
		if code != tc.code || enh != tc.enhanced || text != tc.text {
			t.Errorf("RCPT %s: %d %v %q; want %d %v %q", tc.rcpt, code, enh, text, tc.code, tc.enhanced, tc.text)
		}
	}
}
