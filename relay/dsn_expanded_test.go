package relay

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestDSNExpanded: a bounced recipient that virtual_alias_maps expanded
// is named with its original, in the notification and as
// Original-Recipient, as Postfix 3.7.11 wrote the bounce of the golden
// valias case dangling.
func TestDSNExpanded(t *testing.T) {
	d := &DSN{
		Kind: DSNFailure, Hostname: "mx2.oracle.test", Origin: "mx2.oracle.test", QueueID: "Q",
		Sender: "sender@dest.test", Arrival: time.Unix(0, 0), Date: time.Unix(60, 0),
		Recipients: []DSNRecipient{{Address: "nobody@alias.test", ORCPT: "rfc822;dangling@alias.test", Status: "5.1.1",
			Reason: "User unknown in virtual alias table"}},
	}
	var buf bytes.Buffer
	if err := d.Write(&buf, strings.NewReader("Subject: x\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	out := strings.ReplaceAll(buf.String(), "\r\n    ", " ")
	for _, want := range []string{
		"<nobody@alias.test> (expanded from <dangling@alias.test>): User unknown in virtual alias table",
		"Final-Recipient: rfc822; nobody@alias.test",
		"Original-Recipient: rfc822;dangling@alias.test",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the DSN lacks %q:\n%s", want, out)
		}
	}
}
