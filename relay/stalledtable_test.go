package relay

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/lookup"
)

// A table of the user's that stops answering for one domain (it ignores
// its context, as a read from a dead server does) delays only the RCPTs
// that need that answer, and those for LoadOptions.LookupTimeout at
// most, after which they answer "451 4.3.0 Temporary lookup failure"; the
// session goes on and a RCPT of another domain is accepted.
func TestStalledUserTableAnswers451(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	users := lookup.TableFunc(func(_ context.Context, key string) (string, bool, error) {
		if strings.HasSuffix(key, "@stalled.example") {
			<-release
		}
		return "OK", true, nil
	})
	_, addr := loadAndServe(t, `compatibility_level = 3.6
myhostname = mx2.example.net
mynetworks =
relay_domains = stalled.example, open.example
relay_recipient_maps = http:users
`, LoadOptions{LookupTimeout: 200 * time.Millisecond, Tables: map[string]lookup.Table{"http:users": users}})
	c := startTransaction(t, addr, "sender@elsewhere.example")
	err := c.Rcpt("bob@stalled.example", nil)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 451 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 0}) || !strings.Contains(se.Message, "Temporary lookup failure") {
		t.Fatalf("RCPT to the stalled table's domain: %v, want 451 4.3.0 Temporary lookup failure", err)
	}
	if err := c.Rcpt("alice@open.example", nil); err != nil {
		t.Fatalf("RCPT of another domain after the stall: %v", err)
	}
}
