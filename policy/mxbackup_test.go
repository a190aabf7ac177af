package policy

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/lookup"
)

// permit_mx_backup's DNS and table failures never refuse for good: they
// turn the relay check's 554 into Postfix's 450 4.4.4, and a session
// asks each name once.
func TestPermitMXBackupFailures(t *testing.T) {
	zone := map[string][]string{
		"backup.stranger.example MX": {"10 primary.stranger.example", "20 mx.example.net"},
		"primary.stranger.example A": {"198.51.100.1"},
		"mx.example.net A":           {"127.0.0.1"},
		"fine.stranger.example MX":   {"10 primary.stranger.example"},
		"slowmx.stranger.example MX": {"10 primary.stranger.example", "20 slow.stranger.example"},
	}
	dnsFail := errors.New("SERVFAIL")
	newPolicy := func(nets string) (*Policy, *countingDNS) {
		d := &countingDNS{zone: zone}
		c := backupMX()
		c.DNS = DNSFunc(func(ctx context.Context, name string, t RRType) ([]string, error) {
			if name == "broken.stranger.example" || name == "slow.stranger.example" {
				d.LookupRecords(ctx, name, t)
				return nil, dnsFail
			}
			return d.LookupRecords(ctx, name, t)
		})
		c.PermitMXBackupNetworks = nets
		c.Tables = map[string]lookup.Table{"test:fail": failing(lookup.Temporary)}
		c.SMTPDRelayRestrictions = "permit_mynetworks, permit_mx_backup, reject_unauth_destination"
		return mustNew(t, c), d
	}
	p, _ := newPolicy("")
	wantReply(t, rcpt(p, "203.0.113.1", "<u@backup.stranger.example>"), "250 2.1.5 Ok")
	wantReply(t, rcpt(p, "203.0.113.1", "<u@fine.stranger.example>"),
		"554 5.7.1 <u@fine.stranger.example>: Relay access denied")
	wantReply(t, rcpt(p, "203.0.113.1", "<u@broken.stranger.example>"),
		"450 4.4.4 <u@broken.stranger.example>: Recipient address rejected: Unable to look up mail exchanger information: Host not found, try again")
	wantReply(t, rcpt(p, "203.0.113.1", "<u@slowmx.stranger.example>"),
		"450 4.4.4 <u@slowmx.stranger.example>: Recipient address rejected: Unable to look up mail exchanger host slow.stranger.example: Temporary failure in name resolution")

	p, _ = newPolicy("test:fail")
	wantReply(t, rcpt(p, "203.0.113.1", "<u@backup.stranger.example>"),
		"450 4.4.4 <u@backup.stranger.example>: Recipient address rejected: Unable to verify host primary.stranger.example as mail exchanger")
	p, _ = newPolicy("198.51.100.0/24")
	wantReply(t, rcpt(p, "203.0.113.1", "<u@backup.stranger.example>"), "250 2.1.5 Ok")
	p, _ = newPolicy("203.0.113.0/24")
	wantReply(t, rcpt(p, "203.0.113.1", "<u@backup.stranger.example>"),
		"554 5.7.1 <u@backup.stranger.example>: Relay access denied")

	// One session: the second recipient of a domain asks DNS nothing.
	p, d := newPolicy("")
	sess := NewSession()
	for i := range 2 {
		before := d.count()
		req := &Request{Stage: StageRcpt, ClientAddr: netip.MustParseAddr("203.0.113.1"), Helo: "client.example",
			Sender: "<s@sender.example>", Recipient: "<u@backup.stranger.example>", Session: sess}
		wantReply(t, p.Check(context.Background(), req), "250 2.1.5 Ok")
		if n := d.count() - before; i == 1 && n != 0 {
			t.Errorf("second recipient asked DNS %d times", n)
		}
	}
}

// FuzzParseMXs checks the reading of MX answers (DNS data, which a
// hostile domain controls): records come out sorted by preference, with
// preferences in range and hosts without a trailing dot, and never more
// records than went in.
func FuzzParseMXs(f *testing.F) {
	for _, s := range []string{"10 mx.example", "0 .", "10 a.example\n5 b.example\n10 c.example", "65536 x", "-1 x",
		"10", "x y", " 10 a", "10  a", "10 a.example."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		rrs := strings.Split(in, "\n")
		mxs := parseMXs(rrs)
		if len(mxs) > len(rrs) {
			t.Fatalf("%d records from %d", len(mxs), len(rrs))
		}
		for i, m := range mxs {
			if m.pref < 0 || m.pref > 65535 || strings.HasSuffix(m.host, ".") || strings.HasPrefix(m.host, ".") || strings.Contains(m.host, " ") {
				t.Fatalf("bad record %+v from %q", m, in)
			}
			if i > 0 && mxs[i-1].pref > m.pref {
				t.Fatalf("not sorted: %+v", mxs)
			}
		}
		if isNullMX(mxs) && (len(mxs) != 1 || mxs[0].host != "") {
			t.Fatalf("null MX %+v", mxs)
		}
	})
}
