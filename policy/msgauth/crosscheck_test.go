package msgauth

import (
	"bytes"
	"crypto"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// debianPython returns Debian's python3 with dkimpy, pyspf and
// authheaders (python3-dkim, python3-spf, python3-authheaders), which
// .ci/run installs. Without them the test skips when CI is unset and
// fails when it is set.
func debianPython(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	err := exec.Command(py, "-c", "import dkim, spf, authheaders, dns.resolver").Run()
	if err == nil {
		return py
	}
	if os.Getenv("CI") == "" {
		t.Skipf("%s cannot import dkim, spf, authheaders (%v): CI is unset, so this test skips; under CI=true it fails", py, err)
	}
	t.Fatalf("%s cannot import dkim, spf, authheaders (%v), and CI is set: .ci/run must install python3-dkim python3-spf python3-authheaders", py, err)
	return ""
}

// TestCrossCheck gives the same messages and the same DNS data to this
// package and to Debian's independent implementations (dkimpy, pyspf,
// authheaders' DMARC) and requires the same results: DKIM pass or not
// per signature, the SPF result of both identities, DMARC pass, fail or
// none. The one known difference is asserted as such: a signature with
// an l= tag passes dkimpy and fails here (see the package doc).
func TestCrossCheck(t *testing.T) {
	py := debianPython(t)
	short := mustRSA(512)
	recs := []string{
		txt("rsa._domainkey.example.org", keyRecord(rsaKey())),
		txt("ed._domainkey.example.org", keyRecord(edKey())),
		txt("revoked._domainkey.example.org", "v=DKIM1; k=rsa; p="),
		txt("short._domainkey.example.org", keyRecord(short)),
		txt("ed._domainkey.list.example", keyRecord(edKey())),
		txt("ed._domainkey.mail.example.org", keyRecord(edKey())),
		txt("_dmarc.example.org", "v=DMARC1; p=reject"),
		txt("_dmarc.strict.example.org", "v=DMARC1; p=reject; aspf=s; adkim=s"),
		txt("_dmarc.fail.example", "v=DMARC1; p=reject"),
		txt("_dmarc.pass.example", "v=DMARC1; p=quarantine"),
		txt("mail.example.org", "v=spf1 ip4:192.0.2.0/24 -all"),
		txt("example.org", "v=spf1 ip4:192.0.2.0/24 -all"),
	}
	srv, d := spfZone(t)
	if err := srv.Add(recs...); err != nil {
		t.Fatal(err)
	}
	v4, v6 := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::25")
	other := netip.MustParseAddr("203.0.113.5")
	plain := func(from string) string {
		return strings.Replace(testMessage, "alice@example.org", "alice@"+from, 1)
	}
	signed := func(from, domain, sel string) string {
		key := rsaKeyFor(sel)
		return sign(t, plain(from), domain, sel, key, time.Time{})
	}
	type tc struct {
		name     string
		msg      string
		ip       netip.Addr
		mailFrom string
		lTag     bool
	}
	cases := []tc{
		{"rsa-2048 pass", signed("example.org", "example.org", "rsa"), other, "alice@example.org", false},
		{"ed25519 pass", signed("example.org", "example.org", "ed"), other, "alice@example.org", false},
		{"body tampered", strings.Replace(signed("example.org", "example.org", "rsa"), "attached", "gone", 1), other, "alice@example.org", false},
		{"header tampered", strings.Replace(signed("example.org", "example.org", "ed"), "quarterly", "annual", 1), other, "alice@example.org", false},
		{"revoked key", signed("example.org", "example.org", "revoked"), other, "alice@example.org", false},
		{"missing key", signed("example.org", "example.org", "nokey"), other, "alice@example.org", false},
		{"rsa-512 key", sign(t, testMessage, "example.org", "short", short, time.Time{}), other, "alice@example.org", false},
		{"expired", sign(t, testMessage, "example.org", "rsa", rsaKey(), time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)), other, "alice@example.org", false},
		{"several signatures", sign(t, signed("example.org", "example.org", "revoked"), "list.example", "ed", edKey(), time.Time{}), other, "alice@example.org", false},
		{"relaxed DKIM alignment", signed("example.org", "mail.example.org", "ed"), other, "alice@other.example", false},
		{"strict DKIM alignment", signed("strict.example.org", "example.org", "rsa"), other, "alice@strict.example.org", false},
		{"l= tag", signWithLength(testMessage, "example.org", "rsa", rsaKey(), 10), other, "alice@example.org", true},
		{"relaxed SPF alignment", plain("example.org"), v4, "b@mail.example.org", false},
		{"strict SPF alignment", plain("strict.example.org"), v4, "b@example.org", false},
	}
	for _, dom := range []string{"pass", "fail", "softfail", "neutral", "norecord", "unknown-term", "two", "servfail",
		"chain", "redirect", "macro", "lookups10", "lookups11", "void2", "void3", "includetemp", "ptr"} {
		cases = append(cases, tc{"SPF " + dom, plain(dom + ".example"), v4, "alice@" + dom + ".example", false},
			tc{"SPF " + dom + " elsewhere", plain(dom + ".example"), netip.MustParseAddr("192.0.2.77"), "alice@" + dom + ".example", false})
	}
	cases = append(cases, tc{"SPF mx over IPv6", plain("mx6.example"), v6, "alice@mx6.example", false},
		tc{"SPF ptr over IPv6", plain("ptr.example"), v6, "alice@ptr.example", false})

	dir := t.TempDir()
	type input struct {
		File     string `json:"file"`
		IP       string `json:"ip"`
		MailFrom string `json:"mail_from"`
		Helo     string `json:"helo"`
	}
	var in []input
	for _, c := range cases {
		f := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".eml")
		if err := os.WriteFile(f, []byte(c.msg), 0o644); err != nil {
			t.Fatal(err)
		}
		in = append(in, input{File: f, IP: c.ip.String(), MailFrom: c.mailFrom, Helo: "helo.example"})
	}
	js, _ := json.Marshal(in)
	cmd := exec.Command(py, "testdata/crosscheck.py", srv.Addr())
	cmd.Stdin = bytes.NewReader(js)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("crosscheck.py: %v\n%s", err, stderr.Bytes())
	}
	var theirs []struct {
		DKIM    []string `json:"dkim"`
		SPF     string   `json:"spf"`
		SPFHelo string   `json:"spf_helo"`
		DMARC   string   `json:"dmarc"`
	}
	if err := json.Unmarshal(out, &theirs); err != nil || len(theirs) != len(cases) {
		t.Fatalf("crosscheck.py printed %d results (%v):\n%s", len(theirs), err, out)
	}
	c, err := New(Config{DNS: d, AuthservID: "mx.example.net", Sample: func() int { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range cases {
		r := c.Check(t.Context(), Message{ClientAddr: tc.ip, Helo: "helo.example", Sender: tc.mailFrom, Data: []byte(tc.msg)})
		want := theirs[i]
		var ours []string
		for _, k := range r.DKIM {
			if k.Result == Pass {
				ours = append(ours, "pass")
			} else {
				ours = append(ours, "fail")
			}
		}
		if tc.lTag {
			if len(want.DKIM) != 1 || want.DKIM[0] != "pass" || len(ours) != 1 || ours[0] != "fail" {
				t.Errorf("%s: dkimpy %v, ours %v: want dkimpy pass and ours fail (l= refused)", tc.name, want.DKIM, ours)
			}
			continue
		}
		if strings.Join(ours, ",") != strings.Join(want.DKIM, ",") {
			t.Errorf("%s: DKIM %v, dkimpy %v", tc.name, ours, want.DKIM)
		}
		if r.SPF == nil || string(r.SPF.Result) != want.SPF {
			t.Errorf("%s: SPF %+v, pyspf %s", tc.name, r.SPF, want.SPF)
		}
		if r.HeloSPF == nil || string(r.HeloSPF.Result) != want.SPFHelo {
			t.Errorf("%s: HELO SPF %+v, pyspf %s", tc.name, r.HeloSPF, want.SPFHelo)
		}
		if string(r.DMARC.Result) != want.DMARC {
			t.Errorf("%s: DMARC %s (%s), authheaders %s", tc.name, r.DMARC.Result, r.DMARC.Reason, want.DMARC)
		}
	}
	t.Logf("%d messages, the same results as dkimpy, pyspf and authheaders", len(cases))
}

// rsaKeyFor is the signing key of a selector of the zone above.
func rsaKeyFor(sel string) crypto.Signer {
	if sel == "ed" {
		return edKey()
	}
	return rsaKey()
}
