package relay

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/internal/testenv"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/milter"
)

// startOpenDKIM runs Debian's opendkim with the configuration of the
// Postfix golden (relay/milter/testdata/opendkim) on a unix socket.
// .ci/run installs it; without CI it may be missing and the test skips.
func startOpenDKIM(t testing.TB) string {
	t.Helper()
	bin := testenv.NeedProgram(t, "opendkim")
	dir := t.TempDir()
	key, err := os.ReadFile("milter/testdata/opendkim/lab.private")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "lab.private"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile("milter/testdata/opendkim/opendkim.conf.in")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "opendkim.sock")
	c := strings.NewReplacer("{dir}", dir, "{socket}", "local:"+sock).Replace(string(conf))
	if err := os.WriteFile(filepath.Join(dir, "opendkim.conf"), []byte(c), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "-x", filepath.Join(dir, "opendkim.conf"), "-f")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		if conn, err := net.Dial("unix", sock); err == nil {
			conn.Close()
			return sock
		}
		if i == 100 {
			t.Fatalf("opendkim did not listen on %s: %s", sock, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestOpenDKIM: Debian's opendkim, a real milter, does to mail through
// the relay what it does to mail through Postfix 3.7
// (relay/milter/testdata/lab/golden/opendkim.json, recorded by
// testdata/lab/record.sh): from an internal client it signs, its
// DKIM-Signature inserted at the top, above the relay's Received: header,
// and the signature verifies; from another client it verifies and adds
// Authentication-Results at the top, with the j macro as authserv-id.
// The header fields delivered are Postfix's, but for the Received: field,
// the signature's timestamp and value.
func TestOpenDKIM(t *testing.T) {
	sock := startOpenDKIM(t)
	var golden struct {
		Cases []struct {
			ID         string
			Deliveries []struct{ Headers []string }
		}
	}
	readJSON(t, "milter/testdata/lab/golden/opendkim.json", &golden)
	var cases struct {
		Cases []struct{ ID, Client, Message string }
	}
	readJSON(t, "milter/testdata/lab/route/opendkim.json", &cases)
	specs, err := milter.ParseList("unix:"+sock, milter.Defaults{Macros: milter.DefaultMacros()})
	if err != nil {
		t.Fatal(err)
	}
	mem := queue.NewMemory()
	w := newWorld(t, worldOpts{mem: mem, noRun: true, cfg: func(c *Config) {
		c.Hostname = "mx2.oracle.test" // the lab's myhostname: the j macro
		c.Milters = &Milters{Specs: specs, Version: "Postfix 3.7.11"}
	}})
	for i, c := range cases.Cases {
		client := c.Client
		if client == "" {
			client = "127.0.0.1"
		}
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(client)}}
		conn, err := d.Dial("tcp", w.addr)
		if err != nil {
			t.Fatal(err)
		}
		sc := smtp.NewClient(conn)
		if err := sc.Hello("inject.oracle.test"); err != nil {
			t.Fatal(err)
		}
		msg := strings.ReplaceAll(strings.ReplaceAll(c.Message, "{case}", c.ID), "\n", "\r\n")
		if err := transact(sc, "someone@sender.test", []string{"u@example.test"}, msg); err != nil {
			t.Fatalf("%s: %v", c.ID, err)
		}
		sc.Quit()
		envs := queued(t, mem)
		if len(envs) != i+1 {
			t.Fatalf("%s: %d queued", c.ID, len(envs))
		}
		var env queue.Envelope
		for _, e := range envs {
			if strings.Contains(body(t, mem, e.ID), "X-Oracle-Case: "+c.ID+"\r\n") {
				env = e
			}
		}
		got := body(t, mem, env.ID)
		hdr, _, _ := strings.Cut(got, "\r\n\r\n")
		fields := splitFields(strings.ReplaceAll(hdr, "\r\n", "\n"))
		want := golden.Cases[i].Deliveries[0].Headers
		if norm(fields) != norm(want) {
			t.Errorf("%s: header fields\n%s\nwant (Postfix 3.7)\n%s", c.ID, strings.Join(fields, "\n"), strings.Join(want, "\n"))
		}
		if strings.HasPrefix(fields[0], "DKIM-Signature:") {
			verifySignature(t, got)
		}
	}
}

// splitFields splits a header into its fields (folded lines joined by LF).
func splitFields(h string) []string {
	var out []string
	for _, ln := range strings.Split(h, "\n") {
		if (strings.HasPrefix(ln, " ") || strings.HasPrefix(ln, "\t")) && len(out) > 0 {
			out[len(out)-1] += "\n" + ln
			continue
		}
		out = append(out, ln)
	}
	return out
}

var (
	receivedRE = regexp.MustCompile(`(?s)^Received: .*\bby mx2\.oracle\.test .*`) // ours (Postfix's)
	timeRE     = regexp.MustCompile(`t=\d+;`)
	sigRE      = regexp.MustCompile(`(?s)\bb=[A-Za-z0-9+/=\s]+$`)
)

// norm drops what must differ between two runs: the MTA's own Received:
// field (by mx2.oracle.test), the signature's time and value.
func norm(fields []string) string {
	var b strings.Builder
	for _, f := range fields {
		f = receivedRE.ReplaceAllString(f, "Received: (the MTA's own)")
		f = timeRE.ReplaceAllString(f, "t=...;")
		f = sigRE.ReplaceAllString(f, "b=...")
		b.WriteString(f + "\n")
	}
	return b.String()
}

// verifySignature checks the DKIM signature with the public key of
// lab.private.
func verifySignature(t *testing.T, msg string) {
	t.Helper()
	pemKey, err := os.ReadFile("milter/testdata/opendkim/lab.private")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pemKey)
	if blk == nil {
		t.Fatal("lab.private: no PEM block")
	}
	var pub any
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		pub = &k.PublicKey
	} else if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		pub = &k.(*rsa.PrivateKey).PublicKey
	} else {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	txt := "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	vs, err := dkim.VerifyWithOptions(strings.NewReader(msg), &dkim.VerifyOptions{LookupTXT: func(domain string) ([]string, error) {
		if domain != "lab._domainkey.sender.test" {
			t.Errorf("DKIM key lookup of %s", domain)
		}
		return []string{txt}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "sender.test" {
		t.Errorf("DKIM verification: %+v", vs)
	}
}
