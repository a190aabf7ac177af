package milter

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Commands the MTA sends (Sendmail's libmilter/mfdef.h, Postfix's
// src/milter/milter8.c).
const (
	cmdAbort   = 'A'
	cmdBody    = 'B'
	cmdConnect = 'C'
	cmdMacro   = 'D'
	cmdEOB     = 'E'
	cmdHelo    = 'H'
	cmdHeader  = 'L'
	cmdMail    = 'M'
	cmdEOH     = 'N'
	cmdOptNeg  = 'O'
	cmdQuit    = 'Q'
	cmdRcpt    = 'R'
	cmdData    = 'T'
	cmdUnknown = 'U'
)

// Replies and requests the milter sends.
const (
	repAddRcpt    = '+'
	repDelRcpt    = '-'
	repAccept     = 'a'
	repReplBody   = 'b'
	repContinue   = 'c'
	repDiscard    = 'd'
	repChgHeader  = 'm'
	repProgress   = 'p'
	repReject     = 'r'
	repTempfail   = 't'
	repShutdown   = '4'
	repAddHeader  = 'h'
	repInsHeader  = 'i'
	repReplyCode  = 'y'
	repQuarantine = 'q'
	repSkip       = 's'
	repChgFrom    = 'e'
	repAddRcptPar = '2'
	repConnFail   = 'f'
)

// Actions the MTA allows (SMFIF_*): all that Postfix allows.
const (
	actAddHdrs    = 1 << 0
	actChgBody    = 1 << 1
	actAddRcpt    = 1 << 2
	actDelRcpt    = 1 << 3
	actChgHdrs    = 1 << 4
	actQuarantine = 1 << 5
	actChgFrom    = 1 << 6
	actAddRcptPar = 1 << 7
	actSetSymList = 1 << 8

	allActions = actAddHdrs | actChgBody | actAddRcpt | actDelRcpt | actChgHdrs |
		actQuarantine | actChgFrom | actAddRcptPar | actSetSymList
)

// Protocol flags (SMFIP_*): events the milter does not want, replies it
// will not send.
const (
	pNoConnect  = 1 << 0
	pNoHelo     = 1 << 1
	pNoMail     = 1 << 2
	pNoRcpt     = 1 << 3
	pNoBody     = 1 << 4
	pNoHdrs     = 1 << 5
	pNoEOH      = 1 << 6
	pNRHdr      = 1 << 7
	pNoUnknown  = 1 << 8
	pNoData     = 1 << 9
	pSkip       = 1 << 10
	pRcptRej    = 1 << 11
	pNRConn     = 1 << 12
	pNRHelo     = 1 << 13
	pNRMail     = 1 << 14
	pNRRcpt     = 1 << 15
	pNRData     = 1 << 16
	pNRUnkn     = 1 << 17
	pNREOH      = 1 << 18
	pNRBody     = 1 << 19
	pHdrLeadSpc = 1 << 20

	// The events of each protocol version (milter8.c's
	// MILTER8_V*_PROTO_MASK).
	protoV2 = pNoConnect | pNoHelo | pNoMail | pNoRcpt | pNoBody | pNoHdrs | pNoEOH
	protoV3 = protoV2 | pNoUnknown
	protoV4 = protoV3 | pNoData
	protoV6 = protoV4 | pSkip | pRcptRej | pNRHdr | pNRConn | pNRHelo | pNRMail |
		pNRRcpt | pNRData | pNRUnkn | pNREOH | pNRBody | pHdrLeadSpc
	// noSend is the events a milter may decline (SMFIP_NOSEND_MASK).
	noSend = pNoConnect | pNoHelo | pNoMail | pNoRcpt | pNoBody | pNoHdrs | pNoEOH | pNoUnknown | pNoData
)

// MaxPacket caps a packet from a milter: a longer one is a protocol error.
// libmilter sends body chunks of at most 1 MB; the rest is far smaller.
const MaxPacket = 2 << 20

// chunkSize is the size of the body chunks sent (milter8.c's
// MILTER_CHUNK_SIZE).
const chunkSize = 65535

// ProtocolError is a milter's reply that breaks the protocol: a bad
// packet length, an unknown or unexpected reply, malformed data.
type ProtocolError struct{ Reason string }

func (e *ProtocolError) Error() string { return "milter protocol error: " + e.Reason }

func protoErr(format string, a ...any) error {
	return &ProtocolError{Reason: fmt.Sprintf(format, a...)}
}

// packet is one message of the protocol: a command or reply code and its
// data.
type packet struct {
	code byte
	data []byte
}

// readPacket reads one packet, at most MaxPacket bytes.
func readPacket(r *bufio.Reader) (packet, error) {
	p, _, err := readPacketBuf(r, nil)
	return p, err
}

// readPacketBuf reads one packet into buf (grown as needed) and returns
// the buffer for the next read.
func readPacketBuf(r *bufio.Reader, buf []byte) (packet, []byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return packet{}, buf, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < 1 {
		return packet{}, buf, protoErr("bad packet length %d", n)
	}
	if n > MaxPacket {
		return packet{}, buf, protoErr("unreasonable packet length %d > %d", n, MaxPacket)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n, max(int(n), 512))
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return packet{}, buf, err
	}
	return packet{code: buf[0], data: buf[1:]}, buf, nil
}

// appendPacket appends a packet's encoding to b.
func appendPacket(b []byte, code byte, data ...[]byte) []byte {
	n := 1
	for _, d := range data {
		n += len(d)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = append(b, code)
	for _, d := range data {
		b = append(b, d...)
	}
	return b
}

// cstrings encodes strings as NUL-terminated ones.
func cstrings(s ...string) []byte {
	n := 0
	for _, x := range s {
		n += len(x) + 1
	}
	b := make([]byte, 0, n)
	for _, x := range s {
		b = append(b, x...)
		b = append(b, 0)
	}
	return b
}

// dataReader decodes the data of a reply.
type dataReader struct {
	b   []byte
	err error
}

func (d *dataReader) uint32() uint32 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 4 {
		d.err = protoErr("packet too short for a 32-bit number")
		return 0
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

// str reads a NUL-terminated string.
func (d *dataReader) str() string {
	if d.err != nil {
		return ""
	}
	for i, c := range d.b {
		if c == 0 {
			s := string(d.b[:i])
			d.b = d.b[i+1:]
			return s
		}
	}
	d.err = protoErr("missing string NUL terminator")
	return ""
}

// end checks that nothing is left.
func (d *dataReader) end() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = protoErr("%d unexpected data bytes", len(d.b))
	}
	return d.err
}
