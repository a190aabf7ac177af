package relay

import (
	"net/smtp"
	"testing"
)

// TestMessageSizeLimitZero: "message_size_limit = 0" means no limit
// (postconf(5)) for the whole relay: MX.MessageSizeLimit reports none, and
// MAIL FROM with a SIZE above Postfix's default 10240000 is accepted by the
// policy too (both once read main.cf separately and disagreed).
func TestMessageSizeLimitZero(t *testing.T) {
	for _, tc := range []struct {
		limit, size string
		want        int64
		ok          bool
	}{
		{"0", "20000000", 0, true},
		{"10240000", "20000000", 10240000, false},
	} {
		ld, addr := loadAndServe(t, "compatibility_level = 3.6\nmyhostname = mx.example.net\nrelay_domains = example.test\nmessage_size_limit = "+tc.limit+"\n", LoadOptions{})
		if got := ld.MX.MessageSizeLimit(); got != tc.want {
			t.Errorf("message_size_limit = %s: MessageSizeLimit() = %d, want %d", tc.limit, got, tc.want)
		}
		c, err := smtp.Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Hello("client.example"); err != nil {
			t.Fatal(err)
		}
		id, err := c.Text.Cmd("MAIL FROM:<a@sender.example> SIZE=%s", tc.size)
		if err != nil {
			t.Fatal(err)
		}
		c.Text.StartResponse(id)
		code, msg, err := c.Text.ReadResponse(250)
		c.Text.EndResponse(id)
		if (err == nil) != tc.ok {
			t.Errorf("message_size_limit = %s, SIZE=%s: %d %s", tc.limit, tc.size, code, msg)
		}
		c.Close()
	}
}
