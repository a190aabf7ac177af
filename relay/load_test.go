package relay

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maincf"
	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// loadAndServe loads a main.cf, serves it on a loopback port and returns
// the address.
func loadAndServe(t *testing.T, mainCF string, o LoadOptions) (*Loaded, string) {
	t.Helper()
	cf, err := maincf.Parse(strings.NewReader(mainCF), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	if o.Queue == nil {
		o.Queue = queue.NewMemory()
	}
	if o.DNS == nil {
		d, err := dnstest.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		o.DNS = []string{d.Addr()}
	}
	if o.InterfaceAddrs == nil {
		o.InterfaceAddrs = func() ([]netip.Prefix, error) {
			return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}, nil
		}
	}
	ld, err := Load(context.Background(), cf, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ld.Close() })
	_, addr := serve(t, ld.Server)
	return ld, addr
}

// serve runs a Server on a loopback port until the test ends.
func serve(t *testing.T, sc ServerConfig) (*Server, string) {
	t.Helper()
	srv, err := NewServer(sc)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(context.Background(), l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, l.Addr().String()
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoadPrimaryMXExample runs Postfix's STANDARD_CONFIGURATION_README
// firewall/gateway example unchanged except for the paths and the inside
// host's port: a primary MX that relays example.com to an inside host
// with relay:[host] in transport_maps, and validates recipients.
func TestLoadPrimaryMXExample(t *testing.T) {
	inside := startSink(t)
	dir := t.TempDir()
	rr := writeFile(t, dir, "relay_recipients", "user1@example.com   x\nuser2@example.com   x\n")
	tr := writeFile(t, dir, "transport", fmt.Sprintf("example.com   relay:[127.0.0.1]:%s\n", port(inside.addr)))
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
myhostname = gw.example.com
myorigin = example.com
mydestination =
local_recipient_maps =
local_transport = error:local mail delivery is disabled
relay_domains = example.com
parent_domain_matches_subdomains =
    debug_peer_list smtpd_access_maps
smtpd_recipient_restrictions =
    permit_mynetworks reject_unauth_destination
relay_recipient_maps = hash:%s
transport_maps = hash:%s
inet_interfaces = 127.0.0.1
mynetworks = 192.0.2.0/24
`, rr, tr)
	ld, addr := loadAndServe(t, mainCF, LoadOptions{})
	if got := paramsOf(ld.Params, maincf.Ignored, maincf.Unknown, maincf.Unimplemented); len(got) != 0 {
		t.Errorf("not used: %v", got)
	}
	sendProbes(t, addr, "user1@example.com", "nosuch@example.com", "u@other.example")
	m := inside.wait(1)
	if m[0].To[0] != "user1@example.com" || !strings.Contains(m[0].Data, "by gw.example.com (Postfix)") {
		t.Errorf("inside host got %+v", m[0])
	}
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// TestLoadBackupMXExample runs the backup MX example of the same document:
// relay_domains with relay_recipient_maps, the primary found through MX
// records, this host's address cutting the MX list (smtp_addr.c).
func TestLoadBackupMXExample(t *testing.T) {
	primary := startSink(t)
	d, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.AddZone(`
$ORIGIN the.backed-up.domain.tld.
@        300 IN MX 10 primary
@        300 IN MX 20 backup
primary  300 IN A 127.0.0.2
backup   300 IN A 127.0.0.1
`); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rr := writeFile(t, dir, "relay_recipients", "user@the.backed-up.domain.tld   x\n")
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
myhostname = backup.the.backed-up.domain.tld
relay_domains = $mydestination the.backed-up.domain.tld
smtpd_recipient_restrictions =
    permit_mynetworks reject_unauth_destination
relay_recipient_maps = hash:%s
inet_interfaces = 127.0.0.1
mynetworks = 192.0.2.0/24
`, rr)
	_, addr := loadAndServe(t, mainCF, LoadOptions{
		DNS: []string{d.Addr()},
		Dialer: dialerFunc(func(ctx context.Context, network, address string) (net.Conn, error) {
			if address != "127.0.0.2:25" {
				return nil, fmt.Errorf("connection refused: %s", address)
			}
			var nd net.Dialer
			return nd.DialContext(ctx, network, primary.addr)
		}),
	})
	sendProbes(t, addr, "user@the.backed-up.domain.tld", "other@the.backed-up.domain.tld", "x@elsewhere.example")
	m := primary.wait(1)
	if m[0].To[0] != "user@the.backed-up.domain.tld" {
		t.Errorf("primary got %+v", m[0])
	}
}

type dialerFunc func(ctx context.Context, network, address string) (net.Conn, error)

func (f dialerFunc) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return f(ctx, network, address)
}

func TestLoadWarnings(t *testing.T) {
	cf, _ := maincf.Parse(strings.NewReader("myhostname = mx.example.net\nrelay_domains = example.test\nbiff = no\nsmtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n"), "main.cf")
	ld, err := Load(context.Background(), cf, LoadOptions{Queue: queue.NewMemory(), DNS: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ld.Close()
	w := strings.Join(ld.Warnings, "\n")
	if !strings.Contains(w, "compatibility_level is not set") {
		t.Errorf("no compatibility warning:\n%s", w)
	}
	if !strings.Contains(w, "relay_recipient_maps") {
		t.Errorf("no backscatter warning (empty relay_recipient_maps):\n%s", w)
	}
	if got := paramsOf(ld.Params, maincf.Ignored); !slices.Equal(got, []string{"biff"}) {
		t.Errorf("Ignored %v", got)
	}
	dir := t.TempDir()
	tr := writeFile(t, dir, "transport", "@example.test smtp:[a.example]\n*  smtp:[smart.example]\n")
	cf = mustParse("compatibility_level = 3.6\nrelay_domains = example.test\nsmtp_fallback_relay = [fb.example]\ntransport_maps = hash:" + tr + "\n")
	ld2, err := Load(context.Background(), cf, LoadOptions{Queue: queue.NewMemory(), DNS: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ld2.Close()
	w = strings.Join(ld2.Warnings, "\n")
	for _, want := range []string{`key "@example.test" never matches`, `the "*" entry (smtp:[smart.example]) routes every recipient`, "smtp_fallback_relay = [fb.example]"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
	if _, err := Load(context.Background(), mustParse("message_size_limit = big\n"), LoadOptions{Queue: queue.NewMemory(), DNS: []string{"127.0.0.1:1"}}); err == nil {
		t.Error("bad message_size_limit accepted")
	}
}

// paramsOf lists the names of the parameters of the given kinds.
func paramsOf(params []maincf.Param, kinds ...maincf.Kind) []string {
	var out []string
	for _, p := range params {
		if slices.Contains(kinds, p.Kind) {
			out = append(out, p.Name)
		}
	}
	return out
}

func mustParse(s string) *maincf.File {
	cf, err := maincf.Parse(strings.NewReader(s), "main.cf")
	if err != nil {
		panic(err)
	}
	return cf
}

// TestLoadTLS: smtpd_tls_security_level = may with Debian's cert/key
// parameters offers STARTTLS; a missing certificate disables it with a
// warning, as Postfix does.
func TestLoadTLS(t *testing.T) {
	certFile, keyFile := writeTLSFiles(t)
	ld, addr := loadAndServe(t, fmt.Sprintf(`compatibility_level = 3.6
myhostname = mx2.example.test
relay_domains = example.test
smtpd_tls_cert_file=%s
smtpd_tls_key_file=%s
smtpd_tls_security_level=may
`, certFile, keyFile), LoadOptions{})
	if ld.Server.TLS == nil {
		t.Fatalf("no TLS configuration; warnings %q", ld.Warnings)
	}
	c, err := smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	c.Close()

	cf := mustParse("compatibility_level = 3.6\nsmtpd_tls_security_level = may\nsmtpd_tls_cert_file = /nonexistent/cert.pem\n")
	ld2, err := Load(context.Background(), cf, LoadOptions{Queue: queue.NewMemory(), DNS: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ld2.Close()
	if ld2.Server.TLS != nil || !strings.Contains(strings.Join(ld2.Warnings, "\n"), "STARTTLS is disabled") {
		t.Errorf("missing certificate: TLS %v, warnings %q", ld2.Server.TLS, ld2.Warnings)
	}
}

// TestLoadPostfixSampleMainCF loads Postfix's own sample main.cf (every
// parameter it ships, compatibility_level 3.7) with the relay lines of a
// backup MX added: it loads, its banner is kept, and what mxrelay does
// not use is listed, not dropped.
func TestLoadPostfixSampleMainCF(t *testing.T) {
	const sample = "/usr/share/postfix/main.cf.dist"
	b, err := os.ReadFile(sample)
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("%s: %v (Postfix is not installed; under CI=true this fails)", sample, err)
		}
		t.Fatal(err)
	}
	dir := t.TempDir()
	rr := writeFile(t, dir, "relay_recipients", "user@example.test x\n")
	text := string(b) + "\nmyhostname = mx2.example.test\nrelay_domains = example.test\nrelay_recipient_maps = hash:" + rr + "\n"
	ld, addr := loadAndServe(t, text, LoadOptions{})
	if ld.Server.Banner != "mx2.example.test ESMTP Postfix (Debian/GNU)" && ld.Server.Banner != "mx2.example.test ESMTP Postfix" {
		t.Errorf("banner %q", ld.Server.Banner)
	}
	if got := paramsOf(ld.Params, maincf.Ignored); !slices.Contains(got, "command_directory") {
		t.Errorf("ignored parameters %v lack command_directory", got)
	}
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("s@elsewhere.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("user@example.test", nil); err != nil {
		t.Errorf("known recipient: %v", err)
	}
	if err := c.Rcpt("other@example.test", nil); smtpCode(err) != 550 {
		t.Errorf("unknown recipient: %v", err)
	}
}

// TestLoadClientTLS: smtp_tls_security_level = encrypt refuses to send to
// a next hop without STARTTLS (deferred, 4.7.4); an unknown level is an
// error.
func TestLoadClientTLS(t *testing.T) {
	inside := startSink(t)
	attempts := make(chan Attempt, 10)
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
myhostname = gw.example.com
mynetworks =
relay_domains = example.com
relay_transport = relay:[127.0.0.1]:%s
smtp_tls_security_level = encrypt
`, port(inside.addr))
	_, addr := loadAndServe(t, mainCF, LoadOptions{Observer: ObserverFuncs{AttemptedFunc: func(a Attempt) { attempts <- a }}})
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := transact(c, "s@elsewhere.example", []string{"u@example.com"}, "Subject: secret\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-attempts:
		if a.Status != "deferred" || a.DSN != "4.7.4" {
			t.Errorf("attempt %+v, want deferred 4.7.4", a)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no delivery attempt")
	}
	if n := len(inside.messages()); n != 0 {
		t.Errorf("sent in clear despite encrypt: %d messages", n)
	}
	_, err = Load(context.Background(), mustParse("compatibility_level = 3.6\nsmtp_tls_security_level = dane-only\n"), LoadOptions{Queue: queue.NewMemory(), DNS: []string{"127.0.0.1:1"}})
	if err == nil || !strings.Contains(err.Error(), "smtp_tls_security_level") {
		t.Errorf("dane-only: %v", err)
	}
}

// TestLoadMyAddresses: "my addresses" (handed to transport's MX rule,
// with which smtp_addr.c finds this host in an MX list) are the
// listening addresses, inet_interfaces and proxy_interfaces; "all" and
// an unspecified listen address mean every interface address; a host
// name is reported, not resolved.
func TestLoadMyAddresses(t *testing.T) {
	ifaces := func() ([]netip.Prefix, error) {
		return []netip.Prefix{netip.MustParsePrefix("10.0.0.5/24"), netip.PrefixFrom(netip.MustParseAddr("fe80::1%eth0"), 64)}, nil
	}
	for _, tc := range []struct {
		name   string
		cf     string
		listen []string
		want   []string
	}{
		{"interfaces and proxy", "inet_interfaces = 192.0.2.2, [2001:db8::2]\nproxy_interfaces = 198.51.100.7\n", []string{"127.0.0.1"},
			[]string{"127.0.0.1", "192.0.2.2", "2001:db8::2", "198.51.100.7"}},
		{"all", "inet_interfaces = all\n", nil, []string{"10.0.0.5", "fe80::1"}},
		{"unspecified listen", "inet_interfaces = 192.0.2.2\n", []string{"0.0.0.0"}, []string{"10.0.0.5", "fe80::1", "192.0.2.2"}},
		{"loopback-only, duplicates once", "inet_interfaces = loopback-only\nproxy_interfaces = 127.0.0.1\n", []string{"::ffff:127.0.0.1"}, []string{"127.0.0.1", "::1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var listen []netip.Addr
			for _, a := range tc.listen {
				listen = append(listen, netip.MustParseAddr(a))
			}
			ld, err := Load(context.Background(), mustParse("compatibility_level = 3.6\nmyhostname = mx.example.net\nrelay_domains = example.test\nrelay_recipient_maps = inline:{u@example.test=OK}\n"+tc.cf),
				LoadOptions{Queue: queue.NewMemory(), DNS: []string{"127.0.0.1:1"}, Listen: listen, InterfaceAddrs: ifaces})
			if err != nil {
				t.Fatal(err)
			}
			defer ld.Close()
			var got []string
			for _, a := range ld.MyAddresses {
				got = append(got, a.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("MyAddresses %v, want %v", got, tc.want)
			}
		})
	}
	_, err := Load(context.Background(), mustParse("compatibility_level = 3.6\nrelay_domains = example.test\nproxy_interfaces = lb.example.net\n"),
		LoadOptions{Queue: queue.NewMemory(), DNS: []string{"127.0.0.1:1"}, InterfaceAddrs: ifaces})
	if err == nil || !strings.Contains(err.Error(), `"lb.example.net" is not an IP address`) {
		t.Errorf("a host name in proxy_interfaces: %v", err)
	}
}

// sendProbes checks a loaded relay's answers as Postfix's examples
// promise them (an unknown recipient of a relay domain 550, a foreign
// domain 454, as the default relay restrictions answer) and sends one
// message to the known recipient.
func sendProbes(t *testing.T, addr, known, unknown, foreign string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("s@elsewhere.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(unknown, nil); smtpCode(err) != 550 {
		t.Errorf("unknown recipient %s: %v", unknown, err)
	}
	if err := c.Rcpt(foreign, nil); smtpCode(err) != 454 {
		t.Errorf("relay attempt to %s: %v", foreign, err)
	}
	if err := c.Rcpt(known, nil); err != nil {
		t.Fatal(err)
	}
	wc, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(wc, "Subject: probe\r\n\r\nhi\r\n")
	if err := wc.Close(); err != nil {
		t.Fatal(err)
	}
}

// startTransaction connects to addr, says EHLO client.example and MAIL
// FROM sender, failing the test on any error; the connection closes with
// the test.
func startTransaction(t *testing.T, addr, sender string) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(sender, nil); err != nil {
		t.Fatal(err)
	}
	return c
}
