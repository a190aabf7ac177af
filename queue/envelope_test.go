package queue

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleEnvelope() *Envelope {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	return &Envelope{
		ID: "0123456789ABCDEF0123", Sender: "a@example.org", Ret: RetFull, EnvID: "QQ314159",
		SMTPUTF8: true, Size: 1234, Arrival: at, Attempts: 3, NextAttempt: at.Add(time.Hour),
		Held: true, DelayWarned: true,
		Recipients: []Recipient{
			{Address: "u@example.com", Notify: NotifySuccess | NotifyFailure, ORCPT: "rfc822;u@example.com", Destination: "relay:[mx.example]"},
			{Address: "ü@bücher.example", State: Deferred, Reason: "451 4.3.0 \"later\"\n", Updated: at, Destination: "smtp:bücher.example"},
			{Address: "x@example.net", State: Expired, Reason: "timeout", Updated: at.Add(time.Second), Notified: true},
		},
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	e := sampleEnvelope()
	b, err := EncodeEnvelope(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeEnvelope(append(b, "trailing body"...))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, e)
	}
	for _, bad := range []func(*Envelope){
		func(e *Envelope) { e.ID = "a/b" },
		func(e *Envelope) { e.Recipients = nil },
		func(e *Envelope) { e.Recipients[0].State = numStates },
		func(e *Envelope) { e.Recipients[1].Address = "" },
		func(e *Envelope) { e.Sender = "\xff" },
		func(e *Envelope) { e.Ret = 7 },
		func(e *Envelope) { e.Size = -1 },
		func(e *Envelope) { e.Recipients[1].Notified = true }, // pending yet notified
		func(e *Envelope) { e.Recipients[0].Destination = "relay:\xff" },
		func(e *Envelope) { e.Recipients[0].Destination = strings.Repeat("x", maxAddressBytes+1) },
	} {
		x := sampleEnvelope()
		bad(x)
		if _, err := EncodeEnvelope(x); err == nil {
			t.Errorf("EncodeEnvelope accepted %+v", x)
		}
	}
}

// oldRecord is sampleEnvelope as EncodeEnvelope wrote it before
// Recipient.Destination existed: no "dest" member.
const oldRecord = "MXQ1 3f01f634 485\n" +
	`{"id":"0123456789ABCDEF0123","sender":"a@example.org","rcpts":[{"addr":"u@example.com","notify":6,"orcpt":"rfc822;u@example.com"},` +
	`{"addr":"ü@bücher.example","state":1,"reason":"451 4.3.0 \"later\"\n","updated":1767323045000000006},` +
	`{"addr":"x@example.net","state":4,"reason":"timeout","updated":1767323046000000006,"notified":true}],` +
	`"ret":1,"envid":"QQ314159","smtputf8":true,"size":1234,"arrival":1767323045000000006,"attempts":3,` +
	`"next":1767326645000000006,"held":true,"warned":true}` + "\n"

// TestDecodeRecordWithoutDestination: records written before
// Recipient.Destination existed still decode, with no destination, and
// an envelope without destinations still encodes to exactly them.
func TestDecodeRecordWithoutDestination(t *testing.T) {
	want := sampleEnvelope()
	for i := range want.Recipients {
		want.Recipients[i].Destination = ""
	}
	got, err := DecodeEnvelope([]byte(oldRecord))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("old record:\n got %+v\nwant %+v", got, want)
	}
	if b, err := EncodeEnvelope(want); err != nil || string(b) != oldRecord {
		t.Errorf("envelope without destinations encodes to\n%s\nwant\n%s (err %v)", b, oldRecord, err)
	}
	b, err := EncodeEnvelope(sampleEnvelope())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"dest":"relay:[mx.example]"`)) {
		t.Errorf("record does not carry the destination: %s", b)
	}
}

// FuzzDecodeEnvelope feeds arbitrary bytes (corrupt spool files) to the
// decoder: it must never panic; what it accepts must be a valid envelope
// that re-encodes and decodes to itself; every proper prefix of an
// accepted record and every single-byte change to it must be rejected.
func FuzzDecodeEnvelope(f *testing.F) {
	b, _ := EncodeEnvelope(sampleEnvelope())
	f.Add(b, 10, byte(1))
	f.Add(b[:len(b)-1], 0, byte(0))
	f.Add([]byte(oldRecord), 7, byte(2))
	f.Add([]byte("MXQ1 00000000 2\n{}\n"), 5, byte(0x20))
	f.Add([]byte("MXQ1 ffffffff 99999999999\n"), 0, byte(0))
	f.Add([]byte(`MXQ1 00000000 30`+"\n"+`{"id":"A","rcpts":[{"addr":"x"}]}`), 3, byte(9))
	f.Fuzz(func(t *testing.T, data []byte, pos int, flip byte) {
		e, n, err := decodeRecord(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			if e != nil || n != 0 {
				t.Fatal("error with a result")
			}
			return
		}
		if n > len(data) || check(e) != nil {
			t.Fatalf("accepted an invalid envelope (n=%d): %v", n, check(e))
		}
		re, err := EncodeEnvelope(e)
		if err != nil {
			t.Fatalf("decoded envelope does not encode: %v", err)
		}
		e2, err := DecodeEnvelope(re)
		if err != nil || !reflect.DeepEqual(e, e2) {
			t.Fatalf("re-encoded envelope differs: %v\n%+v\n%+v", err, e, e2)
		}
		rec := data[:n]
		if _, _, err := decodeRecord(rec[:len(rec)-1-(pos&0xffff)%len(rec)]); err == nil {
			t.Fatal("a truncated record was accepted")
		}
		if flip != 0 {
			c := bytes.Clone(rec)
			c[(pos&0xffff)%len(c)] ^= flip
			if _, _, err := decodeRecord(c); err == nil {
				t.Fatalf("a record with byte %d changed was accepted", (pos&0xffff)%len(c))
			}
		}
	})
}

// FuzzEnvelopeRoundTrip: decode(encode(x)) == x for every envelope that
// encodes, and an envelope that does not encode is invalid.
func FuzzEnvelopeRoundTrip(f *testing.F) {
	f.Add("seed1", "s@example.org", "u@example.com", "rfc822;u@example.com", "451 later", "env", "relay:[mx.example]", uint8(3), uint8(1), uint8(2), int64(1), int64(2), 1, true, false)
	f.Add("", "", "", "", "", "", "\xff", uint8(0), uint8(9), uint8(9), int64(0), int64(-5), -1, false, true)
	f.Add("seed2", "", "u@example.com", "", "550 no", "", "", uint8(0x82), uint8(3), uint8(0), int64(1), int64(2), 1, false, false)
	f.Add("seed3", "", "u@example.com", "", "", "", "smtp:bücher.example", uint8(0x80), uint8(0), uint8(0), int64(1), int64(2), 0, false, false)
	f.Fuzz(func(t *testing.T, id, sender, addr, orcpt, reason, envid, dest string, notify, state, ret uint8,
		arrival, next int64, attempts int, held, utf8 bool) {
		e := &Envelope{ID: ID(id), Sender: sender, EnvID: envid, Ret: Ret(ret), SMTPUTF8: utf8, Held: held,
			Attempts: attempts, Arrival: fromNanos(arrival), NextAttempt: fromNanos(next), Size: int64(len(reason)),
			Recipients: []Recipient{{Address: addr, Notify: Notify(notify & 0x7f), ORCPT: orcpt, Destination: dest, State: State(state),
				Reason: reason, Updated: fromNanos(next), Notified: notify&0x80 != 0}}}
		b, err := EncodeEnvelope(e)
		if err != nil {
			if check(e) == nil {
				t.Fatalf("valid envelope does not encode: %v", err)
			}
			return
		}
		got, err := DecodeEnvelope(b)
		if err != nil {
			t.Fatalf("decode of an encoded envelope: %v", err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, e)
		}
	})
}

// FuzzDataFile feeds arbitrary spool data files (segments, message
// files) to the entry reader: no panic, and what it accepts is consistent
// (entries tile the file from 0 to its end, each record's Size is its
// body's length).
func FuzzDataFile(f *testing.F) {
	e := sampleEnvelope()
	e.Size = 5
	rec, _ := EncodeEnvelope(e)
	one := append(append([]byte("hello"), rec...), footer(5, len(rec), 0)...)
	f.Add(one)
	f.Add(append(bytes.Clone(one), one...))
	f.Add(one[1:])
	f.Add([]byte("\nMXQB 0000000000000000 00000000 00000000\n"))
	f.Add([]byte("\nMXQB ffffffffffffffff 00000010 00000000\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		es, err := readEntries(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		end := int64(len(data))
		for _, e := range es {
			if e.end != end || e.bodyStart < 0 || e.bodyStart+e.env.Size > e.end-footerLen {
				t.Fatalf("entry %+v does not end at %d", e, end)
			}
			if check(e.env) != nil {
				t.Fatal("invalid envelope accepted")
			}
			end = e.bodyStart
		}
		if end != 0 {
			t.Fatalf("entries stop at %d, not 0", end)
		}
	})
}

// FuzzDamagedSegment builds a valid segment of one to four entries from
// the input, damages it (a truncation, then one byte changed), and checks
// what readEntries makes of it: either an error, or entries that are
// exactly the original ones (same envelopes, same places), whose body
// checksum fails when the damage hit that body (or the checksum itself),
// and only then. So a damaged
// record or footer is never read as a message, and a damaged body is
// never read as whole.
func FuzzDamagedSegment(f *testing.F) {
	f.Add([]byte("hello"), uint8(2), uint16(0), uint16(10), uint8(1))
	f.Add([]byte("a longer body\r\n"), uint8(3), uint16(3), uint16(100), uint8(0x80))
	f.Add([]byte(""), uint8(1), uint16(0), uint16(0), uint8(0))
	f.Add([]byte("hi"), uint8(0), uint16(0), uint16(2+10+0), uint8(0))
	f.Fuzz(func(t *testing.T, body []byte, n uint8, cut, pos uint16, xor uint8) {
		n = 1 + n%4
		var seg []byte
		var want []*Envelope
		var bodies [][2]int
		for i := range int(n) {
			e := sampleEnvelope()
			e.ID = ID(fmt.Sprint("msg", i))
			b := append(bytes.Repeat([]byte{'x'}, i), body...)
			e.Size = int64(len(b))
			rec, err := EncodeEnvelope(e)
			if err != nil {
				t.Fatal(err)
			}
			bodies = append(bodies, [2]int{len(seg), len(seg) + len(b)})
			seg = append(seg, b...)
			seg = append(append(seg, rec...), footer(e.Size, len(rec), crc32.Checksum(b, castagnoli))...)
			want = append(want, e)
		}
		orig := bytes.Clone(seg)
		seg = seg[:len(seg)-int(cut)%(len(seg)+1)]
		truncated := len(seg) < len(orig)
		hit := -1
		if len(seg) > 0 && xor != 0 {
			p := int(pos) % len(seg)
			seg[p] ^= xor
			hit = p
		}
		es, err := readEntries(bytes.NewReader(seg), int64(len(seg)))
		if err != nil {
			return
		}
		if truncated && len(seg) > 0 {
			// A cut at an entry boundary leaves a shorter, valid segment.
			if end := es[0].end; end != int64(len(seg)) {
				t.Fatalf("entries end at %d, file at %d", end, len(seg))
			}
		}
		for k, e := range es {
			i := len(es) - 1 - k // entries come last first
			if !reflect.DeepEqual(e.env, want[i]) {
				t.Fatalf("entry %d read as %+v, want %+v", i, e.env, want[i])
			}
			lo, hi := bodies[i][0], bodies[i][1]
			if e.bodyStart != int64(lo) || e.env.Size != int64(hi-lo) {
				t.Fatalf("entry %d body at %d+%d, want %d+%d", i, e.bodyStart, e.env.Size, lo, hi-lo)
			}
			intact := crc32.Checksum(seg[lo:hi], castagnoli) == e.sum
			damaged := hit >= lo && hit < hi
			inFooter := int64(hit) >= e.end-footerLen && int64(hit) < e.end // its checksum digits
			if damaged && intact || !damaged && !intact && !inFooter {
				t.Fatalf("entry %d: body damaged %v but checksum intact %v", i, damaged, intact)
			}
		}
	})
}

// TestEnvelopeFilterRoundTrip: the content filter of a message survives
// encoding, as Postfix's FILTER record survives a restart of the queue
// manager; a record without one decodes to none.
func TestEnvelopeFilterRoundTrip(t *testing.T) {
	e := sampleEnvelope()
	e.Filter = "smtp-amavis:[127.0.0.1]:10024"
	b, err := EncodeEnvelope(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeEnvelope(b)
	if err != nil || got.Filter != e.Filter {
		t.Fatalf("filter %q (%v), want %q", got.Filter, err, e.Filter)
	}
	e.Filter = string([]byte{0xff})
	if _, err := EncodeEnvelope(e); err == nil {
		t.Error("a filter that is not UTF-8 was encoded")
	}
}
