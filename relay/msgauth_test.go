package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/internal/testenv"
	"github.com/mxrelay/mxrelay/policy/msgauth"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maincf"
	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// authWorld is a relay loaded from main.cf with message authentication
// on, its next hop, its queue and a DKIM key of example.org published in
// its DNS, with example.org (SPF lists 127.0.0.1, p=reject),
// strict.example (SPF -all, p=reject), quarantine.example (SPF -all,
// p=quarantine) and broken.example (SERVFAIL).
type authWorld struct {
	addr   string
	inside *sink
	q      *queue.Memory
	key    ed25519.PrivateKey
	loaded *Loaded
}

func newAuthWorld(t *testing.T, mainCF string, o LoadOptions) *authWorld {
	t.Helper()
	w := &authWorld{inside: startSink(t), q: queue.NewMemory()}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	w.key = key
	d, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Add(
		`sel._domainkey.example.org. 60 IN TXT "v=DKIM1; k=ed25519; p=`+base64.StdEncoding.EncodeToString(pub)+`"`,
		`example.org. 60 IN TXT "v=spf1 ip4:127.0.0.1 -all"`,
		`_dmarc.example.org. 60 IN TXT "v=DMARC1; p=reject"`,
		`strict.example. 60 IN TXT "v=spf1 -all"`,
		`_dmarc.strict.example. 60 IN TXT "v=DMARC1; p=reject"`,
		`quarantine.example. 60 IN TXT "v=spf1 -all"`,
		`_dmarc.quarantine.example. 60 IN TXT "v=DMARC1; p=quarantine"`,
	); err != nil {
		t.Fatal(err)
	}
	d.SetFault("broken.example", dnstest.AnyType, dnstest.ServFail)
	d.SetFault("_dmarc.broken.example", dnstest.AnyType, dnstest.ServFail)
	tr := writeFile(t, t.TempDir(), "transport", fmt.Sprintf("example.com   relay:[127.0.0.1]:%s\n", port(w.inside.addr)))
	o.DNS, o.Queue = []string{d.Addr()}, w.q
	w.loaded, w.addr = loadAndServe(t, fmt.Sprintf(`compatibility_level = 3.6
myhostname = gw.example.com
mydestination =
local_recipient_maps =
relay_domains = example.com
smtpd_recipient_restrictions = reject_unauth_destination
transport_maps = hash:%s
inet_interfaces = 127.0.0.1
mxrelay_message_authentication = yes
%s`, tr, mainCF), o)
	return w
}

// send sends one message from 127.0.0.1 with HELO client.example.org.
func (w *authWorld) send(t *testing.T, from, msg string) error {
	t.Helper()
	c, err := smtp.Dial(w.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example.org"); err != nil {
		t.Fatal(err)
	}
	return transact(c, from, []string{"bob@example.com"}, msg)
}

func (w *authWorld) sign(t *testing.T, msg string) string {
	t.Helper()
	var b bytes.Buffer
	if err := dkim.Sign(&b, strings.NewReader(msg), &dkim.SignOptions{Domain: "example.org", Selector: "sel", Signer: w.key}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func mailFrom(from string) string {
	return "From: <" + from + ">\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nHello.\r\n"
}

func is571(err error) bool {
	se, ok := err.(*smtp.SMTPError)
	return ok && se.Code == 550 && se.EnhancedCode == smtp.EnhancedCode{5, 7, 1}
}

// TestMessageAuthentication runs message authentication end to end from
// main.cf: a signed message arrives at the next hop with our
// Authentication-Results and without the forged one that claimed our
// authserv-id; a message failing DMARC under p=reject is refused at
// DATA with 550 5.7.1.
func TestMessageAuthentication(t *testing.T) {
	w := newAuthWorld(t, "", LoadOptions{})
	if got := paramsOf(w.loaded.Params, maincf.Ignored, maincf.Unknown, maincf.Unimplemented); len(got) != 0 {
		t.Errorf("not used: %v", got)
	}
	forged := "Authentication-Results: GW.example.com; dkim=pass header.d=bank.example\r\n" +
		"Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=example.org\r\n"
	if err := w.send(t, "alice@example.org", forged+w.sign(t, mailFrom("alice@example.org"))); err != nil {
		t.Fatalf("signed message: %v", err)
	}
	if err := w.send(t, "eve@strict.example", mailFrom("eve@strict.example")); !is571(err) {
		t.Errorf("DMARC p=reject failure: %v, want 550 5.7.1", err)
	}
	got := w.inside.wait(1)[0].Data
	// After our Received:, where Postfix puts a milter's header (its own
	// Received: is hidden from milters).
	want := "\r\nAuthentication-Results: gw.example.com;\r\n\tdkim=pass header.d=example.org header.i=@example.org header.s=sel;\r\n" +
		"\tspf=pass smtp.mailfrom=example.org;\r\n\tspf=none smtp.helo=client.example.org;\r\n\tdmarc=pass header.from=example.org\r\n"
	if !strings.HasPrefix(got, "Received: ") || !strings.Contains(got, want) {
		t.Errorf("next hop got no Authentication-Results of ours:\n%s", got)
	}
	if strings.Contains(got, "bank.example") {
		t.Errorf("the forged Authentication-Results reached the next hop:\n%s", got)
	}
	if !strings.Contains(got, "Authentication-Results: mx.example.org; spf=pass") {
		t.Errorf("another server's Authentication-Results was removed:\n%s", got)
	}
	if len(w.inside.messages()) != 1 {
		t.Errorf("next hop got %d messages, want 1 (the DMARC failure was refused)", len(w.inside.messages()))
	}
}

// TestMessageAuthenticationActions: quarantine by holding, a trusted
// forwarder's mail not SPF checked (DKIM still is), DNS trouble never
// refusing, and mxrelay_authserv_id.
func TestMessageAuthenticationActions(t *testing.T) {
	w := newAuthWorld(t, `mxrelay_dmarc_quarantine_action = hold
mxrelay_authserv_id = backup.example.com
`, LoadOptions{})
	if err := w.send(t, "eve@quarantine.example", mailFrom("eve@quarantine.example")); err != nil {
		t.Fatalf("p=quarantine: %v, want accepted", err)
	}
	var held []queue.Envelope
	w.q.Walk(t.Context(), func(e *queue.Envelope) error {
		if e.Held {
			held = append(held, *e)
		}
		return nil
	})
	if len(held) != 1 || held[0].Sender != "eve@quarantine.example" {
		t.Fatalf("held: %+v, want the p=quarantine failure", held)
	}
	body, err := w.q.Body(t.Context(), held[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(body)
	body.Close()
	if !strings.Contains(string(b), "Authentication-Results: backup.example.com;") || !strings.Contains(string(b), `dmarc=fail reason="p=quarantine"`) {
		t.Errorf("held message:\n%s", b)
	}
	if err := w.send(t, "x@broken.example", mailFrom("x@broken.example")); err != nil {
		t.Errorf("DNS trouble: %v, want accepted", err)
	}
	got := w.inside.wait(1)[0].Data
	if !strings.Contains(got, "spf=temperror smtp.mailfrom=broken.example") || !strings.Contains(got, "dmarc=temperror") {
		t.Errorf("DNS trouble delivered as:\n%s", got)
	}

	fw := newAuthWorld(t, "mxrelay_spf_trusted_forwarders = 192.0.2.1, [127.0.0.0]/8\n", LoadOptions{})
	if err := fw.send(t, "eve@strict.example", fw.sign(t, mailFrom("alice@example.org"))); err != nil {
		t.Fatalf("from a trusted forwarder: %v", err)
	}
	got = fw.inside.wait(1)[0].Data
	if strings.Contains(got, "spf=") || !strings.Contains(got, "dkim=pass header.d=example.org") || !strings.Contains(got, "dmarc=pass") {
		t.Errorf("a trusted forwarder's message:\n%s", got)
	}
	if err := fw.send(t, "eve@strict.example", mailFrom("eve@strict.example")); !is571(err) {
		t.Errorf("unsigned p=reject mail from a trusted forwarder: %v, want 550 5.7.1 (DKIM and DMARC still apply)", err)
	}
}

// TestMessageAuthenticationHook: LoadOptions.AuthDecide gets the typed
// results and its answer is final.
func TestMessageAuthenticationHook(t *testing.T) {
	var mu sync.Mutex
	var seen []*msgauth.Results
	var logs testenv.Buffer
	w := newAuthWorld(t, "", LoadOptions{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), AuthDecide: func(_ context.Context, r *msgauth.Results) msgauth.Action {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r)
		if r.SPF != nil && r.SPF.Result == msgauth.Pass {
			return msgauth.Reject // a policy of the embedding program's own
		}
		return msgauth.Annotate
	}})
	if err := w.send(t, "eve@strict.example", mailFrom("eve@strict.example")); err != nil {
		t.Errorf("p=reject failure under the hook: %v, want accepted", err)
	}
	if err := w.send(t, "alice@example.org", mailFrom("alice@example.org")); !is571(err) {
		t.Errorf("SPF pass under the hook: %v, want 550 5.7.1", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0].DMARC.Result != msgauth.Fail || seen[0].DMARC.Policy != msgauth.PolicyReject || seen[1].DMARC.Result != msgauth.Pass {
		t.Errorf("the hook saw %+v", seen)
	}
	// One record per message for the log, with the typed results.
	for _, want := range []string{
		`"msg":"message authentication","queue_id":`,
		`"spf":"fail","dkim":"none","dmarc":"fail","dmarc_from":"strict.example","dmarc_policy":"reject","action":"annotate"}`,
		`"spf":"pass","dkim":"none","dmarc":"pass","dmarc_from":"example.org","dmarc_policy":"reject","action":"reject"}`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log has no %s:\n%s", want, logs.String())
		}
	}
}

// TestMessageAuthenticationConfigErrors: a bad value of one of
// mxrelay's own parameters stops Load and names the parameter, whether
// or not message authentication is on.
func TestMessageAuthenticationConfigErrors(t *testing.T) {
	for _, line := range []string{
		"mxrelay_dmarc_reject_action = bounce",
		"mxrelay_dmarc_quarantine_action = yes",
		"mxrelay_dkim_signature_limit = 0",
		"mxrelay_spf_trusted_forwarders = 192.0.2.0/33",
		"mxrelay_message_authentication = maybe",
	} {
		cf, err := maincf.Parse(strings.NewReader("compatibility_level = 3.6\nrelay_domains = example.com\n"+line+"\n"), "main.cf")
		if err != nil {
			t.Fatal(err)
		}
		cf.InterfaceAddrs = loopbackOnly
		ld, err := Load(t.Context(), cf, LoadOptions{Queue: queue.NewMemory(), DNS: []string{"127.0.0.1:1"}})
		if err == nil {
			ld.Close()
			t.Errorf("%s: loaded", line)
			continue
		}
		if name, _, _ := strings.Cut(line, " "); !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %q does not name the parameter", line, err)
		}
	}
}

// TestMessageAuthenticationTypo: a misspelt parameter of mxrelay's own
// is reported with the name it was meant to be, as Postfix's are.
func TestMessageAuthenticationTypo(t *testing.T) {
	cf, err := maincf.Parse(strings.NewReader("mxrelay_dmarc_reject_actoin = annotate\n"), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	ps := cf.Classify()
	if len(ps) != 1 || ps[0].Kind != maincf.Unknown || ps[0].Suggestion != "mxrelay_dmarc_reject_action" {
		t.Errorf("got %+v, want unknown with the suggestion mxrelay_dmarc_reject_action", ps)
	}
}
