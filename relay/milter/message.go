package milter

import (
	"bytes"
	"strings"
)

// Message is a message as the milters see and edit it at the end of
// the data: its header fields and its body, with CRLF line endings.
type Message struct {
	Fields []Field
	Body   []byte
}

// Field is one header field: its name and its whole text ("Name: value",
// folded lines joined by CRLF, without the final CRLF).
type Field struct {
	Name string
	Text string
	// Hidden is the MTA's own Received: field, which milters do not see
	// and whose instance does not count when a milter changes a
	// Received: field (Postfix's milter8.c and cleanup_milter.c, for
	// Sendmail compatibility).
	Hidden bool
}

// ParseMessage splits a message (CRLF line endings) into its fields and
// body; the field at index hidden (-1: none) is the MTA's own.
func ParseMessage(msg []byte, hidden int) *Message {
	m := &Message{}
	rest := msg
	for len(rest) > 0 {
		if bytes.HasPrefix(rest, []byte("\r\n")) {
			rest = rest[2:]
			break
		}
		end := fieldEnd(rest)
		raw := string(rest[:end])
		rest = rest[end:]
		text := strings.TrimSuffix(raw, "\r\n")
		name, _, ok := strings.Cut(text, ":")
		if !ok || (len(m.Fields) == 0 && isWSP(text)) {
			// Not a header line: the body starts here, as for
			// Postfix's is_header().
			rest = append([]byte(raw), rest...)
			break
		}
		m.Fields = append(m.Fields, Field{Name: strings.TrimRight(name, " \t"), Text: text, Hidden: len(m.Fields) == hidden})
	}
	m.Body = rest
	return m
}

func isWSP(s string) bool { return s != "" && (s[0] == ' ' || s[0] == '\t') }

// fieldEnd is the length of the header field at the start of b, with its
// continuation lines and final CRLF.
func fieldEnd(b []byte) int {
	i := 0
	for {
		n := bytes.IndexByte(b[i:], '\n')
		if n < 0 {
			return len(b)
		}
		i += n + 1
		if i >= len(b) || (b[i] != ' ' && b[i] != '\t') {
			return i
		}
	}
}

// Bytes is the message text.
func (m *Message) Bytes() []byte {
	n := len(m.Body) + 2
	for _, f := range m.Fields {
		n += len(f.Text) + 2
	}
	b := make([]byte, 0, n)
	for _, f := range m.Fields {
		b = append(b, f.Text...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, m.Body...)
}

// value is what a milter is sent of a field: the text after the colon,
// one leading space removed unless leadSpace, lines joined by LF.
func (f Field) value(leadSpace bool) string {
	_, v, _ := strings.Cut(f.Text, ":")
	if !leadSpace && strings.HasPrefix(v, " ") {
		v = v[1:]
	}
	return strings.ReplaceAll(v, "\r\n", "\n")
}

// newField builds a field from a milter's name and value: the value's
// lines (LF or CRLF) become folded lines.
func newField(name, space, value string) Field {
	value = strings.ReplaceAll(value, "\r\n", "\n")
	value = strings.ReplaceAll(value, "\n", "\r\n")
	return Field{Name: name, Text: name + ":" + space + value}
}

// find returns the index in Fields of the index'th (1-based) visible
// field named name, or -1.
func (m *Message) find(name string, index int) int {
	for i, f := range m.Fields {
		if f.Hidden || !strings.EqualFold(f.Name, name) {
			continue
		}
		if index--; index == 0 {
			return i
		}
	}
	return -1
}

// addHeader appends a field (SMFIR_ADDHEADER).
func (m *Message) addHeader(name, space, value string) {
	m.Fields = append(m.Fields, newField(name, space, value))
}

// changeHeader replaces or, with an empty value, deletes the index'th
// field named name (SMFIR_CHGHEADER; index 0 is 1, as Sendmail). A field
// that is not there is added when the value is not empty, as Postfix's
// cleanup_upd_header.
func (m *Message) changeHeader(index int, name, space, value string) {
	if index == 0 {
		index = 1
	}
	i := m.find(name, index)
	switch {
	case i < 0 && value == "":
	case i < 0:
		m.addHeader(name, space, value)
	case value == "":
		m.Fields = append(m.Fields[:i], m.Fields[i+1:]...)
	default:
		m.Fields[i] = newField(name, space, value)
	}
}

// insertHeader inserts a field before the index'th one, counting from 0
// and counting the MTA's own (SMFIR_INSHEADER, relative to the message as
// delivered); beyond the last field it is appended.
func (m *Message) insertHeader(index int, name, space, value string) {
	f := newField(name, space, value)
	if index >= len(m.Fields) {
		m.Fields = append(m.Fields, f)
		return
	}
	m.Fields = append(m.Fields[:index], append([]Field{f}, m.Fields[index:]...)...)
}
