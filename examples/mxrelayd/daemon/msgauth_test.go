package daemon

import (
	"fmt"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// Message authentication through the daemon, as an admin turns it on:
// the next hop gets our Authentication-Results header and not a forged
// one claiming our authserv-id, and a sender whose DMARC policy is
// reject and whose mail fails DMARC is refused at DATA with 550 5.7.1.
func TestMessageAuthentication(t *testing.T) {
	zone, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer zone.Close()
	// The client is 127.0.0.1: SPF passes for allowed.example and
	// fails for strict.example, whose DMARC policy is reject.
	if err := zone.AddZone(`
$ORIGIN example.
allowed        300 IN TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc.allowed 300 IN TXT "v=DMARC1; p=reject"
strict         300 IN TXT "v=spf1 ip4:192.0.2.1 -all"
_dmarc.strict  300 IN TXT "v=DMARC1; p=reject"
`); err != nil {
		t.Fatal(err)
	}
	primary := startSink(t, "127.0.0.1:0")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "main.cf")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`compatibility_level = 3.6
myhostname = mx2.example.test
mydestination =
mynetworks =
relay_domains = example.test
relay_recipient_maps = inline:{ alice@example.test=OK }
relay_transport = relay:[127.0.0.1]:%s
mxrelay_message_authentication = yes
`, portOf(primary.addr))), 0o644)
	d := start(t, "-config", cfg, "-listen", "127.0.0.1:0", "-queue", filepath.Join(dir, "q"), "-dns", zone.Addr())

	forged := "Authentication-Results: MX2.example.test.; dmarc=pass header.from=bank.example\r\n" +
		"From: <a@allowed.example>\r\nSubject: authenticated\r\n\r\nhello\r\n"
	if err := smtp.SendMail(d.addr, nil, "a@allowed.example", []string{"alice@example.test"}, []byte(forged)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery", func() bool { return len(primary.messages()) == 1 })
	m := primary.messages()[0]
	if strings.Count(m, "Authentication-Results:") != 1 || !strings.Contains(m, "Authentication-Results: mx2.example.test;") ||
		!strings.Contains(m, "spf=pass smtp.mailfrom=allowed.example") || !strings.Contains(m, "dmarc=pass header.from=allowed.example") ||
		strings.Contains(m, "bank.example") {
		t.Errorf("the next hop got:\n%s", m)
	}

	err = smtp.SendMail(d.addr, nil, "a@strict.example", []string{"alice@example.test"},
		[]byte("From: <a@strict.example>\r\nSubject: spoofed\r\n\r\nhello\r\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "550") || !strings.Contains(err.Error(), "5.7.1 Message rejected: the DMARC policy of strict.example is reject") {
		t.Errorf("a DMARC reject failure: %v", err)
	}
}
