package msgauth

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// spfZone is a zone for the SPF cases: one record per domain, the
// client being 192.0.2.10 or 2001:db8::25.
func spfZone(t *testing.T) (*dnstest.Server, testDNS) {
	recs := []string{
		txt("pass.example", "v=spf1 ip4:192.0.2.0/24 -all"),
		txt("fail.example", "v=spf1 -all"),
		txt("softfail.example", "v=spf1 ~all"),
		txt("neutral.example", "v=spf1 ?all"),
		txt("unknown-term.example", "v=spf1 frobnicate:x -all"),
		txt("two.example", "v=spf1 -all"), txt("two.example", "v=spf1 +all"),
		txt("servfail.example", "v=spf1 -all"),
		txt("chain.example", "v=spf1 include:chain2.example -all"),
		txt("chain2.example", "v=spf1 include:chain3.example -all"),
		txt("chain3.example", "v=spf1 ip4:192.0.2.10 -all"),
		txt("redirect.example", "v=spf1 redirect=_spf.provider.example"),
		txt("_spf.provider.example", "v=spf1 ip4:192.0.2.8/29 -all"),
		txt("macro.example", "v=spf1 exists:%{ir}.%{l}._spf.%{d} -all"),
		"10.2.0.192.alice._spf.macro.example. 60 IN A 127.0.0.2",
		txt("mx6.example", "v=spf1 mx -all"),
		"mx6.example. 60 IN MX 10 mail.mx6.example.",
		"mail.mx6.example. 60 IN AAAA 2001:db8::25",
		"mail.mx6.example. 60 IN A 198.51.100.1",
		txt("void2.example", "v=spf1 a:nx1.example a:nx2.example ip4:192.0.2.10 -all"),
		txt("void3.example", "v=spf1 a:nx1.example a:nx2.example a:nx3.example ip4:192.0.2.10 -all"),
		txt("includetemp.example", "v=spf1 a:broken.example -all"),
		txt("ptr.example", "v=spf1 ptr -all"),
		"10.2.0.192.in-addr.arpa. 60 IN PTR host.ptr.example.",
		"host.ptr.example. 60 IN A 192.0.2.10",
		"5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 60 IN PTR host6.ptr.example.",
		"host6.ptr.example. 60 IN AAAA 2001:db8::25",
		txt("xn--bcher-kva.example", "v=spf1 ip4:192.0.2.10 -all"),
		txt("helo.example", "v=spf1 a -all"),
		"helo.example. 60 IN A 192.0.2.10",
	}
	// lookups10 has exactly 10 DNS-querying terms, lookups11 one more
	// (RFC 7208 section 4.6.4): each include finds "-all", which does
	// not match, so evaluation goes on.
	var ten, eleven []string
	for i := range 11 {
		name := fmt.Sprintf("l%d.example", i)
		recs = append(recs, txt(name, "v=spf1 -all"))
		if i < 10 {
			ten = append(ten, "include:"+name)
		}
		eleven = append(eleven, "include:"+name)
	}
	recs = append(recs,
		txt("lookups10.example", "v=spf1 "+strings.Join(ten, " ")+" ip4:192.0.2.10 -all"),
		txt("lookups11.example", "v=spf1 "+strings.Join(eleven, " ")+" ip4:192.0.2.10 -all"))
	srv, d := zone(t, recs...)
	srv.SetFault("servfail.example", dns.TypeTXT, dnstest.ServFail)
	srv.SetFault("broken.example", dnstest.AnyType, dnstest.ServFail)
	return srv, d
}

func TestSPF(t *testing.T) {
	_, d := spfZone(t)
	v4, v6 := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::25")
	for _, tc := range []struct {
		domain string
		ip     netip.Addr
		want   Result
	}{
		{"pass.example", v4, Pass},
		{"fail.example", v4, Fail},
		{"softfail.example", v4, SoftFail},
		{"neutral.example", v4, Neutral},
		{"norecord.example", v4, None},
		{"unknown-term.example", v4, PermError},
		{"two.example", v4, PermError},
		{"servfail.example", v4, TempError},
		{"chain.example", v4, Pass},
		{"chain.example", netip.MustParseAddr("192.0.2.11"), Fail},
		{"redirect.example", v4, Pass},
		{"redirect.example", netip.MustParseAddr("192.0.2.16"), Fail},
		{"macro.example", v4, Pass},
		{"macro.example", netip.MustParseAddr("192.0.2.11"), Fail},
		{"mx6.example", v6, Pass},
		{"mx6.example", netip.MustParseAddr("2001:db8::26"), Fail},
		{"mx6.example", netip.MustParseAddr("198.51.100.1"), Pass},
		{"lookups10.example", v4, Pass},
		{"lookups11.example", v4, PermError},
		{"void2.example", v4, Pass},
		{"void3.example", v4, PermError},
		{"includetemp.example", v4, TempError},
		{"pass.example", netip.MustParseAddr("::ffff:192.0.2.10"), Pass},
		{"ptr.example", v4, Pass},
		{"ptr.example", v6, Pass},
		{"ptr.example", netip.MustParseAddr("192.0.2.11"), Fail},
	} {
		t.Run(tc.domain+"/"+tc.ip.String(), func(t *testing.T) {
			got := checkSPF(t.Context(), d, tc.ip, "client.example", "alice@"+tc.domain, tc.domain, "mailfrom")
			if got.Result != tc.want {
				t.Errorf("got %s (%s), want %s", got.Result, got.Reason, tc.want)
			}
		})
	}
}

// TestSPFIdentities: Check tests HELO and MAIL FROM; the null sender is
// the HELO identity alone (RFC 7208 section 2.4); a trusted forwarder is
// not checked and asks DNS nothing for SPF.
func TestSPFIdentities(t *testing.T) {
	srv, d := spfZone(t)
	c, err := New(Config{DNS: d, AuthservID: "mx.example.net", TrustedForwarders: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}})
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("From: alice@fail.example\r\n\r\nhi\r\n")
	r := c.Check(t.Context(), Message{ClientAddr: netip.MustParseAddr("192.0.2.10"), Helo: "helo.example", Sender: "alice@fail.example", Data: msg})
	if r.HeloSPF == nil || r.HeloSPF.Result != Pass || r.SPF == nil || r.SPF.Result != Fail {
		t.Errorf("HELO %+v, MAIL FROM %+v: want pass and fail", r.HeloSPF, r.SPF)
	}
	r = c.Check(t.Context(), Message{ClientAddr: netip.MustParseAddr("192.0.2.10"), Helo: "helo.example", Data: msg})
	if r.SPF != nil || r.HeloSPF == nil || r.HeloSPF.Result != Pass {
		t.Errorf("null sender: %+v, %+v: want the HELO identity alone", r.SPF, r.HeloSPF)
	}
	if !strings.Contains(r.Field(), "spf=pass smtp.helo=helo.example") {
		t.Errorf("header %q", r.Field())
	}
	r = c.Check(t.Context(), Message{ClientAddr: netip.MustParseAddr("192.0.2.10"), Helo: "[192.0.2.10]", Sender: "alice@pass.example", Data: msg})
	if r.HeloSPF != nil || r.SPF == nil || r.SPF.Result != Pass {
		t.Errorf("address literal HELO: %+v, %+v: want no HELO check", r.HeloSPF, r.SPF)
	}
	r = c.Check(t.Context(), Message{ClientAddr: netip.MustParseAddr("192.0.2.10"), Helo: "h\u00e9lo.example", Sender: "alice@B\u00fccher.example", Data: msg})
	if r.SPF == nil || r.SPF.Result != Pass || r.SPF.Domain != "xn--bcher-kva.example" || r.HeloSPF == nil || r.HeloSPF.Domain != "xn--hlo-bma.example" {
		t.Errorf("SMTPUTF8 identities: %+v, %+v: want their A-labels checked", r.SPF, r.HeloSPF)
	}
	before := srv.Count("fail.example", dns.TypeTXT, "")
	r = c.Check(t.Context(), Message{ClientAddr: netip.MustParseAddr("198.51.100.7"), Helo: "backup.example.net", Sender: "alice@fail.example", Data: msg})
	if !r.SPFSkipped || r.SPF != nil || r.HeloSPF != nil || srv.Count("fail.example", dns.TypeTXT, "") != before {
		t.Errorf("trusted forwarder: %+v: want SPF skipped without a query", r)
	}
	if strings.Contains(r.Field(), "spf=") {
		t.Errorf("trusted forwarder header has an SPF result: %q", r.Field())
	}
}
