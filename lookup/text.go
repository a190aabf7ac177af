package lookup

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Warning is a problem found while reading a table or list source. The line
// was skipped (or, for a "key: value" record, kept); the rest was read.
type Warning struct {
	File string // the source file, as named by the caller
	Line int    // 1-based line number, 0 when the warning is about the file
	Msg  string // postmap's wording where postmap has one
}

// String formats the warning as postmap does: "FILE, line N: msg".
func (w Warning) String() string {
	if w.Line > 0 {
		return fmt.Sprintf("%s, line %d: %s", w.File, w.Line, w.Msg)
	}
	return fmt.Sprintf("%s: %s", w.File, w.Msg)
}

// ParseOptions controls how ParseText builds a table, as postmap's flags do.
// The zero value is postmap's default.
type ParseOptions struct {
	// NoFold keeps keys as written (postmap -f). Default: fold (FoldKey).
	NoFold bool
	// LastWins keeps the last of duplicate keys, silently (postmap -r).
	// Default: the first wins, with a warning, as postmap.
	LastWins bool
	// QuietDuplicates drops duplicate keys without a warning (postmap -w).
	QuietDuplicates bool
	// DuplicateFile names the file in duplicate-key warnings; postmap names
	// the output ("t.db" for hash:, "t" for cdb:). Default: the source name.
	DuplicateFile string
}

// maxLogicalLine caps one logical line of a table source, so a corrupt file
// cannot make the reader hold unbounded memory.
const maxLogicalLine = 1 << 20

// ParseText reads a table in postmap's source format (postmap(1), "INPUT
// FILE FORMAT") and returns its entries in source order, duplicates
// removed, keys folded unless o.NoFold, and a warning for every line it
// skipped. name is used in warnings. The error is non-nil only when r
// fails or a logical line is longer than 1 MiB.
//
// With LastWins, a duplicate removes the earlier entry and takes its own
// place in source order, as "postmap -r" orders records.
func ParseText(r io.Reader, name string, o ParseOptions) ([]Entry, []Warning, error) {
	return parseText(r, name, o, false)
}

// parseText is ParseText; keepQuietDups keeps the duplicates that
// QuietDuplicates would drop, as "postmap -w cdb:" writes them all.
func parseText(r io.Reader, name string, o ParseOptions, keepQuietDups bool) ([]Entry, []Warning, error) {
	p := textParser{name: name, o: o, index: map[string]int{}, keepQuietDups: keepQuietDups}
	if p.o.DuplicateFile == "" {
		p.o.DuplicateFile = name
	}
	err := readLogicalLines(r, name, &p.warnings, p.record)
	if p.dead > 0 {
		live := p.entries[:0]
		for _, e := range p.entries {
			if e.Key != "" {
				live = append(live, e)
			}
		}
		p.entries = live
	}
	return p.entries, p.warnings, err
}

type textParser struct {
	name          string
	o             ParseOptions
	entries       []Entry
	index         map[string]int // key -> index in entries
	dead          int            // entries removed by LastWins (Key set to "")
	keepQuietDups bool
	warnings      []Warning
}

func (p *textParser) warn(line int, format string, args ...any) {
	p.warnings = append(p.warnings, Warning{File: p.name, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (p *textParser) record(lineno int, line string) {
	full := line
	if i := strings.IndexByte(line, 0); i >= 0 {
		// postmap handles the line as a C string: it ends at the first
		// NUL. Its UTF-8 check looks at that string, and when it is not
		// all ASCII, at the whole line (allascii, valid_utf8_string).
		line = line[:i]
	}
	if !isASCII(line) && !utf8.ValidString(full) {
		p.warn(lineno, "non-UTF-8 input \"%s\" -- ignoring this line", printable(line))
		return
	}
	key, value, ok := splitKeyValue(line)
	if !ok {
		p.warn(lineno, "unbalanced '\"' in '%s' -- ignoring this line", line)
		return
	}
	if strings.HasSuffix(key, ":") {
		p.warn(lineno, "record is in \"key: value\" format; is this an alias file?")
	}
	if key == "" || value == "" {
		p.warn(lineno, "expected format: key whitespace value")
		return
	}
	if !p.o.NoFold {
		key = FoldKey(key)
	}
	if i, dup := p.index[key]; dup {
		switch {
		case p.o.LastWins:
			p.entries[i].Key = ""
			p.dead++
			p.index[key] = len(p.entries)
			p.entries = append(p.entries, Entry{Key: key, Value: value})
		case p.o.QuietDuplicates && p.keepQuietDups:
			p.entries = append(p.entries, Entry{Key: key, Value: value})
		case !p.o.QuietDuplicates:
			p.warnings = append(p.warnings, Warning{File: p.o.DuplicateFile, Msg: fmt.Sprintf("duplicate entry: \"%s\"", printable(key))})
		}
		return
	}
	p.index[key] = len(p.entries)
	p.entries = append(p.entries, Entry{Key: key, Value: value})
}

// isASCII reports whether s is all 7-bit ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// printable replaces invalid UTF-8 and control characters with '?', as
// Postfix's printable() does before it quotes input in a warning.
func printable(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && n <= 1 || r < 0x20 || r == 0x7f {
			b.WriteByte('?')
		} else {
			b.WriteString(s[:n])
		}
		s = s[n:]
	}
	return b.String()
}

// isSpace is Postfix's ISSPACE: space, tab, CR, LF, VT, FF.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}

// splitKeyValue splits a logical line at the first whitespace that is
// neither quoted nor escaped, as postmap does since Postfix 3.2. The key
// keeps its quotes and backslashes; the value is trimmed. ok is false for
// an unbalanced quote.
func splitKeyValue(line string) (key, value string, ok bool) {
	quoted := false
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		if c == '\\' && i+1 < len(line) {
			i++
			continue
		}
		if c == '"' {
			quoted = !quoted
			continue
		}
		if !quoted && isSpace(c) {
			break
		}
	}
	if quoted {
		return "", "", false
	}
	return line[:i], strings.TrimFunc(line[i:], func(r rune) bool { return r < utf8.RuneSelf && isSpace(byte(r)) }), true
}

// readLogicalLines joins physical lines into logical lines, as Postfix's
// readlline.c does, and calls fn with the line number where each logical
// line starts. Comment and blank lines are skipped without ending a
// logical line; a continuation keeps its leading whitespace.
func readLogicalLines(r io.Reader, name string, warnings *[]Warning, fn func(lineno int, line string)) error {
	br := bufio.NewReader(r)
	var cur []byte
	start, lineno := 0, 0
	flush := func() {
		if start > 0 {
			fn(start, string(cur))
		}
		cur, start = cur[:0], 0
	}
	orphan := false
	for {
		raw, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A physical line longer than the buffer: gather it.
			long := append([]byte(nil), raw...)
			for err == bufio.ErrBufferFull && len(long) <= maxLogicalLine {
				raw, err = br.ReadSlice('\n')
				long = append(long, raw...)
			}
			raw = long
		}
		if len(raw) == 0 && err != nil {
			if err == io.EOF {
				if !orphan {
					flush()
				}
				return nil
			}
			return err
		}
		lineno++
		line := bytes.TrimSuffix(raw, []byte("\n"))
		trimmed := bytes.TrimLeft(line, " \t\r\v\f")
		if len(bytes.TrimRight(trimmed, " \t\r\v\f")) == 0 || trimmed[0] == '#' {
			continue // blank or comment: invisible, as in readlline.c
		}
		if isSpace(line[0]) { // Postfix's ISSPACE: also CR, VT, FF
			if start == 0 && !orphan {
				if len(cur) == 0 && lineno > 0 {
					*warnings = append(*warnings, Warning{File: name, Msg: fmt.Sprintf("logical line must not start with whitespace: \"%s\"", printable(string(line)))})
				}
				orphan = true
				continue
			}
			if orphan {
				continue
			}
			cur = append(cur, line...)
		} else {
			if !orphan {
				flush()
			}
			orphan = false
			cur = append(cur[:0], line...)
			start = lineno
		}
		if len(cur) > maxLogicalLine {
			return fmt.Errorf("%s, line %d: logical line longer than %d bytes", name, start, maxLogicalLine)
		}
		if err == io.EOF {
			flush()
			return nil
		}
	}
}
