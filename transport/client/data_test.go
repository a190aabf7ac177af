package client

import (
	"bytes"
	"strings"
	"testing"
)

// canonical is the reference for lineWriter without stuffing: CRLF, bare
// CR and bare LF each become CRLF; an unterminated last line gets CRLF.
func canonical(in string) string {
	s := strings.ReplaceAll(in, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return strings.ReplaceAll(s, "\n", "\r\n")
}

func writeChunks(in string, stuff bool, cut int) string {
	var out bytes.Buffer
	lw := newLineWriter(&out, stuff)
	for cut > 0 && len(in) > cut {
		lw.Write([]byte(in[:cut]))
		in = in[cut:]
	}
	lw.Write([]byte(in))
	lw.finish()
	return out.String()
}

func TestLineWriter(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"a", "a\r\n"},
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\nb\n", "a\r\nb\r\n"},                   // bare LF
		{"a\rb\r", "a\r\nb\r\n"},                   // bare CR
		{"a\r\r\nb", "a\r\n\r\nb\r\n"},             // CR CR LF: a bare CR, then CRLF
		{".\r\n", "..\r\n"},                        // a lone dot is stuffed
		{"x\r\n.\r\n.y\r\n", "x\r\n..\r\n..y\r\n"}, // dot at line start
		{"x\n.\nMAIL FROM:<e>\n", "x\r\n..\r\nMAIL FROM:<e>\r\n"},
		{"x\r\n\n.\r\n", "x\r\n\r\n..\r\n"}, // smuggling attempt <LF>.<CR><LF>
		{"x\r.\r", "x\r\n..\r\n"},           // <CR>.<CR>
		{"a.b\r\n", "a.b\r\n"},
	} {
		for _, cut := range []int{0, 1, 2, 3} {
			if got := writeChunks(tc.in, true, cut); got != tc.want {
				t.Errorf("%q cut %d: got %q, want %q", tc.in, cut, got, tc.want)
			}
		}
	}
}

func TestScanContent(t *testing.T) {
	for _, tc := range []struct {
		in               string
		eightBit, header bool
	}{
		{"Subject: x\r\n\r\nbody\r\n", false, false},
		{"Subject: caf\xc3\xa9\r\n\r\nbody\r\n", true, true},
		{"Subject: x\n\nbody caf\xc3\xa9\n", true, false},
		{"Subject: x\r\rcaf\xc3\xa9", true, false},
		{"Subject: x", false, false},
	} {
		ci, err := scanContent(strings.NewReader(tc.in), int64(len(tc.in)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if ci.eightBit != tc.eightBit || ci.utf8Header != tc.header {
			t.Errorf("%q: %+v", tc.in, ci)
		}
		if want := int64(len(canonical(tc.in))); ci.size != want {
			t.Errorf("%q: size %d, want %d", tc.in, ci.size, want)
		}
	}
	if _, err := scanContent(strings.NewReader("short"), 10, nil); err == nil {
		t.Error("short body not reported")
	}
}

func TestEncodings(t *testing.T) {
	if got := xtext("a+b=c d\xe9"); got != "a+2Bb+3Dc+20d+E9" {
		t.Errorf("xtext %q", got)
	}
	if got := utf8AddrText("jöe+x@d", false); got != `j\x{F6}e\x{2B}x@d` {
		t.Errorf("utf-8-addr-xtext %q", got)
	}
	if got := utf8AddrText("jöe+x@d", true); got != `jöe\x{2B}x@d` {
		t.Errorf("utf-8-addr-unitext %q", got)
	}
	for v, ok := range map[string]bool{"NEVER": true, "success,failure": true, "DELAY": true, "NEVER,SUCCESS": false, "": false, "X": false} {
		if validNotify(v) != ok {
			t.Errorf("validNotify(%q) = %v", v, !ok)
		}
	}
}

// FuzzLineWriter checks the properties the SMTP smuggling defence relies
// on: the output has no bare CR or LF, no line is a lone "." (so the data
// cannot end early), removing the stuffing gives the canonical input, the
// result does not depend on how the input is split, and scanContent
// predicts the size exactly.
func FuzzLineWriter(f *testing.F) {
	for _, s := range []string{"", "a\r\nb", ".\r\n", "x\n.\r\n", "\r\r\n\n", "..\r.", "x\r\n.\nQUIT\r\n"} {
		f.Add(s, 1)
	}
	f.Fuzz(func(t *testing.T, in string, cut int) {
		out := writeChunks(in, true, cut%17)
		if whole := writeChunks(in, true, 0); out != whole {
			t.Fatalf("split-dependent output %q vs %q", out, whole)
		}
		for i := 0; i < len(out); i++ {
			switch out[i] {
			case '\r':
				if i+1 >= len(out) || out[i+1] != '\n' {
					t.Fatalf("bare CR at %d in %q", i, out)
				}
				i++
			case '\n':
				t.Fatalf("bare LF at %d in %q", i, out)
			}
		}
		if out != "" && !strings.HasSuffix(out, "\r\n") {
			t.Fatalf("unterminated output %q", out)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n")
		var unstuffed []string
		for _, l := range lines {
			if l == "." {
				t.Fatalf("lone dot line in %q", out)
			}
			unstuffed = append(unstuffed, strings.TrimPrefix(l, "."))
		}
		plain := ""
		if out != "" {
			plain = strings.Join(unstuffed, "\r\n") + "\r\n"
		}
		if plain != canonical(in) {
			t.Fatalf("unstuffed %q, canonical %q", plain, canonical(in))
		}
		if nostuff := writeChunks(in, false, cut%5); nostuff != plain {
			t.Fatalf("BDAT form %q, want %q", nostuff, plain)
		}
		ci, err := scanContent(strings.NewReader(in), int64(len(in)), nil)
		if err != nil || ci.size != int64(len(plain)) {
			t.Fatalf("scan size %d (%v), want %d", ci.size, err, len(plain))
		}
	})
}
