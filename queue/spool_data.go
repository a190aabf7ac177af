package queue

import (
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
)

// A spool data file is a sequence of entries, one per message:
//
//	body | envelope record (EncodeEnvelope) | footer
//	footer = "\nMXQB " <body length, 16 hex> " " <record length, 8 hex> " " <body CRC-32C, 8 hex> "\n"
//
// A message stored alone (a large body) has a file of one entry, named by
// its ID; small messages stored together share a segment file. Entries are
// read from the end: the footer locates the record, the record's Size and
// the footer's body length locate the previous entry's end.
const (
	footerLen   = 41
	footerMagic = "\nMXQB "
)

func footer(bodyLen int64, recLen int, sum uint32) []byte {
	return fmt.Appendf(nil, "%s%016x %08x %08x\n", footerMagic, bodyLen, recLen, sum)
}

// parseFooter returns what the footer ft of an entry ending at offset end
// declares, after checking the entry fits in [0, end).
func parseFooter(ft []byte, end int64) (bodyLen, recLen int64, sum uint32, err error) {
	bad := fmt.Errorf("%w: bad data footer", ErrCorrupt)
	if len(ft) != footerLen || string(ft[:len(footerMagic)]) != footerMagic || ft[footerLen-1] != '\n' ||
		ft[22] != ' ' || ft[31] != ' ' {
		return 0, 0, 0, bad
	}
	b, err1 := strconv.ParseUint(string(ft[6:22]), 16, 63)
	r, err2 := strconv.ParseUint(string(ft[23:31]), 16, 32)
	c, err3 := strconv.ParseUint(string(ft[32:40]), 16, 32)
	if err1 != nil || err2 != nil || err3 != nil || r > maxRecordSize+64 || int64(b) > end-footerLen-int64(r) {
		return 0, 0, 0, bad
	}
	return int64(b), int64(r), uint32(c), nil
}

// entry is one message's place in a data file.
type entry struct {
	env       *Envelope // the record stored with the body
	bodyStart int64
	end       int64
	sum       uint32
}

// readEntry reads the entry ending at end.
func readEntry(f io.ReaderAt, end int64) (entry, error) {
	if end < footerLen {
		return entry{}, fmt.Errorf("%w: entry of %d bytes", ErrCorrupt, end)
	}
	ft := make([]byte, footerLen)
	if _, err := f.ReadAt(ft, end-footerLen); err != nil {
		return entry{}, err
	}
	bodyLen, recLen, sum, err := parseFooter(ft, end)
	if err != nil {
		return entry{}, err
	}
	rec := make([]byte, recLen)
	if _, err := f.ReadAt(rec, end-footerLen-recLen); err != nil {
		return entry{}, err
	}
	e, n, err := decodeRecord(rec)
	if err != nil {
		return entry{}, err
	}
	if int64(n) != recLen {
		return entry{}, fmt.Errorf("%w: %d bytes after the record", ErrCorrupt, recLen-int64(n))
	}
	if e.Size != bodyLen {
		return entry{}, fmt.Errorf("%w: envelope size %d, body %d bytes", ErrCorrupt, e.Size, bodyLen)
	}
	return entry{env: e, bodyStart: end - footerLen - recLen - bodyLen, end: end, sum: sum}, nil
}

// readEntries reads every entry of a data file of size bytes, last first.
func readEntries(f io.ReaderAt, size int64) ([]entry, error) {
	var es []entry
	for end := size; end > 0; {
		e, err := readEntry(f, end)
		if err != nil {
			return nil, fmt.Errorf("entry ending at %d: %w", end, err)
		}
		es = append(es, e)
		end = e.bodyStart
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("%w: empty data file", ErrCorrupt)
	}
	return es, nil
}

// bodyReader streams a body and checks its CRC-32C at the end: a body
// damaged on disk gives an error wrapping ErrCorrupt instead of io.EOF, so
// it is never delivered as if it were whole.
type bodyReader struct {
	r   *io.SectionReader
	c   io.Closer
	id  ID
	sum uint32
	got uint32
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.got = crc32.Update(b.got, castagnoli, p[:n])
	if err == io.EOF && b.got != b.sum {
		return n, fmt.Errorf("%w: message %s: body checksum mismatch", ErrCorrupt, b.id)
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.c.Close() }
