package relay

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maincf"
)

// filterMainCF is a gateway for example.test whose mail goes through an
// after-queue content filter (FILTER_README's set-up) at filterAddr, and
// then to the inside host at insideAddr.
func filterMainCF(t *testing.T, filterAddr, insideAddr, extra string) string {
	hc := writeFile(t, t.TempDir(), "header_checks", fmt.Sprintf("/^Subject: route me/ FILTER relay:[127.0.0.1]:%s\n", port(insideAddr)))
	return fmt.Sprintf(`compatibility_level = 3.6
myhostname = gw.example.net
mydestination =
relay_domains = example.test
transport_maps = inline:{ example.test=smtp:[127.0.0.1]:%s }
relay_recipient_maps = inline:{ a@example.test=x, scan@example.test=x }
inet_interfaces = 127.0.0.1
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = check_recipient_access inline:{ {scan@example.test=FILTER lmtp:[127.0.0.1]:1} }, permit_mynetworks, reject_unauth_destination
header_checks = regexp:%s
content_filter = smtp:[127.0.0.1]:%s
%s`, port(insideAddr), hc, port(filterAddr), extra)
}

func sendOne(t *testing.T, addr, from, to, body string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := transact(c, from, []string{to}, body); err != nil {
		t.Fatalf("to %s: %v", to, err)
	}
}

// TestContentFilter: mail accepted where content_filter is set goes to
// the filter, whatever its recipients' routes; the same mail sent back on
// a listener with "-o content_filter=" and receive_override_options goes
// to its route, header_checks not applied again.
func TestContentFilter(t *testing.T) {
	filter, inside := startSink(t), startSink(t)
	ld, addr := loadAndServe(t, filterMainCF(t, filter.addr, inside.addr, ""), LoadOptions{})
	for _, p := range ld.Params {
		if p.Kind == maincf.Unimplemented {
			t.Errorf("refused as unimplemented: %s", p.Name)
		}
	}
	sendOne(t, addr, "s@elsewhere.example", "a@example.test", "Subject: hello\r\n\r\nbody\r\n")
	m := filter.wait(1)
	if m[0].From != "s@elsewhere.example" || len(m[0].To) != 1 || m[0].To[0] != "a@example.test" {
		t.Fatalf("filter got %+v", m[0])
	}
	if len(inside.messages()) != 0 {
		t.Fatalf("the inside host got mail before the filter passed it: %+v", inside.messages())
	}

	// The reinjection listener: main.cf with master.cf's overrides,
	// storing into the same queue, which the first relay delivers.
	cf, err := maincf.Parse(strings.NewReader(filterMainCF(t, filter.addr, inside.addr,
		"content_filter =\nreceive_override_options = no_header_body_checks, no_unknown_recipient_checks\n")), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	re, err := Load(context.Background(), cf, LoadOptions{Scheduler: ld.MX.Queue(), DNS: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { re.Close() })
	_, reAddr := serve(t, re.Server)
	// What the filter passes: tagged, "route me" in the subject, which
	// the reinjection listener's header_checks would send elsewhere, and
	// to a recipient the relay_recipient_maps do not list (a virtual
	// alias expansion of the first pass).
	sendOne(t, reAddr, "s@elsewhere.example", "unlisted@example.test", "X-Filtered: yes\r\nSubject: route me\r\n\r\nbody\r\n")
	got := inside.wait(1)
	if got[0].To[0] != "unlisted@example.test" || !strings.Contains(got[0].Data, "X-Filtered: yes") {
		t.Errorf("inside host got %+v", got[0])
	}
	if n := len(filter.messages()); n != 1 {
		t.Errorf("the filter got %d messages, want 1: the reinjected mail looped", n)
	}
}

// TestFilterActions: a FILTER action of an access table, then one of
// header_checks, name the message's filter over content_filter; the
// queue envelope records it and gives every recipient its destination.
func TestFilterActions(t *testing.T) {
	mem := queue.NewMemory()
	_, addr := loadAndServe(t, filterMainCF(t, "127.0.0.1:10024", "127.0.0.1:10026", ""), LoadOptions{Queue: mem})
	for _, c := range []struct {
		to, subject, filter string
	}{
		{"a@example.test", "hello", "smtp:[127.0.0.1]:10024"},
		{"a@example.test", "route me", "relay:[127.0.0.1]:10026"},
		{"scan@example.test", "hello", "lmtp:[127.0.0.1]:1"},
		{"scan@example.test", "route me", "relay:[127.0.0.1]:10026"},
	} {
		cl, err := smtp.Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.Mail("s@elsewhere.example", nil); err != nil {
			t.Fatal(err)
		}
		if err := cl.Rcpt(c.to, nil); err != nil {
			t.Fatal(err)
		}
		wc, err := cl.Data()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(wc, "Subject: %s\r\n\r\nbody\r\n", c.subject)
		resp, err := wc.CloseWithResponse()
		if err != nil {
			t.Fatal(err)
		}
		cl.Close()
		_, id, _ := strings.Cut(resp.StatusText, "queued as ")
		env, err := mem.Get(context.Background(), queue.ID(id))
		if err != nil {
			t.Fatal(err)
		}
		if env.Filter != c.filter || env.Recipients[0].Destination != c.filter {
			t.Errorf("%s, %q: filter %q, destination %q; want %q", c.to, c.subject, env.Filter, env.Recipients[0].Destination, c.filter)
		}
	}
}

// TestFilterRoute: a filter without a next hop goes to
// default_filter_nexthop, else the recipient's domain, else
// $myhostname (qmgr_message.c).
func TestFilterRoute(t *testing.T) {
	r := &MX{c: Config{Hostname: "gw.example.net"}}
	for _, c := range []struct{ filter, def, rcpt, want string }{
		{"smtp-amavis:[127.0.0.1]:10024", "x.example", "u@example.test", "smtp-amavis:[127.0.0.1]:10024"},
		{"smtp-amavis:", "", "u@example.test", "smtp-amavis:example.test"},
		{"smtp-amavis:", "filter.example", "u@example.test", "smtp-amavis:filter.example"},
		{"smtp-amavis:", "", "postmaster", "smtp-amavis:gw.example.net"},
	} {
		r.c.Filter.DefaultNexthop = c.def
		if got := r.filterRoute(c.filter, c.rcpt).String(); got != c.want {
			t.Errorf("%s %q %s: %s, want %s", c.filter, c.def, c.rcpt, got, c.want)
		}
	}
}

// TestFilterConfig: content_filter must name a transport this relay
// delivers with: smtp, lmtp or a master.cf service running them; an
// unknown receive_override_options option is refused.
func TestFilterConfig(t *testing.T) {
	for _, c := range []struct{ extra, want string }{
		{"content_filter = scan:[127.0.0.1]:10025\n", "transport scan is neither"},
		{"content_filter = nocolon\n", "not transport:destination"},
		{"receive_override_options = no_header_body_checks, no_such_thing\n", `unknown option "no_such_thing"`},
	} {
		cf, err := maincf.Parse(strings.NewReader("compatibility_level = 3.6\nrelay_domains = example.test\n"+c.extra), "main.cf")
		if err != nil {
			t.Fatal(err)
		}
		_, err = Load(context.Background(), cf, LoadOptions{Queue: queue.NewMemory(), DNS: []string{"127.0.0.1:1"}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.extra, err, c.want)
		}
	}
}

// TestFilterMasterCFTransport: a content filter reached through a
// master.cf service that runs lmtp (FILTER_README's "amavisfeed unix -
// - n - 2 lmtp") is delivered to with LMTP.
func TestFilterMasterCFTransport(t *testing.T) {
	filter := &sink{t: t, reject: map[string]*smtp.SMTPError{}, got: make(chan struct{}, 100)}
	filter.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: filter}, nil }))
	filter.srv.LMTP, filter.srv.Domain, filter.srv.ErrorLog = true, "filter.example", discardLog{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	filter.addr = l.Addr().String()
	go filter.srv.Serve(l)
	t.Cleanup(func() { filter.srv.Close() })
	dir := t.TempDir()
	writeFile(t, dir, "master.cf", "smtp inet n - n - - smtpd\namavisfeed unix - - n - 2 lmtp\n  -o lmtp_data_done_timeout=1200\n")
	cfPath := writeFile(t, dir, "main.cf", fmt.Sprintf(`compatibility_level = 3.6
myhostname = gw.example.net
mydestination =
relay_domains = example.test
inet_interfaces = 127.0.0.1
mynetworks = 127.0.0.0/8
content_filter = amavisfeed:[127.0.0.1]:%s
`, port(filter.addr)))
	cf, err := maincf.Load(cfPath)
	if err != nil {
		t.Fatal(err)
	}
	ld, err := Load(context.Background(), cf, LoadOptions{Queue: queue.NewMemory(), DNS: []string{"127.0.0.1:1"},
		InterfaceAddrs: func() ([]netip.Prefix, error) { return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ld.Close() })
	if slices.ContainsFunc(ld.Warnings, func(w string) bool { return strings.Contains(w, "amavisfeed") }) {
		t.Errorf("a warning about the -o of amavisfeed, which applies: %q", ld.Warnings)
	}
	_, addr := serve(t, ld.Server)
	sendOne(t, addr, "s@elsewhere.example", "u@example.test", "Subject: x\r\n\r\nbody\r\n")
	if m := filter.wait(1); m[0].To[0] != "u@example.test" {
		t.Errorf("filter got %+v", m[0])
	}
}

// TestFilterBounce: a recipient the content filter refuses with 5xx is
// bounced to the sender, the filter's reply in the DSN, as any delivery
// failure; the bounce is not sent through the filter (Postfix writes the
// FILTER record only for mail smtpd and pickup receive).
func TestFilterBounce(t *testing.T) {
	filter, inside := startSink(t), startSink(t)
	filter.reject["a@example.test"] = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "virus found"}
	_, addr := loadAndServe(t, filterMainCF(t, filter.addr, inside.addr, ""), LoadOptions{})
	sendOne(t, addr, "scan@example.test", "a@example.test", "Subject: infected\r\n\r\nbody\r\n")
	m := inside.wait(1)
	if m[0].From != "" || len(m[0].To) != 1 || m[0].To[0] != "scan@example.test" {
		t.Fatalf("bounce envelope from %q to %v", m[0].From, m[0].To)
	}
	p := parseDSN(t, []byte(m[0].Data))
	if p.rcpts[0].Get("Final-Recipient") != "rfc822; a@example.test" || p.rcpts[0].Get("Status") != "5.7.1" ||
		!strings.Contains(p.rcpts[0].Get("Diagnostic-Code"), "smtp; 550 5.7.1 virus found") {
		t.Errorf("recipient block %v", p.rcpts[0])
	}
	if n := len(filter.messages()); n != 0 {
		t.Errorf("the filter got %d messages: the bounce went through it", n)
	}
}
