package relay

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/lookup"
)

// A Go table keyed in lower case accepts a mixed-case recipient through
// relay_recipient_maps: keys reach tables of the caller's folded, as
// Postfix folds keys for its fixed-key tables.
func TestUserTableKeysFolded(t *testing.T) {
	users := map[string]bool{"bob@example.com": true}
	var mu sync.Mutex
	var seen []string
	tf := lookup.TableFunc(func(_ context.Context, key string) (string, bool, error) {
		mu.Lock()
		seen = append(seen, key)
		mu.Unlock()
		return "OK", users[key], nil
	})
	_, addr := loadAndServe(t, `compatibility_level = 3.6
myhostname = mx2.example.net
mynetworks =
recipient_delimiter = +
relay_domains = example.com
relay_recipient_maps = http:users
`, LoadOptions{Tables: map[string]lookup.Table{"http:users": tf}})
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("sender@elsewhere.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("Bob+tag@Example.COM", nil); err != nil {
		t.Fatalf("RCPT Bob+tag@Example.COM: %v", err)
	}
	if err := c.Rcpt("Mallory@Example.COM", nil); err == nil {
		t.Fatal("RCPT Mallory@Example.COM accepted")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, k := range seen {
		if k != lookup.FoldKey(k) {
			t.Errorf("the table was asked %q, not folded", k)
		}
	}
	if !slices.Contains(seen, "bob+tag@example.com") {
		t.Errorf("keys asked %q, want bob+tag@example.com among them", seen)
	}
}
