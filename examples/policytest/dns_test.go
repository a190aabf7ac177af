package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// -dns sends the restrictions' DNS queries to the server given, never to
// the machine's resolver: reject_unknown_sender_domain answers from it.
func TestDNSFlag(t *testing.T) {
	srv, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.Add("known.test. 300 IN MX 10 mx.known.test.", "mx.known.test. 300 IN A 192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cf := filepath.Join(dir, "main.cf")
	os.WriteFile(cf, []byte(`compatibility_level = 3.6
myhostname = mx.example.test
mydestination =
mynetworks =
relay_domains = example.test
relay_recipient_maps =
smtpd_sender_restrictions = reject_unknown_sender_domain
`), 0o644)
	probes := "192.0.2.9 a@known.test u@example.test 250\n192.0.2.9 a@unknown.test u@example.test 450 4.1.8\n"
	code, out, errs := runDry(t, probes, "-config", cf, "-dns", srv.Addr())
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if srv.Count("known.test.", dns.TypeMX, "udp")+srv.Count("known.test.", dns.TypeMX, "tcp") == 0 {
		t.Errorf("the DNS server given was not asked:\n%s", out)
	}
	if !strings.Contains(out, "Domain not found") {
		t.Errorf("no unknown-domain answer:\n%s", out)
	}
}
