package relay

import (
	"strings"
	"sync"
	"testing"

	"github.com/mxrelay/mxrelay/internal/peertest"
)

// An address of a domain whose addresses virtual_alias_maps rewrites is
// verified by probing what it expands to, as Postfix's probe goes through
// cleanup: info@ (an alias of alice@, whom the primary knows) is
// accepted although the primary does not know info@; team@ expands to
// alice@ and to nobody@, whom the primary refuses, so it is refused.
func TestVerifyProbesExpansion(t *testing.T) {
	var mu sync.Mutex
	var probed []string
	sink := peertest.Script(t, "220 primary.test ESMTP\r\n", func(cmd string) string {
		verb, arg, _ := strings.Cut(cmd, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			return "250-primary.test\r\n250 PIPELINING\r\n"
		case "MAIL", "RSET":
			return "250 2.1.0 Ok\r\n"
		case "RCPT":
			mu.Lock()
			probed = append(probed, arg)
			mu.Unlock()
			if strings.Contains(arg, "<alice@v.test>") {
				return "250 2.1.5 Ok\r\n"
			}
			return "550 5.1.1 User unknown\r\n"
		}
		return ""
	})
	c := verifyRelay(t, sink, `relay_domains = v.test
relay_recipient_maps =
virtual_alias_maps = inline:{ info@v.test=alice@v.test, { team@v.test = alice@v.test, nobody@v.test } }
transport_maps = inline:{v.test=relay:[127.0.0.5]}
smtpd_recipient_restrictions = reject_unverified_recipient
unverified_recipient_reject_code = 550
address_verify_poll_count = 3
address_verify_poll_delay = 1s
`)
	c.cmd(t, "MAIL FROM:<sender@example.org>")
	if code, enh, text := c.cmd(t, "RCPT TO:<info@v.test>"); code != 250 {
		t.Errorf("info@v.test (an alias of a known address): %d %s %s, want 250", code, enh, text)
	}
	if code, enh, _ := c.cmd(t, "RCPT TO:<team@v.test>"); code != 550 || enh != "5.1.1" {
		t.Errorf("team@v.test (expands to an unknown address too): %d %s, want 550 5.1.1", code, enh)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range probed {
		if strings.Contains(p, "info@") || strings.Contains(p, "team@") {
			t.Errorf("the primary was asked about the alias itself: RCPT %s", p)
		}
	}
	if len(probed) == 0 {
		t.Error("nothing was probed")
	}
}
