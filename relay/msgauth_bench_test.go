package relay

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"net/netip"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/mxrelay/mxrelay/policy/msgauth"
	"github.com/mxrelay/mxrelay/transport"
	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// BenchmarkMessageAuthentication measures the DATA-stage cost of message
// authentication as relay runs it: one RSA-2048 DKIM verification of a
// 4 KiB message, SPF of the MAIL FROM (an include, two records) and HELO
// identities, DMARC, the Authentication-Results field and the removal
// of forged ones, with transport's DNS cache warm (the DNS answers are
// those of the first message). "unsigned" is the same without the
// signature: SPF and DMARC alone.
func BenchmarkMessageAuthentication(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	p := base64.StdEncoding.EncodeToString(der)
	d, err := dnstest.Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	if err := d.Add(
		`sel._domainkey.sender.example. 300 IN TXT "v=DKIM1; k=rsa; p=`+p[:200]+`" "`+p[200:]+`"`,
		`sender.example. 300 IN TXT "v=spf1 include:_spf.sender.example -all"`,
		`_spf.sender.example. 300 IN TXT "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"`,
		`_dmarc.sender.example. 300 IN TXT "v=DMARC1; p=reject; rua=mailto:d@sender.example"`,
		`client.sender.example. 300 IN TXT "v=spf1 a -all"`,
		`client.sender.example. 300 IN A 192.0.2.25`,
	); err != nil {
		b.Fatal(err)
	}
	dns, err := transport.NewDNS(transport.DNSConfig{Servers: []string{d.Addr()}, Cache: true})
	if err != nil {
		b.Fatal(err)
	}
	c, err := msgauth.New(msgauth.Config{DNS: dnsRecords{dns}, AuthservID: "mx2.example.test"})
	if err != nil {
		b.Fatal(err)
	}
	var signed bytes.Buffer
	msg := strings.Replace(benchBody, "s@sender.example", "Sender <s@sender.example>", 1)
	if err := dkim.Sign(&signed, strings.NewReader(msg), &dkim.SignOptions{Domain: "sender.example", Selector: "sel", Signer: key,
		HeaderKeys: []string{"From", "To", "Subject"}}); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		data []byte
		dkim int
	}{{"rsa-2048", signed.Bytes(), 1}, {"unsigned", []byte(msg), 0}} {
		b.Run(bc.name, func(b *testing.B) {
			m := msgauth.Message{ClientAddr: netip.MustParseAddr("192.0.2.25"), Helo: "client.sender.example", Sender: "s@sender.example", Data: bc.data}
			r := c.Check(b.Context(), m) // warms the cache
			if r.DMARC.Result != msgauth.Pass || r.SPF.Result != msgauth.Pass || r.HeloSPF.Result != msgauth.Pass || len(r.DKIM) != bc.dkim ||
				bc.dkim == 1 && r.DKIM[0].Result != msgauth.Pass {
				b.Fatalf("results %+v", r)
			}
			b.ReportAllocs()
			for b.Loop() {
				r := c.Check(b.Context(), m)
				_ = r.Field()
				_ = msgauth.StripForged(m.Data, "mx2.example.test")
			}
		})
	}
}
