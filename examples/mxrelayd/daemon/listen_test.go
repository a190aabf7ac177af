package daemon

import (
	"fmt"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/internal/testenv"
	"github.com/mxrelay/mxrelay/relay/maincf"
)

func freePort(t *testing.T) string { return testenv.FreePort(t) }

// With -config and no -listen, mxrelayd listens where master.cf's smtpd
// services say, each service's -o overrides applying to its listener
// only: bob is unknown on the MX port and accepted on the port whose
// override lists him; what either port accepts is delivered by main.cf's
// configuration.
func TestMasterCFListeners(t *testing.T) {
	primary := startSink(t, "127.0.0.1:0")
	dir := t.TempDir()
	mx, reinject := freePort(t), freePort(t)
	cfg := filepath.Join(dir, "main.cf")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`compatibility_level = 3.6
myhostname = mx2.example.test
mynetworks =
relay_domains = example.test
relay_recipient_maps = inline:{ alice@example.test=OK }
relay_transport = relay:[127.0.0.1]:%s
`, portOf(primary.addr))), 0o644)
	os.WriteFile(filepath.Join(dir, "master.cf"), []byte(fmt.Sprintf(`127.0.0.1:%s inet n - n - - smtpd
127.0.0.1:%s inet n - n - - smtpd
  -o { smtpd_banner = $myhostname ESMTP reinjection }
  -o { relay_recipient_maps = inline:{ alice@example.test=OK, bob@example.test=OK } }
pickup unix n - y 60 1 pickup
`, mx, reinject)), 0o644)
	d := start(t, "-config", cfg, "-queue", filepath.Join(dir, "q"), "-dns", noDNS)
	if !strings.Contains(d.out.String(), "127.0.0.1:"+mx) || !strings.Contains(d.out.String(), "127.0.0.1:"+reinject) {
		t.Fatalf("listening on:\n%s", d.out)
	}
	s, banner := dialSMTP(t, "127.0.0.1:"+mx)
	if strings.Contains(banner, "reinjection") {
		t.Errorf("the MX port has the other service's banner: %q", banner)
	}
	s.cmd(t, "EHLO client.example")
	s.cmd(t, "MAIL FROM:<you@sender.example>")
	if r := s.cmd(t, "RCPT TO:<bob@example.test>"); !strings.HasPrefix(r, "550 5.1.1") {
		t.Errorf("bob on the MX port: %q", r)
	}
	s.cmd(t, "QUIT")
	s, banner = dialSMTP(t, "127.0.0.1:"+reinject)
	if !strings.Contains(banner, "ESMTP reinjection") {
		t.Errorf("banner of the overridden service: %q", banner)
	}
	s.cmd(t, "QUIT")
	if err := smtp.SendMail("127.0.0.1:"+reinject, nil, "you@sender.example", []string{"bob@example.test"}, []byte("Subject: via the second port\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery of mail received on the second port", func() bool { return len(primary.messages()) == 1 })
}

// A service whose -o turns on a feature mxrelay lacks is refused by name.
func TestMasterCFOverrideRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "main.cf")
	os.WriteFile(cfg, []byte("compatibility_level = 3.6\nmyhostname = mx2.example.test\nrelay_domains = example.test\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "master.cf"), []byte(fmt.Sprintf("127.0.0.1:%s inet n - n - - smtpd -o smtpd_sasl_auth_enable=yes\n", freePort(t))), 0o644)
	var out, errs output
	code := run(t.Context(), []string{"-config", cfg, "-queue", filepath.Join(dir, "q"), "-dns", noDNS}, &out, &errs, &hooks{})
	if code == 0 || !strings.Contains(errs.String(), "smtpd_sasl_auth_enable") || !strings.Contains(errs.String(), "master.cf service 127.0.0.1:") {
		t.Errorf("exit %d: %s", code, errs.String())
	}
}

// Without master.cf, Postfix's smtpd listens on port 25 of
// inet_interfaces; "all" is the wildcard of the inet_protocols families.
func TestInterfaceListen(t *testing.T) {
	for _, tc := range []struct{ cf, want string }{
		{"inet_interfaces = 192.0.2.1, 127.0.0.1\n", "192.0.2.1:25 127.0.0.1:25"},
		{"inet_interfaces = all\ninet_protocols = ipv4\n", "0.0.0.0:25"},
		{"inet_interfaces = all\ninet_protocols = ipv6\n", "[::]:25"},
		{"inet_interfaces = all\ninet_protocols = all\n", ":25"},
		{"inet_interfaces = loopback-only\ninet_protocols = all\n", "127.0.0.1:25 [::1]:25"},
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "main.cf"), []byte("compatibility_level = 3.6\n"+tc.cf), 0o644)
		cf, err := maincf.Load(filepath.Join(dir, "main.cf"))
		if err != nil {
			t.Fatal(err)
		}
		groups, err := listenerGroups(cf)
		if err != nil {
			t.Fatalf("%q: %v", tc.cf, err)
		}
		if got := strings.Join(groups[0].addrs, " "); len(groups) != 1 || got != tc.want {
			t.Errorf("%q: listens on %q (%d groups), want %q", tc.cf, got, len(groups), tc.want)
		}
	}
}
