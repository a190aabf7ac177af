package relay

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maincf"
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
	c := startTransaction(t, addr, "sender@elsewhere.example")
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

// A zero maincf.File is refused with the real cause named: no
// compatibility_level, hence Postfix's empty backwards-compatible
// smtpd_relay_restrictions.
func TestLoadZeroFileNamesCompatibilityLevel(t *testing.T) {
	o := LoadOptions{Queue: queue.NewMemory(), DNS: []string{"127.0.0.1:1"}, InterfaceAddrs: loopbackOnly}
	_, err := Load(context.Background(), &maincf.File{}, o)
	if err == nil {
		t.Fatal("Load accepted the zero maincf.File")
	}
	for _, want := range []string{"compatibility_level is not set", "smtpd_relay_restrictions", "compatibility_level = 3.6", "open relay"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	t.Log(err)
	var ce *policy.ConfigError
	if !errors.As(err, &ce) {
		t.Errorf("error %v does not wrap the *policy.ConfigError", err)
	}

	// With compatibility_level set, the zero file loads.
	cf := &maincf.File{}
	cf.Set("compatibility_level", "3.6")
	ld, err := Load(context.Background(), cf, o)
	if err != nil {
		t.Fatalf("compatibility_level = 3.6: %v", err)
	}
	ld.Close()

	// Set, but not to a level that changes the default: the guard's own
	// message, since the cause is then the lists the file sets.
	cf = &maincf.File{}
	cf.Set("compatibility_level", "3.6")
	cf.Set("smtpd_relay_restrictions", "permit")
	if _, err := Load(context.Background(), cf, o); err == nil || strings.Contains(err.Error(), "compatibility_level is not set") {
		t.Errorf("smtpd_relay_restrictions = permit: %v", err)
	}
}

// Load(ctx, nil, ...) is an error that says what to pass.
func TestLoadNilFile(t *testing.T) {
	_, err := Load(context.Background(), nil, LoadOptions{Queue: queue.NewMemory()})
	if err == nil || !strings.Contains(err.Error(), "maincf.Parse") {
		t.Errorf("Load(nil) = %v, want an error naming maincf.Parse", err)
	}
}

// One default for the delivery workers: Config.Workers and Load (main.cf's
// default_process_limit) both give DefaultWorkers.
func TestWorkersOneDefault(t *testing.T) {
	p, err := policy.New(context.Background(), policy.Config{MyNetworks: "127.0.0.0/8", SMTPDRelayRestrictions: "permit_mynetworks, reject_unauth_destination"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	mx, err := New(Config{Policy: p, Queue: queue.NewScheduler(queue.NewMemory(), queue.Config{}), Hostname: "mx.example"})
	if err != nil {
		t.Fatal(err)
	}
	if mx.c.Workers != DefaultWorkers {
		t.Errorf("Config.Workers default = %d, want DefaultWorkers %d", mx.c.Workers, DefaultWorkers)
	}
	ld, _ := loadAndServe(t, "compatibility_level = 3.6\nmyhostname = mx.example\n", LoadOptions{})
	if ld.MX.c.Workers != DefaultWorkers {
		t.Errorf("Load's Workers default = %d, want DefaultWorkers %d", ld.MX.c.Workers, DefaultWorkers)
	}
	cf := &maincf.File{}
	if n, err := cf.Int("default_process_limit"); err != nil || n != DefaultWorkers {
		t.Errorf("main.cf default_process_limit = %d (%v), want DefaultWorkers %d", n, err, DefaultWorkers)
	}
}
