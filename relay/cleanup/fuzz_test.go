package cleanup

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/lookup"
)

// FuzzSplitAddresses checks the table value reader: it never panics,
// gives no empty address, no address with a separator outside quotes,
// and reading its own output again (joined with ", ") gives the same
// addresses.
func FuzzSplitAddresses(f *testing.F) {
	for _, s := range []string{"a@b, c@d e@f", "Name <a@b>", `"x y"@b (comment) c@d`, "<a@b>, <c@d>", "(unclosed", `"unclosed`, "a@b,,,c", "<a@b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got := SplitAddresses(v)
		for _, a := range got {
			if a == "" {
				t.Fatalf("%q: empty address in %q", v, got)
			}
			if strings.ContainsAny(unquoted(a), " \t\r\n,<>()") {
				t.Fatalf("%q: separator in address %q", v, a)
			}
		}
		if again := SplitAddresses(strings.Join(got, ", ")); !slices.Equal(again, got) {
			t.Fatalf("%q: %q read again is %q", v, got, again)
		}
	})
}

// withHeaderEnd is m with the empty line Postfix puts before the first
// line of the message header that is no header field (when no empty
// line comes first).
func withHeaderEnd(m string) string {
	inField := false
	for i := 0; i < len(m); {
		end := strings.Index(m[i:], "\r\n")
		line := m[i : i+end]
		if line == "" {
			return m
		}
		if isBodyLine(line, inField) {
			return m[:i] + "\r\n" + m[i:]
		}
		inField = true
		i += end + 2
	}
	return m
}

// unquoted drops the quoted strings of a, for the separator check.
func unquoted(a string) string {
	var b strings.Builder
	for i := 0; i < len(a); i++ {
		if a[i] == '"' {
			i = quotedEnd(a, i) - 1
			continue
		}
		b.WriteByte(a[i])
	}
	return b.String()
}

// FuzzHeader checks the RFC 822 address-list model on hostile header
// values: scanning, grouping and writing back never panic nor blow up
// (at most 10 bytes written per byte read), a rewritten field has no CR
// the value did not have and no empty continuation line, and a
// header holding no address to rewrite comes back unchanged.
func FuzzHeader(f *testing.F) {
	for _, s := range []string{`"Old Name" <old@dest.test>, other@dest.test`, "team: a@b, c@d;", "a@b (c) <d@e>", "<@r:u@d>", `"a\"b"@c`, "((nested) x", "a!b, c%d", "[1.2.3.4]", "<>", "@", "a@b.", `\`, "x y z"} {
		f.Add(s)
	}
	canon := lookup.TableFunc(func(_ context.Context, key string) (string, bool, error) {
		return "new@dest.test", key == "old@dest.test", nil
	})
	cl, err := New(Config{Canonical: []lookup.Table{canon}, MyOrigin: "o.test", SwapBangpath: true, PercentHack: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if len(v) > 4096 {
			return
		}
		var b strings.Builder
		external(&b, parseAddressList(v), true, true)
		if n := b.Len(); n > 10*len(v)+64 {
			t.Fatalf("%q: written as %d bytes", v, n)
		}
		field, changed, err := cl.Header(context.Background(), "Q", "To: "+v)
		if err != nil {
			t.Fatal(err)
		}
		if changed && (strings.ContainsRune(field, '\r') && !strings.ContainsRune(v, '\r') || strings.Contains(field, "\n\n") || strings.HasSuffix(field, "\n")) {
			t.Fatalf("%q: bad field %q", v, field)
		}
		if got, changed, _ := cl.Header(context.Background(), "Q", "X-Not-An-Address: "+v); changed || got != "X-Not-An-Address: "+v {
			t.Fatalf("%q: a non-address header changed to %q", v, got)
		}
	})
}

// FuzzCheck checks header_checks and body_checks on hostile messages:
// never a panic; a message that no rule matches is queued byte for byte
// as it came (CRLF lines), but for the empty line Postfix puts before a
// first line that is no header field; a rule that IGNOREs every header field and
// body line leaves only the empty line between them, and nothing after a
// message without one.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"Subject: x\r\n\r\nbody\r\n", "To: a\r\n b\r\n\r\n", "no header\r\nline\r\n", "\r\n\r\n", " cont\r\n", "A:\r\nB: c\r\n"} {
		f.Add(s)
	}
	never := lookup.TableFunc(func(context.Context, string) (string, bool, error) { return "", false, nil })
	all := lookup.TableFunc(func(context.Context, string) (string, bool, error) { return "IGNORE", true, nil })
	keep, _ := New(Config{HeaderChecks: []lookup.Table{never}, BodyChecks: []lookup.Table{never}})
	drop, _ := New(Config{HeaderChecks: []lookup.Table{all}, BodyChecks: []lookup.Table{all}, BodyChecksSizeLimit: 1 << 30})
	f.Fuzz(func(t *testing.T, m string) {
		if strings.ContainsAny(strings.ReplaceAll(m, "\r\n", ""), "\r\n") || m != "" && !strings.HasSuffix(m, "\r\n") {
			return // the relay gives CRLF lines only
		}
		want := withHeaderEnd(m)
		out, v, err := keep.Check(context.Background(), Message{QueueID: "Q"}, strings.NewReader(m))
		if err != nil || string(out) != want || v.Reject != nil || v.Discard {
			t.Fatalf("%q: no rule matched, got %q, %+v, %v", m, out, v, err)
		}
		out, _, err = drop.Check(context.Background(), Message{QueueID: "Q"}, strings.NewReader(m))
		if err != nil || string(out) != "" && string(out) != "\r\n" {
			t.Fatalf("%q: every line ignored, got %q, %v", m, out, err)
		}
	})
}

// FuzzMasquerade: masquerading keeps the localpart, gives the address or
// the address with one of masquerade_domains as its domain (a parent of
// the one it had), and changes nothing when done again.
func FuzzMasquerade(f *testing.F) {
	for _, s := range []string{"u@host.example.com", "u@x.sub.example.com", "root@a.example.com", "u@example.com", "@.example.com", "u@", "a@b@c.example.com", "u@EXAMPLE.COM.example.com", ""} {
		f.Add(s)
	}
	domains := []string{"!sub.example.com", "example.com", "", "!", "other.test"}
	cl, err := New(Config{MasqueradeDomains: domains, MasqueradeExceptions: []string{"root"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		got := cl.masquerade(addr, EnvelopeSender)
		if got == addr {
			return
		}
		at := strings.LastIndexByte(addr, '@')
		if at < 0 || !strings.HasPrefix(got, addr[:at+1]) {
			t.Fatalf("%q: localpart changed in %q", addr, got)
		}
		d := got[at+1:]
		if !slices.Contains(domains, d) || !strings.HasSuffix(strings.ToLower(addr[at+1:]), "."+d) {
			t.Fatalf("%q: masqueraded to %q, not to a parent domain of the list", addr, got)
		}
		if again := cl.masquerade(got, EnvelopeSender); again != got {
			t.Fatalf("%q: %q masqueraded again is %q", addr, got, again)
		}
	})
}

// FuzzFinishHeader checks the header pass on any message a client may
// send: it never fails on a reader without errors, leaves everything from
// the end of the header on unchanged (but for the empty line a header
// ended by another line gets), and removes every field
// message_drop_headers names from the header, for a remote client and
// for a local one (whose address headers are rewritten and missing
// fields added).
func FuzzFinishHeader(f *testing.F) {
	for _, s := range []string{
		"Bcc: a@b\r\nSubject: x\r\n\r\nBcc: body\r\n",
		"Subject: x\r\n Bcc: folded\r\nReturn-Path: <a@b>\r\n\r\n",
		"not a header\r\nBcc: x\r\n",
		"Resent-Bcc: x\r\n",
		"",
		"\r\n\r\nbody",
		"Bcc : spaced\r\nbcc:x\r\n\r\n",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, msg string, local bool) {
		cl, err := New(Config{DropHeaders: []string{"bcc", "return-path"}, HeaderSizeLimit: 200, MyHostname: "h.test"})
		if err != nil {
			t.Fatal(err)
		}
		r, err := cl.FinishHeader(context.Background(), Message{QueueID: "Q", Sender: "s@x", Local: local}, strings.NewReader(msg))
		if err != nil {
			t.Fatalf("%q: %v", msg, err)
		}
		b, _ := io.ReadAll(r)
		out := string(b)
		// The header ends at the first empty line, or at the first line
		// that cannot be in a header; the pass must not touch the rest.
		inHead, _ := headerOf(msg)
		_, tail := headerOf(out)
		want := msg[len(inHead):]
		first := len(want) // the line that ends the header counts toward the limit
		if i := strings.IndexByte(want, '\n'); i >= 0 {
			first = i + 1
		}
		if strings.TrimRight(want[:first], "\r\n") != "" && len(inHead)+first <= 200 {
			want = "\r\n" + want // the empty line a header lacks
		}
		if len(inHead) <= 200 && tail != want {
			t.Fatalf("%q: after the header\n got  %q\n want %q", msg, tail, want)
		}
		outHead, _ := headerOf(out)
		if len(inHead) <= 200 {
			for _, line := range strings.Split(outHead, "\r\n") {
				name, _, _ := strings.Cut(line, ":")
				if n := strings.ToLower(strings.TrimRight(name, " \t")); (n == "bcc" || n == "return-path") && line != "" && line[0] != ' ' && line[0] != '\t' {
					t.Fatalf("%q: %q kept", msg, line)
				}
			}
		}
	})
}

// headerOf splits a CRLF message where FinishHeader ends its header: at
// an empty line or a line that is not a header field, the line itself
// in the tail.
func headerOf(msg string) (head, tail string) {
	inField := false
	for i := 0; i < len(msg); {
		end := strings.Index(msg[i:], "\n")
		if end < 0 {
			end = len(msg) - i - 1
		}
		line := strings.TrimRight(msg[i:i+end+1], "\r\n")
		if line == "" || isBodyLine(line, inField) {
			return msg[:i], msg[i:]
		}
		inField = true
		i += end + 1
	}
	return msg, ""
}
