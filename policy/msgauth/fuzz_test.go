package msgauth

import (
	"bytes"
	"strings"
	"testing"
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
