package relay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func readData(in string, lim DataLimits) (string, error) {
	out, err := io.ReadAll(newDataReader(strings.NewReader(in), lim))
	return string(out), err
}

func TestDataReaderLineEndings(t *testing.T) {
	for _, tc := range []struct {
		in     string
		reject error  // with BareReject
		normal string // with BareNormalize
	}{
		{in: "a\r\nb\r\n", normal: "a\r\nb\r\n"},
		{in: "", normal: ""},
		{in: "no final newline", normal: "no final newline\r\n"},
		// The smuggling end-of-data tricks: each hides a "." line behind
		// a line ending some MTAs accept.
		{in: "a\r\n\n.\nMAIL FROM:<x>\r\n", reject: errBareLF, normal: "a\r\n\r\n.\r\nMAIL FROM:<x>\r\n"},
		{in: "a\n.\r\nMAIL FROM:<x>\r\n", reject: errBareLF, normal: "a\r\n.\r\nMAIL FROM:<x>\r\n"},
		{in: "a\r.\r\nMAIL FROM:<x>\r\n", reject: errBareCR, normal: "a\r\n.\r\nMAIL FROM:<x>\r\n"},
		{in: "a\rb\r\n", reject: errBareCR, normal: "a\r\nb\r\n"},
		{in: "a\r", reject: errBareCR, normal: "a\r\n"},
		{in: "a\r\r\n", reject: errBareCR, normal: "a\r\n\r\n"},
		// NUL: a next hop that drops it would see "\r\n.\r\n".
		{in: "a\r\n\x00.\r\nMAIL FROM:<x>\r\n", reject: errNUL, normal: "a\r\n.\r\nMAIL FROM:<x>\r\n"},
		{in: "Subject: x\r\n\r\n" + strings.Repeat("body ", 100) + "\x00tail\r\n", reject: errNUL, normal: "Subject: x\r\n\r\n" + strings.Repeat("body ", 100) + "tail\r\n"},
	} {
		got, err := readData(tc.in, DataLimits{})
		if tc.reject != nil {
			if !errors.Is(err, tc.reject) {
				t.Errorf("reject %q: err %v, want %v", tc.in, err, tc.reject)
			}
		} else if err != nil || got != tc.normal {
			t.Errorf("reject %q: got %q, %v; want %q", tc.in, got, err, tc.normal)
		}
		got, err = readData(tc.in, DataLimits{Bare: BareNormalize})
		if err != nil || got != tc.normal {
			t.Errorf("normalize %q: got %q, %v; want %q", tc.in, got, err, tc.normal)
		}
	}
}

func TestDataReaderHops(t *testing.T) {
	msg := func(n int, extra string) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "Received: from h%d\r\n\tby x; date\r\n", i)
		}
		b.WriteString(extra)
		return b.String()
	}
	for _, tc := range []struct {
		name string
		in   string
		hops int
		err  error
	}{
		{"fifty", msg(50, "Subject: x\r\n\r\nbody\r\n"), 50, nil},
		{"fifty-one", msg(51, "\r\nbody\r\n"), 51, errTooManyHops},
		{"case and space", "RECEIVED : a\r\nreceived:b\r\nX-Received: c\r\n\r\n", 2, nil},
		{"in body not counted", "Subject: x\r\n\r\n" + msg(60, ""), 0, nil},
		{"body without blank line", "not a header line\r\n" + msg(60, ""), 0, nil},
	} {
		r := newDataReader(strings.NewReader(tc.in), DataLimits{MaxHops: 50})
		_, err := io.ReadAll(r)
		if !errors.Is(err, tc.err) && !(tc.err == nil && err == nil) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.err)
		}
		if r.Hops() != tc.hops {
			t.Errorf("%s: %d hops, want %d", tc.name, r.Hops(), tc.hops)
		}
	}
}

func TestDataReaderSize(t *testing.T) {
	body := strings.Repeat("0123456789abcde\r\n", 100) // 1700 bytes
	if _, err := readData(body, DataLimits{MaxSize: 1700}); err != nil {
		t.Errorf("exact size refused: %v", err)
	}
	if _, err := readData(body, DataLimits{MaxSize: 1699}); !errors.Is(err, errTooBig) {
		t.Errorf("one byte over: %v", err)
	}
	// Normalised bytes count: "a\n" is stored as 3 bytes.
	if _, err := readData("a\n", DataLimits{MaxSize: 2, Bare: BareNormalize}); !errors.Is(err, errTooBig) {
		t.Errorf("normalised size not counted: %v", err)
	}
	// One byte at a time gives the same result.
	out, err := io.ReadAll(iotest.OneByteReader(newDataReader(strings.NewReader("x\ry\r\n"), DataLimits{Bare: BareNormalize})))
	if err != nil || string(out) != "x\r\ny\r\n" {
		t.Errorf("one-byte reads: %q, %v", out, err)
	}
}

func TestDataReaderReadError(t *testing.T) {
	boom := errors.New("connection reset")
	r := newDataReader(io.MultiReader(strings.NewReader("a\r\n"), iotest.ErrReader(boom)), DataLimits{})
	if _, err := io.ReadAll(r); !errors.Is(err, boom) {
		t.Errorf("err %v, want the read error", err)
	}
}

func TestReceivedHeader(t *testing.T) {
	at := time.Date(2026, 11, 3, 19, 10, 36, 0, time.UTC)
	one := Received(ReceivedInfo{
		Helo: "client.example", ClientName: "mail.client.example", ClientAddr: netip.MustParseAddr("192.0.2.7"),
		Hostname: "mx.example.net", Protocol: "ESMTP", QueueID: "4Xyz123", Recipients: []string{"u@example.test"}, Time: at,
	})
	want := "Received: from client.example (mail.client.example [192.0.2.7])\r\n" +
		"\tby mx.example.net (Postfix) with ESMTP id 4Xyz123\r\n" +
		"\tfor <u@example.test>; Tue,  3 Nov 2026 19:10:36 +0000 (UTC)\r\n"
	if one != want {
		t.Errorf("one recipient:\n%s\nwant\n%s", one, want)
	}
	two := Received(ReceivedInfo{
		ClientAddr: netip.MustParseAddr("2001:db8::1"), Hostname: "mx.example.net", Protocol: "SMTP",
		QueueID: "QID1", Recipients: []string{"a@x", "b@x"}, Time: at,
	})
	want = "Received: from unknown (unknown [IPv6:2001:db8::1])\r\n" +
		"\tby mx.example.net (Postfix) with SMTP id QID1;\r\n" +
		"\tTue,  3 Nov 2026 19:10:36 +0000 (UTC)\r\n"
	if two != want {
		t.Errorf("two recipients:\n%s\nwant\n%s", two, want)
	}
	evil := Received(ReceivedInfo{Helo: "x\r\nBcc: victim@example", ClientAddr: netip.MustParseAddr("192.0.2.1"), Recipients: []string{"a@x"}, Time: at})
	if strings.Count(evil, "\r\n") != 3 || bytes.Contains([]byte(evil), []byte("\r\nBcc")) {
		t.Errorf("HELO injected a header line:\n%q", evil)
	}
}
