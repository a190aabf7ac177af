package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// FuzzRead checks that Read never panics, that every error is an *Error
// with a known Reason, that a header read consumes exactly its own bytes
// (up to the first CRLF for v1, 16 plus its length for v2) and never more
// than MaxV2Length on error, and that re-encoding a Header, in its own
// version and in the other one, reads back as the same Header.
func FuzzRead(f *testing.F) {
	for _, tt := range validTests {
		f.Add([]byte(tt.in + "EHLO x\r\n"))
	}
	f.Add([]byte("PROXY TCP4 01.02.03.04 4.3.2.1 123 321\r\n"))
	f.Add([]byte("PROXY TCP4 1.2.3.4 4.3.2.1 0123 321\r\n"))
	f.Add([]byte("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"))
	f.Add([]byte("PROXY TCP4 1.2.3.4 4.3.2.1 1 2\n"))
	f.Add(v2hdr(0x21, 0x31, make([]byte, 216)))
	f.Add(v2len(0x21, 0x11, 65535, tcp4Block))
	f.Fuzz(func(t *testing.T, data []byte) {
		src := bytes.NewReader(data)
		r := bufio.NewReaderSize(src, 16)
		h, err := Read(r)
		consumed := len(data) - src.Len() - r.Buffered()
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Reason < Malformed || e.Reason > ReadFailed || e.Version < 0 || e.Version > 2 {
				t.Fatalf("error %v (%T) is not a proper *Error", err, err)
			}
			if e.Reason == ReadFailed {
				t.Fatalf("ReadFailed from a byte slice: %v", err)
			}
			if consumed > MaxV2Length {
				t.Fatalf("consumed %d bytes before failing", consumed)
			}
			return
		}
		switch h.Version {
		case 1:
			if want := bytes.Index(data, []byte("\r\n")) + 2; consumed != want || consumed > MaxV1Length {
				t.Fatalf("v1 header consumed %d bytes, want %d", consumed, want)
			}
		case 2:
			if want := v2FixedLen + int(binary.BigEndian.Uint16(data[14:16])); consumed != want || consumed > MaxV2Length {
				t.Fatalf("v2 header consumed %d bytes, want %d", consumed, want)
			}
		default:
			t.Fatalf("version %d", h.Version)
		}
		if h.Local {
			if h.Source.IsValid() || h.Destination.IsValid() {
				t.Fatalf("Local header with addresses: %+v", h)
			}
		} else if !h.Source.IsValid() || !h.Destination.IsValid() || h.Source.Addr().Is4In6() || h.Destination.Addr().Is4In6() || h.Source.Addr().Zone() != "" {
			t.Fatalf("bad addresses: %+v", h)
		}
		for _, v := range []int{1, 2} {
			want := h
			want.Version = v
			enc := encode(want, nil)
			src := bytes.NewReader(enc)
			r := bufio.NewReaderSize(src, 16)
			got, err := Read(r)
			if err != nil || got != want {
				t.Fatalf("%+v encoded as %q reads as %+v, %v", want, enc, got, err)
			}
			if src.Len()+r.Buffered() != 0 {
				t.Fatalf("%q: %d bytes left", enc, src.Len()+r.Buffered())
			}
		}
	})
}
