package msgauth

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/policy"
)

// FuzzStripForged: whatever the header, no Authentication-Results field
// claiming our authserv-id survives, the body and every other field are
// kept in order, and stripping twice changes nothing more.
func FuzzStripForged(f *testing.F) {
	for _, s := range []string{
		"Authentication-Results: mx.example.org; dkim=pass\r\nSubject: x\r\n\r\nbody\r\n",
		"Authentication-Results: (c) \"mx.example.org\";\r\n\tspf=pass\r\n\r\n",
		"\tcontinuation first\r\nAuthentication-Results: mx.example.org\r\n",
		"Authentication-Results:mx.example.org.\r\n\r\n",
		"Authentication-Results: (a (b) \\) mx.example.org; none\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		const id = "mx.example.org"
		out := StripForged(msg, id)
		end := headerEnd(msg)
		if !bytes.HasSuffix(out, msg[end:]) {
			t.Fatalf("the body changed: %q -> %q", msg, out)
		}
		var kept [][]byte
		for _, f := range fields(msg[:end]) {
			ours := strings.EqualFold(fieldName(f), "Authentication-Results") && sameID(AuthservID(f[bytes.IndexByte(f, ':')+1:]), id)
			if !ours {
				kept = append(kept, f)
			}
		}
		if want := append(bytes.Join(kept, nil), msg[end:]...); !bytes.Equal(out, want) {
			t.Fatalf("StripForged(%q) = %q, want %q", msg, out, want)
		}
		if again := StripForged(out, id); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q", out, again)
		}
		if n := len(bytes.Join(fields(msg[:end]), nil)); n != end {
			t.Fatalf("fields lose bytes: %d of %d", n, end)
		}
	})
}

// FuzzAuthservID: an authserv-id is a non-empty token or the content of
// a quoted string; a token never holds white space, ';' or '('.
func FuzzAuthservID(f *testing.F) {
	for _, s := range []string{" mx.example.org; spf=pass", "(c) x 1; none", `"q\"d"; none`, "((", `"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		id := AuthservID(v)
		rest := skipCFWS(v)
		if id == "" || len(rest) > 0 && rest[0] == '"' {
			return
		}
		if strings.ContainsAny(id, " \t\r\n;()") || !bytes.HasPrefix(rest, []byte(id)) {
			t.Fatalf("AuthservID(%q) = %q", v, id)
		}
	})
}

// FuzzFromDomain: the From domain is lower case, has no '@' and no
// white space, and comes from a message with exactly one From field.
func FuzzFromDomain(f *testing.F) {
	for _, s := range []string{"From: a@Example.org\r\n\r\n", "From: \"x\" <a@b.c>\r\nFrom: d@e\r\n\r\n", "From: <@>\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		d, ok := fromDomain(msg)
		if !ok {
			return
		}
		if d == "" || d != strings.ToLower(d) || strings.ContainsAny(d, "@ \t\r\n") {
			t.Fatalf("fromDomain(%q) = %q", msg, d)
		}
	})
}

// FuzzCheck: whatever message a client sends, Check returns results (no
// panic), an Action that is one of the three, and an
// Authentication-Results field that stays one header field: every line
// after the first a continuation, no CR or LF inside a line, printable
// ASCII only. DNS answers nothing, so nothing leaves the process.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		testMessage,
		"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=x; h=From; bh=; b=\r\nFrom: a@example.org\r\n\r\nx\r\n",
		"DKIM-Signature: v=1; a=ed25519-sha256; d=\"\r\n\tx\"; s=x; h=from:from; l=99999; bh=AA==; b=AA==\r\nFrom: a@b\r\n\r\n",
		"From: a@b.example, c@d.example\r\nFrom: e@f\r\n\r\n",
		"\r\n",
	} {
		f.Add([]byte(s))
	}
	c, err := New(Config{AuthservID: "mx.example.net", DNS: policy.DNSFunc(func(context.Context, string, policy.RRType) ([]string, error) {
		return nil, policy.ErrNoRecords
	})})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		r := c.Check(t.Context(), Message{ClientAddr: netip.MustParseAddr("192.0.2.1"), Helo: "client.example", Sender: "a@example.org", Data: msg})
		if r.Action != Annotate && r.Action != Hold && r.Action != Reject {
			t.Fatalf("action %v", r.Action)
		}
		for i, line := range strings.Split(r.Field(), "\r\n") {
			if i > 0 && !strings.HasPrefix(line, "\t") {
				t.Fatalf("line %d is not a continuation: %q", i, line)
			}
			for _, ch := range []byte(line) {
				if (ch < ' ' && ch != '\t') || ch >= 0x7f {
					t.Fatalf("line %d has byte %#x: %q", i, ch, line)
				}
			}
		}
	})
}

// FuzzSignatureTags: one entry per DKIM-Signature field, and tag values
// without white space.
func FuzzSignatureTags(f *testing.F) {
	for _, s := range []string{
		"DKIM-Signature: v=1; d=example.org;\r\n s=sel; b=AAAA\r\n BBBB\r\n\r\n",
		"dkim-signature:d=a;s=b;s=c;d\r\nDKIM-Signature : x\r\n",
		"DKIM-Signature: d = ex ample . org ; s\t=\r\n\tsel\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		tags := signatureTags(msg)
		n := 0
		for _, fl := range fields(msg[:headerEnd(msg)]) {
			if strings.EqualFold(fieldName(fl), "DKIM-Signature") {
				n++
			}
		}
		if len(tags) != n {
			t.Fatalf("%d tag sets for %d fields", len(tags), n)
		}
		for _, tg := range tags {
			if strings.ContainsAny(tg.d+tg.s, " \t\r\n") {
				t.Fatalf("white space in %+v", tg)
			}
		}
	})
}
