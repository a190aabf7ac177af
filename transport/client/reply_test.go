package client

import (
	"bufio"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestParseReply(t *testing.T) {
	for _, tc := range []struct {
		in       string
		code     int
		enhanced EnhancedCode
		lines    []string
		message  string
	}{
		{"250 2.0.0 Ok: queued as 4Xyz\r\n", 250, EnhancedCode{2, 0, 0}, []string{"2.0.0 Ok: queued as 4Xyz"}, "Ok: queued as 4Xyz"},
		{"250-mx.test\r\n250-PIPELINING\r\n250 SIZE 10240000\r\n", 250, EnhancedCode{}, []string{"mx.test", "PIPELINING", "SIZE 10240000"}, "mx.test PIPELINING SIZE 10240000"},
		{"550-5.1.1 The email account does not exist.\r\n550 5.1.1 Please check.\r\n", 550, EnhancedCode{5, 1, 1},
			[]string{"5.1.1 The email account does not exist.", "5.1.1 Please check."}, "The email account does not exist. Please check."},
		{"354 End data with <CR><LF>.<CR><LF>\n", 354, EnhancedCode{}, []string{"End data with <CR><LF>.<CR><LF>"}, "End data with <CR><LF>.<CR><LF>"},
		{"250\r\n", 250, EnhancedCode{}, []string{""}, ""},
		// An enhanced code of another class is text, not a status.
		{"550 4.1.1 odd\r\n", 550, EnhancedCode{}, []string{"4.1.1 odd"}, "4.1.1 odd"},
		{"421 4.4.2 mx.test Error: timeout exceeded", 421, EnhancedCode{4, 4, 2}, []string{"4.4.2 mx.test Error: timeout exceeded"}, "mx.test Error: timeout exceeded"},
		// Control characters and invalid UTF-8 are neutralised.
		{"550 bad\x00\x1b[31m \xff text\r\n", 550, EnhancedCode{}, []string{"bad??[31m ? text"}, "bad??[31m ? text"},
	} {
		r, err := ParseReply(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if r.Code != tc.code || r.Enhanced != tc.enhanced || !reflect.DeepEqual(r.Lines, tc.lines) || r.Message() != tc.message {
			t.Errorf("%q: got %+v message %q", tc.in, r, r.Message())
		}
	}
}

func TestParseReplyMalformed(t *testing.T) {
	for _, in := range []string{
		"", "25\r\n", "abc ok\r\n", "650 nope\r\n", "150 nope\r\n", "250x\r\n",
		"250-a\r\n", // continuation without end
		"250-a\r\n251 b\r\n",
		"250 a\r\n250 b\r\n", // trailing second reply
		strings.Repeat("250-a\r\n", MaxReplyLines) + "250 a\r\n",
		strings.Repeat("250-"+strings.Repeat("x", 2000)+"\r\n", 40) + "250 a\r\n",
	} {
		if r, err := ParseReply(in); err == nil {
			t.Errorf("%.60q: parsed as %+v", in, r)
		} else if !errors.Is(err, ErrMalformedReply) {
			t.Errorf("%.60q: error %v does not wrap ErrMalformedReply", in, err)
		}
	}
}

func TestParseEnhancedCode(t *testing.T) {
	good := map[string]EnhancedCode{"2.0.0": {2, 0, 0}, "5.7.1": {5, 7, 1}, "4.999.999": {4, 999, 999}}
	for s, want := range good {
		if c, ok := ParseEnhancedCode(s); !ok || c != want || c.String() != s {
			t.Errorf("%q: %v %v", s, c, ok)
		}
	}
	for _, s := range []string{"", "3.0.0", "5.1", "5.1.1.1", "5..1", "5.1000.1", "55.1.1", "5.a.1", "5.1.1 "} {
		if c, ok := ParseEnhancedCode(s); ok {
			t.Errorf("%q accepted as %v", s, c)
		}
	}
}

func FuzzReplyParser(f *testing.F) {
	for _, s := range []string{
		"250 2.0.0 Ok\r\n", "250-a\r\n250 b\r\n", "550-5.1.1 x\r\n550 5.1.1 y\r\n", "220 mx ESMTP\n",
		"421", "250-\r\n250 \r\n", "550 5.1.1\r\n", "250 a\rb\r\n", "500 \xff\x00\r\n", "299-x\n299 y",
		"250-mx\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 STARTTLS\r\n", "250-mx\r\n250 SIZE -1\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r, err := ParseReply(in)
		if err != nil {
			if !errors.Is(err, ErrMalformedReply) {
				t.Fatalf("error %v does not wrap ErrMalformedReply", err)
			}
			return
		}
		if r.Code < 200 || r.Code > 599 {
			t.Fatalf("code %d out of range", r.Code)
		}
		if len(r.Lines) == 0 || len(r.Lines) > MaxReplyLines {
			t.Fatalf("%d lines", len(r.Lines))
		}
		if !r.Enhanced.IsZero() && r.Enhanced[0] != r.Code/100 {
			t.Fatalf("enhanced %v with code %d", r.Enhanced, r.Code)
		}
		for _, l := range r.Lines {
			if strings.ContainsAny(l, "\r\n\x00") || len(l) > MaxReplyLineLength {
				t.Fatalf("unsafe line %q", l)
			}
		}
		if strings.ContainsAny(r.String(), "\r\n") {
			t.Fatalf("String() has a line break: %q", r.String())
		}
		// Formatting then parsing again gives the same reply.
		again, err := ParseReply(r.Format())
		if err != nil {
			t.Fatalf("re-parse of %q: %v", r.Format(), err)
		}
		if !reflect.DeepEqual(r, again) {
			t.Fatalf("unstable: %+v vs %+v", r, again)
		}
		// Read as an EHLO reply: extensions come only from keyword lines
		// after the first, and a SIZE limit is never negative.
		x := parseEHLO(r)
		pipelining := false
		for _, l := range r.Lines[1:] {
			kw, _, _ := strings.Cut(strings.TrimSpace(l), " ")
			pipelining = pipelining || strings.EqualFold(kw, "PIPELINING")
		}
		if x.pipelining != pipelining || x.sizeLimit < 0 || (x.sizeLimit > 0 && !x.size) {
			t.Fatalf("EHLO %q read as %+v", r.Lines, x)
		}
	})
}

// The String methods of the enumerations never panic, whatever the value.
func TestEnumStrings(t *testing.T) {
	for _, v := range []int{-1000, -1, 0, 1, 3, 11, 12, 1000} {
		for _, s := range []fmt.Stringer{Kind(v), Status(v), TLSLevel(v), Stage(v)} {
			if s.String() == "" && v != 0 {
				t.Errorf("%T(%d) has no name", s, v)
			}
		}
	}
	if KindTimeout.String() != "timeout" || Failed.String() != "failed" || TLSVerify.String() != "verify" {
		t.Error("names changed")
	}
}

// Of a long multi-line reply, the text kept is bounded as Postfix's
// smtp_chat_resp bounds it (line_length_limit, 2048 bytes): the lines
// after are read and dropped, so a peer cannot make every one of many
// recipients hold a 64 KiB reply.
func TestReplyTextKept(t *testing.T) {
	line := strings.Repeat("x", 100)
	in := strings.Repeat("550-5.1.1 "+line+"\r\n", 100) + "550 5.1.1 last\r\n"
	r, err := ParseReply(in)
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for _, l := range r.Lines {
		kept += len(l) + 1
	}
	if kept > 2*MaxReplyLineLength || len(r.Lines) == 101 {
		t.Fatalf("kept %d lines, %d bytes", len(r.Lines), kept)
	}
	if r.Code != 550 || r.Enhanced != (EnhancedCode{5, 1, 1}) || r.Lines[0] != "5.1.1 "+line {
		t.Fatalf("reply %v", r)
	}
	// An EHLO reply of usual size is kept whole.
	ehlo := "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n" +
		"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"
	if r, err := ParseReply(ehlo); err != nil || len(r.Lines) != 11 {
		t.Fatalf("EHLO reply: %v %v", r.Lines, err)
	}
}

// TestParseReplyLongLine: a reply line longer than line_length_limit is
// cut there and the rest skipped, as Postfix's smtp_get does: a 1 MiB 250
// is still a 250 (taken as malformed, the message would be sent again).
func TestParseReplyLongLine(t *testing.T) {
	for _, n := range []int{MaxReplyLineLength - 3, MaxReplyLineLength + 1, 1 << 20} {
		in := "250 " + strings.Repeat("a", n) + "\r\n"
		br := bufio.NewReaderSize(strings.NewReader(in), MaxReplyLineLength+16)
		r, err := readReply(br)
		if err != nil || r.Code != 250 || len(r.Lines[0]) != min(n, MaxReplyLineLength-4) {
			t.Errorf("%d bytes: %d, %d bytes kept, %v", n, r.Code, len(r.Lines), err)
		}
	}
	// A line without end is still refused, past 4 MiB.
	in := "250 " + strings.Repeat("a", 5<<20)
	if _, err := readReply(bufio.NewReaderSize(strings.NewReader(in), MaxReplyLineLength+16)); err == nil {
		t.Error("5 MiB without a line end accepted")
	}
}
