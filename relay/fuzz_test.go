package relay

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// FuzzDataReader checks the DATA normaliser's invariants: the output has
// only CRLF line endings; in reject mode it is the input itself (plus a
// final CRLF) or an error for a bare CR/LF; in normalize mode it is the
// input with each line ending made CRLF; Size counts exactly the bytes
// returned and never exceeds MaxSize.
func FuzzDataReader(f *testing.F) {
	for _, s := range []string{
		"", "a\r\n", "a\n.\nb", "a\r.\r\n", "\r\n.\r\n", "x\r", "\r\r\n\n",
		"Received: a\r\nReceived : b\r\n\r\nReceived: c\r\n",
		"Subject: x\r\n continued\r\n\r\nbody",
	} {
		f.Add([]byte(s), uint16(0), false)
		f.Add([]byte(s), uint16(3), true)
	}
	f.Fuzz(func(t *testing.T, in []byte, max uint16, normalize bool) {
		lim := DataLimits{MaxSize: int64(max), MaxHops: 2}
		if normalize {
			lim.Bare = BareNormalize
		}
		r := newDataReader(bytes.NewReader(in), lim)
		out, err := io.ReadAll(iotest.OneByteReader(r))
		if int64(len(out)) != r.Size() && err == nil {
			t.Fatalf("Size %d, returned %d bytes", r.Size(), len(out))
		}
		if max > 0 && int64(len(out)) > int64(max) {
			t.Fatalf("returned %d bytes over MaxSize %d", len(out), max)
		}
		if bytes.Contains(bytes.ReplaceAll(out, []byte("\r\n"), nil), []byte("\n")) ||
			bytes.Contains(bytes.ReplaceAll(out, []byte("\r\n"), nil), []byte("\r")) {
			t.Fatalf("bare CR or LF in output %q", out)
		}
		if err != nil {
			var re *Error
			if !errors.As(err, &re) || re.Code/100 != 5 {
				t.Fatalf("error %v is not a 5xx reply", err)
			}
			if errors.Is(err, errBareLF) || errors.Is(err, errBareCR) {
				if normalize {
					t.Fatalf("normalize mode refused: %v", err)
				}
				n := bytes.Count(in, []byte("\r\n"))
				if bytes.Count(in, []byte("\n")) == n && bytes.Count(in, []byte("\r")) == n {
					t.Fatalf("refused %q without a bare CR or LF", in)
				}
			}
			return
		}
		var want []byte
		if normalize {
			s := strings.ReplaceAll(string(in), "\r\n", "\n")
			s = strings.ReplaceAll(s, "\r", "\n")
			want = []byte(strings.ReplaceAll(s, "\n", "\r\n"))
		} else {
			want = bytes.Clone(in)
		}
		if len(want) > 0 && !bytes.HasSuffix(want, []byte("\r\n")) {
			want = append(want, '\r', '\n')
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("output %q, want %q", out, want)
		}
	})
}

// FuzzDSNOriginal checks that any original message gives a DSN with CRLF
// line endings only and three MIME parts.
func FuzzDSNOriginal(f *testing.F) {
	f.Add([]byte(origMsg), false)
	f.Add([]byte("no header end"), true)
	f.Add([]byte("A: b\n\nc\rd"), false)
	f.Fuzz(func(t *testing.T, orig []byte, hdrs bool) {
		d := &DSN{Hostname: "h.example", QueueID: "Q", Sender: "s@example", MaxOriginal: 200,
			Recipients: []DSNRecipient{{Address: "u@example", Reason: strings.Repeat("word ", 40)}}}
		if hdrs {
			d.Kind = DSNDelay
		}
		var buf bytes.Buffer
		if err := d.Write(&buf, bytes.NewReader(orig)); err != nil {
			t.Fatal(err)
		}
		parseDSN(t, buf.Bytes())
	})
}
