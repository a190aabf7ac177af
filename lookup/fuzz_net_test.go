package lookup

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// FuzzNetstring: whatever a socketmap server sends, readNetstring returns
// at most max bytes or an error, and a netstring we write reads back as
// the same string.
func FuzzNetstring(f *testing.F) {
	for _, s := range []string{"2:OK,", "0:,", "12:NOTFOUND abc,", "5:OK ab;", ":,", "00003:abc,", "3:ab", "99999999999999999999:x,", "1:\x00,"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 64
		s, err := readNetstring(bufio.NewReader(bytes.NewReader(in)), max)
		if err == nil {
			if len(s) > max {
				t.Fatalf("readNetstring returned %d bytes, over the limit %d", len(s), max)
			}
			// What was read is a prefix of the input, framed.
			if !bytes.Contains(in, []byte(s+",")) {
				t.Fatalf("readNetstring(%q) = %q, not in the input", in, s)
			}
		}
		w := appendNetstring(nil, string(in))
		back, err := readNetstring(bufio.NewReader(bytes.NewReader(w)), len(in))
		if err != nil || back != string(in) {
			t.Fatalf("round trip of %q: %q, %v", in, back, err)
		}
	})
}

// FuzzSocketmapReply: a reply is found exactly when it starts "OK " or
// is "OK"; an error always has a kind; nothing else is a miss but
// "NOTFOUND...".
func FuzzSocketmapReply(f *testing.F) {
	for _, s := range []string{"OK value", "OK", "NOTFOUND ", "NOTFOUND", "TEMP x", "TIMEOUT", "PERM \x01bad", "ok x", "OKvalue", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		v, found, kind, err := parseSocketmapReply(reply)
		status, payload, _ := strings.Cut(reply, " ")
		switch {
		case status == "OK":
			if !found || err != nil || v != payload {
				t.Fatalf("%q: %q, %v, %v; want found %q", reply, v, found, err, payload)
			}
		case status == "NOTFOUND":
			if found || err != nil {
				t.Fatalf("%q: %v, %v; want a miss", reply, found, err)
			}
		default:
			if found || err == nil || (kind != Temporary && kind != Config) {
				t.Fatalf("%q: found %v, error %v, kind %v; want an error", reply, found, err, kind)
			}
			if kind == Config && status != "PERM" {
				t.Fatalf("%q: Config error for a reply other than PERM", reply)
			}
			if len(err.Error()) > 500 { // 100 bytes quoted, and the words around
				t.Fatalf("%q: error of %d bytes: the server's text is not capped", reply, len(err.Error()))
			}
		}
	})
}

// FuzzTCPReply: hexQuote output is one token of printable ASCII that
// hexUnquote turns back into the key; a reply line is found only with a
// 2xx code, and an error is never a miss.
func FuzzTCPReply(f *testing.F) {
	for _, s := range []string{"200 value", "500 no", "400 later", "200 a%20b", "200 a%zz", "2000", "abc", "200\tv", "200 %", "200 %4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		q := string(hexQuote(line))
		for i := 0; i < len(q); i++ {
			if q[i] <= ' ' || q[i] >= 0x7f {
				t.Fatalf("hexQuote(%q) = %q: byte %#x is not quoted", line, q, q[i])
			}
		}
		if back, ok := hexUnquote(q); !ok || back != line {
			t.Fatalf("hexUnquote(hexQuote(%q)) = %q, %v", line, back, ok)
		}
		v, found, err := parseTCPReply(line)
		if found && (err != nil || line[0] != '2') {
			t.Fatalf("%q: found with %v", line, err)
		}
		if !found && err == nil && (len(line) < 4 || line[0] != '5') {
			t.Fatalf("%q: a miss without a 5xx code", line)
		}
		if !found && v != "" {
			t.Fatalf("%q: value %q without a hit", line, v)
		}
	})
}

// FuzzPCRELine: any line of a pcre: table parses without panicking; a
// rule it accepts matches any key without panicking, its $n references
// name groups that exist, and the translated pattern keeps no escape
// whose meaning differs between PCRE and regexp2.
func FuzzPCRELine(f *testing.F) {
	for _, s := range []string{`/^(\w+)@(.*)$/ $2:$1`, `!/a/ b`, `if /x/`, `endif`, `/\bx\b/i y`, `/[[:alpha:]\d-]/ z`, `/(?<n>a)\k<n>/ w`, `/\Qa.b\E/ q`, `/é/i x`, `/(?#c)a/A x`, `/a/x # c`} {
		f.Add(s, "key@example.com")
	}
	f.Fuzz(func(t *testing.T, line, key string) {
		r, kind, err := parsePCRELine(line)
		if err != nil || kind == "endif" {
			return
		}
		m := r.re.(pcreMatcher)
		if !r.block {
			if err := checkSubst(r.value, m.groups); err != nil {
				t.Fatalf("%q: accepted a result with bad references: %v", line, err)
			}
		}
		loc, ok, err := m.find(key, true)
		if err == nil && ok && (len(loc) < 2 || loc[0] < 0 || loc[1] > len(key) || loc[0] > loc[1]) {
			t.Fatalf("%q on %q: match at %v outside the key", line, key, loc)
		}
	})
}

// FuzzTranslatePCRE: a translated pattern has no \d \w \s \b left (they
// are rewritten to PCRE's ASCII classes) and, when case-insensitive, no
// byte over 0x7f.
func FuzzTranslatePCRE(f *testing.F) {
	for _, s := range []string{`\d+\w*\s?\b`, `[\d\w\s]`, `\\d`, `[[:digit:]]`, `\x{41}`, `\Q\d\E`, `(?P<a>x)(?P=a)`} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, p string, caseless bool) {
		out, err := translatePCRE(p, pcreFlags{caseless: caseless})
		if err != nil {
			return
		}
		for i := 0; i < len(out); i++ {
			if out[i] == '\\' && i+1 < len(out) {
				if strings.IndexByte("dDwWsS", out[i+1]) >= 0 {
					t.Fatalf("translatePCRE(%q) = %q keeps \\%c", p, out, out[i+1])
				}
				i++
			}
			if caseless && out[i] >= 0x80 {
				t.Fatalf("translatePCRE(%q, caseless) = %q keeps a non-ASCII byte", p, out)
			}
		}
	})
}
