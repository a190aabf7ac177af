package relay

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maincf"
)

// loadWithMaster loads mainCF with masterCF beside it.
func loadWithMaster(t *testing.T, mainCF, masterCF string, accept ...string) (*Loaded, error) {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, "master.cf", masterCF)
	cf, err := maincf.Load(writeFile(t, dir, "main.cf", mainCF))
	if err != nil {
		t.Fatal(err)
	}
	ld, err := Load(context.Background(), cf, LoadOptions{Queue: queue.NewMemory(), DNS: []string{"127.0.0.1:1"},
		AcceptUnimplemented: accept,
		InterfaceAddrs:      func() ([]netip.Prefix, error) { return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}, nil }})
	if err == nil {
		t.Cleanup(func() { ld.Close() })
	}
	return ld, err
}

const amavisMain = `compatibility_level = 3.6
myhostname = gw.example.net
mydestination =
relay_domains = example.test
inet_interfaces = 127.0.0.1
mynetworks = 127.0.0.0/8
smtp_tls_security_level = encrypt
smtpd_recipient_restrictions = check_recipient_access inline:{ {plain@example.test=FILTER smtp:[127.0.0.1]:%s} }, permit_mynetworks, reject_unauth_destination
content_filter = smtp-amavis:[127.0.0.1]:%s
`

// FILTER_README's amavis service, with its TLS turned off.
const amavisMaster = `smtp      inet  n       -       n       -       -       smtpd
smtp-amavis unix -      -       n       -       2       smtp
    -o smtp_data_done_timeout=1200
    -o smtp_send_xforward_command=yes
    -o disable_dns_lookups=yes
    -o max_use=20
    -o smtp_tls_security_level=none
    -o syslog_name=postfix/amavis
`

// TestServiceOverrides: the "-o" overrides of FILTER_README's
// smtp-amavis service apply to the deliveries through it: XFORWARD is
// sent to the filter (smtp_send_xforward_command), the filter is reached
// without TLS (smtp_tls_security_level = none) where main.cf requires
// it, and nothing is warned about or refused (disable_dns_lookups is
// harmless for the filter's address literal, max_use and syslog_name are
// ignored as in main.cf).
func TestServiceOverrides(t *testing.T) {
	filter := startXFPeer(t, "NAME ADDR PORT PROTO HELO IDENT SOURCE")
	ld, err := loadWithMaster(t, fmt.Sprintf(amavisMain, "1", port(filter.addr)), amavisMaster)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ld.Warnings {
		if strings.Contains(w, "smtp-amavis") && !strings.Contains(w, "disable_dns_lookups") {
			t.Errorf("warning about smtp-amavis: %s", w)
		}
	}
	_, addr := serve(t, ld.Server)
	sendOne(t, addr, "s@elsewhere.example", "u@example.test", "Subject: x\r\n\r\nbody\r\n")
	got := filter.wait(t, 1)[0]
	if len(got.xforward) != 2 || !strings.HasPrefix(got.xforward[0], "XFORWARD ADDR=127.0.0.1 PORT=") ||
		!strings.HasPrefix(got.xforward[1], "XFORWARD PROTO=ESMTP HELO=") || !strings.HasSuffix(got.xforward[1], " SOURCE=LOCAL") {
		t.Errorf("the filter got XFORWARD %q", got.xforward)
	}
}

// TestServiceOverridesPlain: without TLS required, main.cf's smtp
// transport delivers to a next hop that announces XFORWARD without
// sending it, while the smtp-amavis service sends it.
func TestServiceOverridesPlain(t *testing.T) {
	filter, other := startXFPeer(t, "ADDR HELO"), startXFPeer(t, "ADDR HELO")
	mainCF := strings.Replace(fmt.Sprintf(amavisMain, port(other.addr), port(filter.addr)),
		"smtp_tls_security_level = encrypt\n", "", 1)
	ld, err := loadWithMaster(t, mainCF, amavisMaster)
	if err != nil {
		t.Fatal(err)
	}
	_, addr := serve(t, ld.Server)
	sendOne(t, addr, "s@elsewhere.example", "plain@example.test", "Subject: x\r\n\r\nbody\r\n")
	if got := other.wait(t, 1)[0]; len(got.xforward) != 0 {
		t.Errorf("main.cf's smtp sent XFORWARD: %q", got.xforward)
	}
	sendOne(t, addr, "s@elsewhere.example", "u@example.test", "Subject: x\r\n\r\nbody\r\n")
	if got := filter.wait(t, 1)[0]; len(got.xforward) != 2 || got.xforward[0] != "XFORWARD ADDR=127.0.0.1" || !strings.HasPrefix(got.xforward[1], "XFORWARD HELO=") {
		t.Errorf("the filter got XFORWARD %q", got.xforward)
	}
}

// TestServiceOverrideRefusals: an override that turns on a feature not
// implemented is refused by name, as in main.cf, unless accepted; one of
// a delivery parameter not applied per service is refused when it
// differs from main.cf; disable_dns_lookups is refused where a host
// would be looked up; an unknown one is a warning.
func TestServiceOverrideRefusals(t *testing.T) {
	base := "compatibility_level = 3.6\nmyhostname = gw.example.net\nrelay_domains = example.test\ninet_interfaces = 127.0.0.1\n"
	for _, c := range []struct {
		name, main, opts string
		accept           []string
		refused, warning string
	}{
		{name: "unimplemented", opts: "-o smtp_bind_address=192.0.2.1", refused: "smtp_bind_address"},
		{name: "accepted", opts: "-o smtp_bind_address=192.0.2.1", accept: []string{"smtp_bind_address"}},
		{name: "not per service", opts: "-o smtp_mx_session_limit=5", refused: "not applied per service"},
		{name: "same as main.cf", opts: "-o smtp_mx_session_limit=2"},
		{name: "delivery checks", opts: "-o smtp_header_checks=regexp:/dev/null", refused: "smtp_header_checks"},
		{name: "delivery checks off as in main.cf", opts: "-o smtp_body_checks="},
		{name: "DNS off, host name", main: "content_filter = smtp-amavis:filter.example.test\n", opts: "-o disable_dns_lookups=yes", refused: "disable_dns_lookups"},
		{name: "DNS off, other service", main: "content_filter = smtp:[127.0.0.1]:10024\n", opts: "-o disable_dns_lookups=yes", refused: "disable_dns_lookups"},
		{name: "DNS off, literal", main: "content_filter = smtp-amavis:[127.0.0.1]:10024\n", opts: "-o disable_dns_lookups=yes", warning: "disable_dns_lookups"},
		{name: "unknown", opts: "-o smtp_no_such_thing=1", warning: "smtp_no_such_thing"},
		{name: "bad value", opts: "-o smtp_send_xforward_command=maybe", refused: "smtp_send_xforward_command"},
	} {
		t.Run(c.name, func(t *testing.T) {
			master := "smtp inet n - n - - smtpd\nsmtp-amavis unix - - n - 2 smtp " + c.opts + "\n"
			ld, err := loadWithMaster(t, base+c.main, master, c.accept...)
			switch {
			case c.refused != "":
				if err == nil || !strings.Contains(err.Error(), c.refused) || !strings.Contains(err.Error(), "master.cf") {
					t.Fatalf("err %v, want a refusal naming %q and master.cf", err, c.refused)
				}
				if ue := (*maincf.UnimplementedError)(nil); c.refused != "smtp_send_xforward_command" && !errors.As(err, &ue) {
					t.Errorf("err %T, want *maincf.UnimplementedError", err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if has := slices.ContainsFunc(ld.Warnings, func(w string) bool { return strings.Contains(w, "smtp-amavis") }); has != (c.warning != "") {
				t.Errorf("warnings %q, want one naming %q", ld.Warnings, c.warning)
			}
		})
	}
}

// TestTransportLimitsConfig: the process limit of a master.cf delivery
// service and main.cf's TRANSPORT_destination_concurrency_limit and
// TRANSPORT_destination_recipient_limit reach the queue and the relay
// for that transport only, and -check calls them used.
func TestTransportLimitsConfig(t *testing.T) {
	main := "compatibility_level = 3.6\nmyhostname = gw.example.net\nrelay_domains = example.test\ninet_interfaces = 127.0.0.1\n" +
		"content_filter = smtp-amavis:[127.0.0.1]:10024\nsmtp-amavis_destination_concurrency_limit = 3\n" +
		"smtp-amavis_destination_recipient_limit = 1\nrelay_destination_concurrency_limit = 5\n"
	dir := t.TempDir()
	writeFile(t, dir, "master.cf", "smtp inet n - n - - smtpd\nsmtp-amavis unix - - n - 2 smtp\nslow unix - - n - - smtp\n")
	cf, err := maincf.Load(writeFile(t, dir, "main.cf", main))
	if err != nil {
		t.Fatal(err)
	}
	r := &reader{cf: cf}
	qc := queueConfig(r)
	want := map[string]queue.TransportLimits{"smtp-amavis": {Concurrency: 3, Processes: 2}, "relay": {Concurrency: 5}}
	if len(qc.Transports) != len(want) || qc.Transports["smtp-amavis"] != want["smtp-amavis"] || qc.Transports["relay"] != want["relay"] {
		t.Errorf("queue transports %+v, want %+v", qc.Transports, want)
	}
	def, by := recipientLimits(r)
	if def != 50 || len(by) != 1 || by["smtp-amavis"] != 1 {
		t.Errorf("recipient limits %d %v, want 50 and smtp-amavis 1", def, by)
	}
	if err := r.err(); err != nil {
		t.Fatal(err)
	}
	for _, p := range cf.Classify() {
		if strings.Contains(p.Name, "_destination_") && p.Kind != maincf.Used {
			t.Errorf("%s: %s, want used", p.Name, p.Kind)
		}
	}
}

// TestFilterRecipientLimit: with smtp-amavis_destination_recipient_limit
// = 1 (iredmail's setting), the filter gets one delivery per recipient,
// one after another, as Postfix's qmgr splits the message.
func TestFilterRecipientLimit(t *testing.T) {
	filter := startXFPeer(t, "")
	mainCF := strings.Replace(fmt.Sprintf(amavisMain, "1", port(filter.addr)), "smtp_tls_security_level = encrypt\n",
		"smtp-amavis_destination_recipient_limit = 1\n", 1)
	ld, err := loadWithMaster(t, mainCF, amavisMaster)
	if err != nil {
		t.Fatal(err)
	}
	_, addr := serve(t, ld.Server)
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := transact(c, "s@elsewhere.example", []string{"a@example.test", "b@example.test", "c@example.test"}, "Subject: x\r\n\r\nbody\r\n"); err != nil {
		t.Fatal(err)
	}
	got := filter.wait(t, 3)
	var rcpts []string
	for _, tx := range got {
		if len(tx.rcpt) != 1 {
			t.Errorf("a delivery to the filter with %d recipients: %q", len(tx.rcpt), tx.rcpt)
		}
		rcpts = append(rcpts, tx.rcpt...)
	}
	slices.Sort(rcpts)
	if !slices.Equal(rcpts, []string{"a@example.test", "b@example.test", "c@example.test"}) {
		t.Errorf("the filter got %q", rcpts)
	}
}
