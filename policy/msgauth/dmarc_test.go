package msgauth

import (
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxrelay/mxrelay/transport/dnstest"
)

func TestDMARC(t *testing.T) {
	srv, d := zone(t,
		txt("rsa._domainkey.example.org", keyRecord(rsaKey())),
		txt("ed._domainkey.mail.example.org", keyRecord(edKey())),
		txt("ed._domainkey.other.example", keyRecord(edKey())),
		txt("example.org", "v=spf1 ip4:192.0.2.0/24 -all"),
		txt("mail.example.org", "v=spf1 ip4:192.0.2.0/24 -all"),
		txt("other.example", "v=spf1 ip4:192.0.2.0/24 -all"),
		txt("_dmarc.example.org", "v=DMARC1; p=reject; sp=quarantine"),
		txt("_dmarc.strict.example.org", "v=DMARC1; p=reject; aspf=s; adkim=s"),
		txt("strict.example.org", "v=spf1 ip4:192.0.2.0/24 -all"),
		txt("_dmarc.own.example.org", "v=DMARC1; p=none"),
		txt("_dmarc.quarantine.example", "v=DMARC1; p=quarantine"),
		txt("_dmarc.none.example", "v=DMARC1; p=none"),
		txt("_dmarc.pct.example", "v=DMARC1; p=reject; pct=30"),
		txt("_dmarc.example.co.uk", "v=DMARC1; p=reject"),
		txt("_dmarc.bad.example", "v=DMARC1; p=maybe"),
		txt("_dmarc.two.example", "v=DMARC1; p=none"), txt("_dmarc.two.example", "v=DMARC1; p=reject"),
		txt("_dmarc.other-text.example", "google-site-verification=abc"),
		txt("_dmarc.xn--bcher-kva.example", "v=DMARC1; p=reject"),
		txt("xn--bcher-kva.example", "v=spf1 ip4:192.0.2.0/24 -all"),
	)
	srv.SetFault("_dmarc.broken.example", dns.TypeTXT, dnstest.ServFail)
	mail := func(from string) string {
		return "From: <someone@" + from + ">\r\nTo: bob@example.net\r\nSubject: quarterly figures\r\nDate: Mon, 07 Dec 2026 01:00:00 +0000\r\nMessage-ID: <1@x>\r\n\r\nHello.\r\n"
	}
	in, out := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("203.0.113.5")
	sample := 50
	for _, tc := range []struct {
		name    string
		client  netip.Addr
		sender  string
		msg     string
		cfg     Config
		want    Result
		policy  Policy
		spf     bool // SPF aligned
		dkim    bool // DKIM aligned
		action  Action
		sampled bool
	}{
		{name: "pass via SPF only", client: in, sender: "b@example.org", msg: mail("example.org"),
			want: Pass, policy: PolicyReject, spf: true, action: Annotate},
		{name: "pass via DKIM only", client: out, sender: "b@example.org", msg: sign(t, mail("example.org"), "example.org", "rsa", rsaKey(), time.Time{}),
			want: Pass, policy: PolicyReject, dkim: true, action: Annotate},
		{name: "misaligned: SPF and DKIM pass for another domain", client: in, sender: "b@other.example",
			msg:  sign(t, mail("example.org"), "other.example", "ed", edKey(), time.Time{}),
			want: Fail, policy: PolicyReject, action: Reject, sampled: true},
		{name: "relaxed: a subdomain's SPF and DKIM align", client: in, sender: "b@mail.example.org",
			msg:  sign(t, mail("example.org"), "mail.example.org", "ed", edKey(), time.Time{}),
			want: Pass, policy: PolicyReject, spf: true, dkim: true, action: Annotate},
		{name: "strict: a parent's SPF does not align", client: in, sender: "b@example.org", msg: mail("strict.example.org"),
			want: Fail, policy: PolicyReject, action: Reject, sampled: true},
		{name: "strict: the exact domain's SPF aligns", client: in, sender: "b@strict.example.org", msg: mail("strict.example.org"),
			want: Pass, policy: PolicyReject, spf: true, action: Annotate},
		{name: "strict: a parent's DKIM does not align", client: out, sender: "b@strict.example.org",
			msg:  sign(t, mail("strict.example.org"), "example.org", "rsa", rsaKey(), time.Time{}),
			want: Fail, policy: PolicyReject, action: Reject, sampled: true},
		{name: "p=reject fails", client: out, sender: "b@example.org", msg: mail("example.org"),
			want: Fail, policy: PolicyReject, action: Reject, sampled: true},
		{name: "p=reject annotated when so configured", client: out, sender: "b@example.org", msg: mail("example.org"),
			cfg: Config{OnReject: Annotate}, want: Fail, policy: PolicyReject, action: Annotate, sampled: true},
		{name: "p=quarantine annotates by default", client: out, sender: "b@quarantine.example", msg: mail("quarantine.example"),
			want: Fail, policy: PolicyQuarantine, action: Annotate, sampled: true},
		{name: "p=quarantine holds when so configured", client: out, sender: "b@quarantine.example", msg: mail("quarantine.example"),
			cfg: Config{OnQuarantine: Hold}, want: Fail, policy: PolicyQuarantine, action: Hold, sampled: true},
		{name: "p=none", client: out, sender: "b@none.example", msg: mail("none.example"),
			want: Fail, policy: PolicyNone, action: Annotate, sampled: true},
		{name: "sp= for a subdomain without a record (org-domain fallback)", client: out, sender: "b@deep.sub.example.org", msg: mail("deep.sub.example.org"),
			want: Fail, policy: PolicyQuarantine, action: Annotate, sampled: true},
		{name: "a subdomain's own record uses its p=", client: out, sender: "b@own.example.org", msg: mail("own.example.org"),
			want: Fail, policy: PolicyNone, action: Annotate, sampled: true},
		{name: "org-domain fallback under a two-label public suffix", client: out, sender: "b@a.b.example.co.uk", msg: mail("a.b.example.co.uk"),
			want: Fail, policy: PolicyReject, action: Reject, sampled: true},
		{name: "pct=30, sampled in", client: out, sender: "b@pct.example", msg: mail("pct.example"),
			cfg: Config{Sample: func() int { return 29 }}, want: Fail, policy: PolicyReject, action: Reject, sampled: true},
		{name: "pct=30, sampled out: one step lower", client: out, sender: "b@pct.example", msg: mail("pct.example"),
			cfg: Config{Sample: func() int { return 30 }}, want: Fail, policy: PolicyQuarantine, action: Annotate},
		{name: "no record", client: out, sender: "b@nodmarc.example", msg: mail("nodmarc.example"), want: None, action: Annotate},
		{name: "no DMARC record among other TXT records", client: out, sender: "b@other-text.example", msg: mail("other-text.example"), want: None, action: Annotate},
		{name: "DNS trouble is temperror, never a rejection", client: out, sender: "b@broken.example", msg: mail("broken.example"), want: TempError, action: Annotate},
		{name: "bad record", client: out, sender: "b@bad.example", msg: mail("bad.example"), want: PermError, action: Annotate},
		{name: "two records", client: out, sender: "b@two.example", msg: mail("two.example"), want: PermError, action: Annotate},
		{name: "a U-label From aligns with its A-labels", client: in, sender: "b@xn--bcher-kva.example", msg: mail("b\u00fccher.example"),
			want: Pass, policy: PolicyReject, spf: true, action: Annotate},
		{name: "a U-label From fails as its A-labels", client: out, sender: "b@xn--bcher-kva.example", msg: mail("b\u00fccher.example"),
			want: Fail, policy: PolicyReject, action: Reject, sampled: true},
		{name: "two From addresses", client: out, sender: "b@example.org", msg: "From: a@example.org, b@example.org\r\n\r\nx\r\n", want: None, action: Annotate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.DNS, cfg.AuthservID = d, "mx.example.net"
			if cfg.Sample == nil {
				cfg.Sample = func() int { return sample }
			}
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := c.Check(t.Context(), Message{ClientAddr: tc.client, Helo: "[" + tc.client.String() + "]", Sender: tc.sender, Data: []byte(tc.msg)})
			got := r.DMARC
			if got.Result != tc.want || got.Policy != tc.policy || got.SPFAligned != tc.spf || got.DKIMAligned != tc.dkim || r.Action != tc.action || got.Sampled != tc.sampled {
				t.Errorf("got %s policy %q spf %v dkim %v sampled %v action %s (%s), want %s policy %q spf %v dkim %v sampled %v action %s\nSPF %+v DKIM %+v",
					got.Result, got.Policy, got.SPFAligned, got.DKIMAligned, got.Sampled, r.Action, got.Reason,
					tc.want, tc.policy, tc.spf, tc.dkim, tc.sampled, tc.action, r.SPF, r.DKIM)
			}
		})
	}
	if n := srv.Count("_dmarc.b.example.co.uk", dns.TypeTXT, ""); n != 0 {
		t.Errorf("asked _dmarc.b.example.co.uk %d times: discovery goes straight to the organizational domain", n)
	}
	if n := srv.Count("_dmarc.a.b.example.co.uk", dns.TypeTXT, ""); n != 1 {
		t.Errorf("asked _dmarc.a.b.example.co.uk %d times, want 1", n)
	}
}
