package milter

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// FuzzParseReplyCode: a milter's reply code is accepted only as a 4xx or
// 5xx reply whose lines all carry its code, and what is accepted keeps its
// code and class.
func FuzzParseReplyCode(f *testing.F) {
	for _, s := range []string{"550 5.7.1 no", "451 4.7.1 later", "550-5.7.1 a\r\n550 5.7.1 b", "554 100%% spam", "250 ok", "550 4.7.1 mixed", "550-a\n550 b", "5", "550 ", "451-x\r\n550 y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := ParseReplyCode(s)
		if !ok {
			return
		}
		if r.Kind != Refuse || r.Code < 400 || r.Code > 599 {
			t.Fatalf("%q: %+v", s, r)
		}
		if r.Status != "" && r.Status[0] != byte('0'+r.Code/100) {
			t.Fatalf("%q: status %q of another class", s, r.Status)
		}
		if strings.IndexByte(r.Text, 0) >= 0 {
			t.Fatalf("%q: NUL in text", s)
		}
		for _, line := range strings.Split(r.Text, "\r\n")[1:] {
			if !strings.HasPrefix(line, s[:3]) {
				t.Fatalf("%q: line %q without the code", s, line)
			}
		}
	})
}

// FuzzReadPacket: any bytes give a packet within MaxPacket or an error,
// and a packet written is read back.
func FuzzReadPacket(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x01c"))
	f.Add([]byte("\x00\x00\x00\x00"))
	f.Add([]byte("\xff\xff\xff\xff"))
	f.Add(appendPacket(nil, 'h', cstrings("X-A", "b")))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := readPacket(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			return
		}
		if len(p.data)+1 > MaxPacket {
			t.Fatalf("packet of %d bytes", len(p.data))
		}
		q, err := readPacket(bufio.NewReader(bytes.NewReader(appendPacket(nil, p.code, p.data))))
		if err != nil || q.code != p.code || !bytes.Equal(q.data, p.data) {
			t.Fatalf("round trip: %v %+v %+v", err, p, q)
		}
	})
}

// FuzzEditor: any modification request from a milter leaves a message
// that parses back to the same fields, and never panics.
func FuzzEditor(f *testing.F) {
	f.Add(byte('m'), []byte("\x00\x00\x00\x01Subject\x00new\x00"))
	f.Add(byte('i'), []byte("\xff\xff\xff\xffX\x00y\x00"))
	f.Add(byte('b'), []byte("a\r\nb\nc"))
	f.Add(byte('h'), []byte("X\x00a\nb\x00"))
	f.Fuzz(func(t *testing.T, code byte, data []byte) {
		msg := ParseMessage([]byte("Received: x\r\nSubject: s\r\n\r\nbody\r\n"), 0)
		e := editor{m: &milter{spec: &Spec{}}, msg: msg, space: " ", max: 1 << 20}
		if _, err := e.apply(packet{code: code, data: data}); err != nil {
			return
		}
		if e.replacing {
			e.finish()
		}
		if !bytes.HasSuffix(msg.Body, []byte("\r\n")) && len(msg.Body) > 0 {
			t.Fatalf("body %q does not end in CRLF", msg.Body)
		}
	})
}
