package cleanup

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/lookup"
)

func openRegexp(t *testing.T, typ, rules string) lookup.Table {
	t.Helper()
	path := filepath.Join(t.TempDir(), "checks")
	if err := os.WriteFile(path, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	tb, err := lookup.Open(context.Background(), typ+":"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// TestCheck runs each action of header_checks (regexp:) and body_checks
// (pcre:) on one message; the lab golden hbc compares them with Postfix.
func TestCheck(t *testing.T) {
	hc := openRegexp(t, "regexp", `/^Subject: (replace) me/ REPLACE Subject: replaced $1
/^X-Remove:/ IGNORE
/^X-Prepend:/ PREPEND X-Before: yes
/^X-Hold:/ HOLD
/^X-Bcc:/ BCC copy@o.test
/^X-Folded:.*second/ WARN folded
/^X-Reject: soft/ REJECT 4.7.1 later
/^X-Reject: hard/ REJECT
/^X-Discard:/ DISCARD
/^X-Redirect:/ REDIRECT elsewhere@o.test
/^X-Filter:/ FILTER smtp:[127.0.0.1]:10025
/^X-Filter2:/ FILTER lmtp:[127.0.0.1]:10026
/^X-Filter3:/ FILTER nocolon
`)
	bc := openRegexp(t, "pcre", `/^drop/ IGNORE
/^(swap) me/ REPLACE swapped $1
/^deep/ REJECT 5.7.2 too deep
`)
	cl, err := New(Config{HeaderChecks: []lookup.Table{hc}, BodyChecks: []lookup.Table{bc}, BodyChecksSizeLimit: 20})
	if err != nil {
		t.Fatal(err)
	}
	check := func(msg string) (string, Verdict, error) {
		out, v, err := cl.Check(context.Background(), Message{QueueID: "Q"}, strings.NewReader(msg))
		return string(out), v, err
	}
	out, v, err := check("Subject: replace me\r\nX-Remove: x\r\nX-Prepend: p\r\nX-Hold: h\r\nX-Bcc: b\r\nX-Folded: first\r\n\tsecond\r\n\r\ndrop this\r\nswap me\r\nkeep\r\ndeep but beyond the body_checks_size_limit\r\n")
	want := "Subject: replaced replace\r\nX-Before: yes\r\nX-Prepend: p\r\nX-Hold: h\r\nX-Bcc: b\r\nX-Folded: first\r\n\tsecond\r\n\r\nswapped swap\r\nkeep\r\ndeep but beyond the body_checks_size_limit\r\n"
	if err != nil || out != want || !v.Hold || len(v.Bcc) != 1 || v.Bcc[0] != "copy@o.test" || v.Reject != nil {
		t.Errorf("got %q, %+v, %v\nwant %q", out, v, err, want)
	}
	for msg, code := range map[string]int{"X-Reject: soft\r\n\r\n": 451, "X-Reject: hard\r\n\r\n": 550, "\r\ndeep\r\n": 550} {
		if _, v, _ := check(msg); v.Reject == nil || v.Reject.Code != code {
			t.Errorf("%q: got %+v, want %d", msg, v.Reject, code)
		}
	}
	if _, v, _ := check("X-Reject: hard\r\n\r\n"); v.Reject.Status != "5.7.1" || v.Reject.Message != "message content rejected" {
		t.Errorf("default REJECT reply: %+v", v.Reject)
	}
	// DISCARD and REDIRECT end the checks: the REJECT after them is not seen.
	if _, v, _ := check("X-Discard: d\r\nX-Reject: hard\r\n\r\n"); !v.Discard || v.Reject != nil {
		t.Errorf("DISCARD: %+v", v)
	}
	if _, v, _ := check("X-Redirect: r\r\nX-Reject: hard\r\n\r\n"); v.Redirect != "elsewhere@o.test" || v.Reject != nil {
		t.Errorf("REDIRECT: %+v", v)
	}
	// FILTER names the content filter; the last one wins, and one
	// without transport:destination is ignored.
	if _, v, err := check("X-Filter: f\r\nX-Filter2: g\r\nX-Filter3: h\r\n\r\n"); err != nil || v.Filter != "lmtp:[127.0.0.1]:10026" {
		t.Errorf("FILTER: %+v, %v", v, err)
	}
}

// TestCheckMIME: part headers are checked by mime_header_checks, an
// attached message's by nested_header_checks, a part's body lines count
// from the part's start; with NoMIME (disable_mime_input_processing)
// they are all body lines.
func TestCheckMIME(t *testing.T) {
	mime := openRegexp(t, "regexp", "/name=.*\\.exe/ REJECT attachment\n")
	nested := openRegexp(t, "regexp", "/^Subject: inner/ REPLACE Subject: checked\n")
	msg := "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nx\r\n--B\r\nContent-Type: application/x; name=a.exe\r\n\r\n--B--\r\n"
	for _, noMIME := range []bool{false, true} {
		cl, _ := New(Config{MIMEHeaderChecks: []lookup.Table{mime}, NestedHeaderChecks: []lookup.Table{nested}, NoMIME: noMIME})
		out, v, err := cl.Check(context.Background(), Message{QueueID: "Q"}, strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		if got := v.Reject != nil && strings.Contains(string(out), "Subject: checked"); got == noMIME {
			t.Errorf("NoMIME %v: got %q, %+v", noMIME, out, v.Reject)
		}
	}
}
