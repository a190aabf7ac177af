package msgauth

import (
	"bytes"
	"strings"
)

// headerEnd returns the length of msg's header section including the
// empty line that ends it, or len(msg) when there is no body.
func headerEnd(msg []byte) int {
	if bytes.HasPrefix(msg, []byte("\r\n")) {
		return 2
	}
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return len(msg)
}

// fields splits a header section (CRLF line endings) into its fields,
// each with its continuation lines and final CRLF. A continuation line
// before any field is kept as a field of its own.
func fields(hdr []byte) [][]byte {
	var out [][]byte
	start := 0
	for i := 0; i < len(hdr); {
		j := bytes.Index(hdr[i:], []byte("\r\n"))
		next := len(hdr)
		if j >= 0 {
			next = i + j + 2
		}
		if next < len(hdr) && hdr[next] != ' ' && hdr[next] != '\t' || next == len(hdr) {
			out = append(out, hdr[start:next])
			start = next
		}
		i = next
	}
	return out
}

// fieldName returns a field's name, "" for a line without a colon.
func fieldName(f []byte) string {
	i := bytes.IndexByte(f, ':')
	if i < 0 {
		return ""
	}
	return strings.TrimRight(string(f[:i]), " \t")
}

// StripForged returns msg without the Authentication-Results header
// fields that claim authservID, as RFC 8601 section 5 asks of the MTA
// whose identifier they use: a field naming us that we did not write is
// forged. msg has CRLF line endings; only its header section changes,
// and msg itself is returned when nothing is removed.
func StripForged(msg []byte, authservID string) []byte {
	end := headerEnd(msg)
	fs := fields(msg[:end])
	var keep [][]byte
	removed := false
	for _, f := range fs {
		if strings.EqualFold(fieldName(f), "Authentication-Results") && sameID(AuthservID(f[bytes.IndexByte(f, ':')+1:]), authservID) {
			removed = true
			continue
		}
		keep = append(keep, f)
	}
	if !removed {
		return msg
	}
	out := make([]byte, 0, len(msg))
	for _, f := range keep {
		out = append(out, f...)
	}
	return append(out, msg[end:]...)
}

// sameID compares authserv-ids as domain names: case-insensitive, a
// trailing dot ignored.
func sameID(a, b string) bool {
	return a != "" && strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

// AuthservID returns the authserv-id of an Authentication-Results field
// value (RFC 8601 section 2.2: [CFWS] authserv-id, a token or a quoted
// string), "" when there is none. Comments and folding before it are
// skipped.
func AuthservID(value []byte) string {
	v := skipCFWS(value)
	if len(v) == 0 {
		return ""
	}
	if v[0] == '"' {
		var b strings.Builder
		for i := 1; i < len(v); i++ {
			switch v[i] {
			case '\\':
				if i+1 < len(v) {
					i++
					b.WriteByte(v[i])
				}
			case '"':
				return b.String()
			default:
				b.WriteByte(v[i])
			}
		}
		return "" // unterminated
	}
	i := 0
	for i < len(v) && isTokenChar(v[i]) {
		i++
	}
	return string(v[:i])
}

// skipCFWS skips white space, line breaks and (nested) comments.
func skipCFWS(v []byte) []byte {
	for len(v) > 0 {
		switch v[0] {
		case ' ', '\t', '\r', '\n':
			v = v[1:]
		case '(':
			depth := 0
			i := 0
			for ; i < len(v); i++ {
				switch v[i] {
				case '\\':
					i++
				case '(':
					depth++
				case ')':
					depth--
				}
				if depth == 0 {
					break
				}
			}
			if i >= len(v) {
				return nil // unterminated comment
			}
			v = v[i+1:]
		default:
			return v
		}
	}
	return v
}

// isTokenChar: RFC 2045 token characters (RFC 8601's "value").
func isTokenChar(c byte) bool {
	return c > ' ' && c < 0x7f && !strings.ContainsRune(`()<>@,;:\"/[]?=`, rune(c))
}
