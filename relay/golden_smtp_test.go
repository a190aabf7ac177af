package relay

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maincf"
	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// goldenSMTPFile is one file of smtpd/testdata/golden: whole SMTP
// sessions recorded from Postfix 3.7's smtpd (see its README.md).
type goldenSMTPFile struct {
	Base     map[string]string `json:"base_main_cf"`
	MainCF   map[string]string `json:"main_cf"`
	Maps     map[string]string `json:"maps"`
	Files    map[string]string `json:"files"`
	Sessions []struct {
		ID       string       `json:"id"`
		Client   string       `json:"client"`
		Greeting []string     `json:"greeting"`
		Steps    []goldenStep `json:"steps"`
	} `json:"sessions"`
}

// goldenStep is one write of a recorded session and the replies it got.
type goldenStep struct {
	Send         string   `json:"send"`
	SendBase64   []byte   `json:"send_base64"`
	TLSHandshake bool     `json:"tls_handshake"`
	Replies      []string `json:"replies"`
	Closed       bool     `json:"closed"`
}

// smtpDeliberate lists the replies mxrelay gives on purpose where
// Postfix gives another, by "file/session/step" (steps count from 0; the
// replies of a step one per line),
// with the reason in relay/doc.go's deliberate differences.
var smtpDeliberate = map[string]string{
	// mxrelay always requires HELO or EHLO before MAIL (Postfix only
	// with smtpd_helo_required = yes): a client that skips it is not
	// a mail server an MX needs to hear from.
	"mail/mail_before_helo/0":      "503 5.5.1 Error: send HELO/EHLO first",
	"misc/etrn_before_helo/0":      "503 Error: send HELO/EHLO first",
	"pipelining/no_hello_at_all/0": "503 5.5.1 Error: send HELO/EHLO first\n503 5.5.1 Error: need MAIL command",
	// After STARTTLS the session starts over (RFC 3207 section 4.2): the
	// client must say EHLO again before MAIL.
	"starttls/mail_after_starttls_without_ehlo/3": "503 5.5.1 Error: send HELO/EHLO first",
}

var queueIDRe = regexp.MustCompile(`queued as [0-9A-Za-z]+`)

// TestGoldenSMTP replays the sessions recorded from Postfix 3.7's smtpd
// through Server and requires the same replies: code, enhanced status
// code and text, line by line, and the connection closed where Postfix
// closed it.
func TestGoldenSMTP(t *testing.T) {
	files, err := filepath.Glob("smtpd/testdata/golden/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden sessions")
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			var g goldenSMTPFile
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &g); err != nil {
				t.Fatal(err)
			}
			addr := serveGolden(t, &g)
			for _, s := range g.Sessions {
				t.Run(s.ID, func(t *testing.T) {
					replayGolden(t, name+"/"+s.ID, addr, s.Client, s.Greeting, s.Steps)
				})
			}
		})
	}
}

// serveGolden runs a Server configured as the recording Postfix was.
func serveGolden(t *testing.T, g *goldenSMTPFile) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range g.Files {
		b, err := os.ReadFile(filepath.Join("smtpd/testdata/golden", src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range g.Maps {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	params := map[string]string{}
	for k, v := range g.Base {
		params[k] = v
	}
	for k, v := range g.MainCF {
		params[k] = v
	}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	var text strings.Builder
	for _, k := range names {
		v := strings.ReplaceAll(params[k], "{confdir}", dir)
		v = strings.ReplaceAll(v, "{golden}", mustAbs(t, "smtpd/testdata/golden"))
		fmt.Fprintf(&text, "%s = %s\n", k, v)
	}
	cf, err := maincf.Parse(strings.NewReader(text.String()), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	d, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ld, err := Load(context.Background(), cf, LoadOptions{
		Queue:               queue.NewMemory(),
		DNS:                 []string{d.Addr()},
		InterfaceAddrs:      func() ([]netip.Prefix, error) { return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}, nil },
		AcceptUnimplemented: []string{"all"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ld.Close() })
	_, addr := serve(t, ld.Server)
	return addr
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// replayGolden runs one recorded session.
func replayGolden(t *testing.T, id, addr, client string, greeting []string, steps []goldenStep) {
	dialer := net.Dialer{Timeout: 5 * time.Second}
	if client != "" {
		dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(client)}
	}
	raw, err := dialer.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var c net.Conn = raw
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	read := func() (string, error) {
		l, err := r.ReadString('\n')
		return strings.TrimRight(l, "\r\n"), err
	}
	for _, want := range greeting {
		if got, err := read(); got != want {
			t.Fatalf("greeting %q, %v; Postfix %q", got, err, want)
		}
	}
	for i, st := range steps {
		if st.TLSHandshake {
			tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, ServerName: "mx2.oracle.test"})
			if err := tc.Handshake(); err != nil {
				t.Fatalf("step %d: TLS handshake: %v", i, err)
			}
			c = tc
			r = bufio.NewReader(tc)
			continue
		}
		send := []byte(st.Send)
		if st.SendBase64 != nil {
			send = st.SendBase64
		}
		if _, err := c.Write(send); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		deliberate, isDeliberate := smtpDeliberate[fmt.Sprintf("%s/%d", id, i)]
		for j, want := range st.Replies {
			got, err := read()
			got = queueIDRe.ReplaceAllString(got, "queued as QUEUEID")
			if isDeliberate {
				want = strings.Split(deliberate, "\n")[min(j, strings.Count(deliberate, "\n"))]
			}
			if got != want {
				t.Errorf("step %d %q, reply %d: %q, %v; Postfix %q", i, strings.TrimSpace(st.Send), j, got, err, want)
				return
			}
		}
		if isDeliberate {
			return // the rest of the session differs as a consequence
		}
		if st.Closed {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if l, err := read(); err == nil {
				t.Errorf("step %d: Postfix closed the connection; mxrelay sent %q", i, l)
			}
			return
		}
	}
}
