package relay

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maincf"
	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// TestMessageAuthentication runs message authentication end to end from
// main.cf: a signed message arrives at the next hop with our
// Authentication-Results and without the forged one that claimed our
// authserv-id; a message failing DMARC under p=reject is refused at
// DATA with 550 5.7.1.
func TestMessageAuthentication(t *testing.T) {
	inside := startSink(t)
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Add(
		`sel._domainkey.example.org. 60 IN TXT "v=DKIM1; k=ed25519; p=`+base64.StdEncoding.EncodeToString(pub)+`"`,
		`example.org. 60 IN TXT "v=spf1 ip4:127.0.0.1 -all"`,
		`_dmarc.example.org. 60 IN TXT "v=DMARC1; p=reject"`,
		`strict.example. 60 IN TXT "v=spf1 -all"`,
		`_dmarc.strict.example. 60 IN TXT "v=DMARC1; p=reject"`,
	); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr := writeFile(t, dir, "transport", fmt.Sprintf("example.com   relay:[127.0.0.1]:%s\n", port(inside.addr)))
	ld, addr := loadAndServe(t, fmt.Sprintf(`compatibility_level = 3.6
myhostname = gw.example.com
mydestination =
local_recipient_maps =
relay_domains = example.com
smtpd_recipient_restrictions = reject_unauth_destination
transport_maps = hash:%s
inet_interfaces = 127.0.0.1
mxrelay_message_authentication = yes
`, tr), LoadOptions{DNS: []string{d.Addr()}})
	if got := paramsOf(ld.Params, maincf.Ignored, maincf.Unknown, maincf.Unimplemented); len(got) != 0 {
		t.Errorf("not used: %v", got)
	}

	msg := "From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nHello.\r\n"
	var signed bytes.Buffer
	if err := dkim.Sign(&signed, strings.NewReader(msg), &dkim.SignOptions{Domain: "example.org", Selector: "sel", Signer: key}); err != nil {
		t.Fatal(err)
	}
	forged := "Authentication-Results: GW.example.com; dkim=pass header.d=bank.example\r\n" +
		"Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=example.org\r\n"
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example.org"); err != nil {
		t.Fatal(err)
	}
	if err := transact(c, "alice@example.org", []string{"bob@example.com"}, forged+signed.String()); err != nil {
		t.Fatalf("signed message: %v", err)
	}
	bad := "From: Eve <eve@strict.example>\r\nTo: bob@example.com\r\nSubject: pay\r\n\r\nPay now.\r\n"
	err = transact(c, "eve@strict.example", []string{"bob@example.com"}, bad)
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) {
		t.Errorf("DMARC p=reject failure: %v, want 550 5.7.1", err)
	}
	got := inside.wait(1)[0].Data
	// After our Received:, where Postfix puts a milter's header (its own
	// Received: is hidden from milters).
	want := "\r\nAuthentication-Results: gw.example.com;\r\n\tdkim=pass header.d=example.org header.i=@example.org;\r\n" +
		"\tspf=pass smtp.mailfrom=example.org;\r\n\tspf=none smtp.helo=client.example.org;\r\n\tdmarc=pass header.from=example.org\r\n"
	if !strings.HasPrefix(got, "Received: ") || !strings.Contains(got, want) {
		t.Errorf("next hop got no Authentication-Results of ours:\n%s", got)
	}
	if strings.Contains(got, "bank.example") {
		t.Errorf("the forged Authentication-Results reached the next hop:\n%s", got)
	}
	if !strings.Contains(got, "Authentication-Results: mx.example.org; spf=pass") {
		t.Errorf("another server's Authentication-Results was removed:\n%s", got)
	}
	if len(inside.messages()) != 1 {
		t.Errorf("next hop got %d messages, want 1 (the DMARC failure was refused)", len(inside.messages()))
	}
}

// TestMessageAuthenticationConfigErrors: a bad value of one of
// mxrelay's own parameters stops Load and names the parameter, whether
// or not message authentication is on.
func TestMessageAuthenticationConfigErrors(t *testing.T) {
	for _, line := range []string{
		"mxrelay_dmarc_reject_action = bounce",
		"mxrelay_dmarc_quarantine_action = yes",
		"mxrelay_dkim_signature_limit = 0",
		"mxrelay_spf_trusted_forwarders = 192.0.2.0/33",
		"mxrelay_message_authentication = maybe",
	} {
		cf, err := maincf.Parse(strings.NewReader("compatibility_level = 3.6\nrelay_domains = example.com\n"+line+"\n"), "main.cf")
		if err != nil {
			t.Fatal(err)
		}
		cf.InterfaceAddrs = loopbackOnly
		ld, err := Load(t.Context(), cf, LoadOptions{Queue: queue.NewMemory(), DNS: []string{"127.0.0.1:1"}})
		if err == nil {
			ld.Close()
			t.Errorf("%s: loaded", line)
			continue
		}
		if name, _, _ := strings.Cut(line, " "); !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %q does not name the parameter", line, err)
		}
	}
}
