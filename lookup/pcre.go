package lookup

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dlclark/regexp2/v2"
)

// pcreMatchTimeout bounds one match of a pcre: pattern. PCRE stops a
// runaway match at its match limit; regexp2 backtracks too, so a pattern
// that backtracks catastrophically on a hostile key must be stopped.
const pcreMatchTimeout = 100 * time.Millisecond

// PCRETable is a pcre: table (Postfix's pcre_table(5)): lines
// "/pattern/flags result", "!/pattern/flags result" and "if /pattern/" ...
// "endif", the first match wins, $1..$9, ${n} and $(n) in the result are
// replaced by the groups of the match and $$ is a dollar.
//
// Patterns run on github.com/dlclark/regexp2, a backtracking engine with
// back-references, look-around, atomic groups and possessive quantifiers,
// with the semantics Postfix gives PCRE: keys are matched byte by byte
// (Postfix does not ask PCRE for UTF-8 mode), \d \w \s \b and POSIX
// classes are ASCII, "." matches a newline unless the "s" flag is given,
// and patterns are case-insensitive unless the "i" flag is given. Flags
// i, m, s, x, A, E ("$" only at the very end) and U (quantifiers lazy
// unless followed by "?") are honoured, X is ignored (as Postfix does
// with PCRE2).
//
// A construct that regexp2 would read otherwise than PCRE, or cannot run,
// makes the table fail to load with an error that names it, never a rule
// that silently matches other keys: E with an inline (?m); \h \H \v \V \R \N
// \X \C \K \g \o{} \x{} above \xff; \D \W \S inside [...]; negated POSIX
// classes; .NET class subtraction ([a-[b]]) and balancing groups;
// recursion and subroutine calls ((?R), (?1), (?&name), (?P>name));
// branch reset (?|...); backtracking verbs (*...); callouts (?C);
// conditions other than (?(n)...) and look-around; inline flags other
// than i m s x n; and a non-ASCII character in a pattern that may be
// case-insensitive (PCRE without UTF-8 folds only ASCII letters).
//
// A match that runs longer than 100ms (a pattern that backtracks
// catastrophically on a hostile key) is a Temporary error; Postfix's PCRE
// stops at its match limit and treats the rule as not matching.
type PCRETable struct {
	ruleTable
}

func openPCRE(_ context.Context, path string, o *OpenOptions) (Table, error) {
	rt, err := openRuleTable("pcre", path, o, parsePCRELine)
	if err != nil {
		return nil, err
	}
	return PCRETable{rt}, nil
}

// parsePCRELine parses one logical line of a pcre: table, as Postfix's
// dict_pcre.c reads it; kind is "if", "endif" or "".
func parsePCRELine(line string) (regexpRule, string, error) {
	line = strings.TrimLeft(line, " \t")
	var r regexpRule
	kind := ""
	switch {
	case keyword(line, "endif"):
		if strings.TrimSpace(line[5:]) != "" {
			r.warns = append(r.warns, "ignoring extra text after ENDIF")
		}
		return r, "endif", nil
	case keyword(line, "if"):
		kind, r.block, line = "if", true, line[2:]
	case line != "" && isAlnum(line[0]):
		return r, "", ignoreRule{"ignoring unrecognized request"}
	}
	// Any number of '!', each toggling, with white space around.
	for {
		line = strings.TrimLeft(line, " \t")
		if !strings.HasPrefix(line, "!") {
			break
		}
		r.negate = !r.negate
		line = line[1:]
	}
	if line == "" {
		return r, "", skipRule{"no regexp"}
	}
	delim := line[0]
	end := -1
	for i := 1; i < len(line); i++ {
		if line[i] == '\\' {
			i++
			continue
		}
		if line[i] == delim {
			end = i
			break
		}
	}
	if end < 0 {
		return r, "", ignoreRule{fmt.Sprintf("no closing regexp delimiter \"%c\": ignoring this rule", delim)}
	}
	pattern := line[1:end]
	after := line[end+1:]
	fe := 0
	for fe < len(after) && !isSpace(after[fe]) {
		fe++
	}
	flags, value := after[:fe], strings.TrimSpace(after[fe:])
	f := pcreFlags{caseless: true, dotall: true}
	for _, c := range []byte(flags) {
		switch c {
		case 'i':
			f.caseless = !f.caseless
		case 'm':
			f.multiline = !f.multiline
		case 's':
			f.dotall = !f.dotall
		case 'x':
			f.extended = !f.extended
		case 'A':
			f.anchored = !f.anchored
		case 'X':
			r.warns = append(r.warns, `ignoring obsolete regexp option "X"`)
		case 'E':
			f.dollarEndOnly = !f.dollarEndOnly
		case 'U':
			f.ungreedy = !f.ungreedy
		default:
			return r, "", skipRule{fmt.Sprintf("unknown regexp option \"%c\"", c)}
		}
	}
	if r.block && value != "" {
		r.warns = append(r.warns, fmt.Sprintf("ignoring extra text after IF statement: \"%s\"", value),
			"do not prepend whitespace to statements between IF and ENDIF")
	}
	re, err := compilePCRE(pattern, f)
	if err != nil {
		return r, "", fmt.Errorf("pattern /%s/: %w", pattern, err)
	}
	r.re = re
	if r.block {
		return r, kind, nil
	}
	if r.negate && strings.Contains(strings.ReplaceAll(value, "$$", ""), "$") {
		return r, "", skipRule{"$number found in negative match replacement text"}
	}
	if err := checkSubst(value, re.groups); err != nil {
		return r, "", err
	}
	r.value = value
	return r, "", nil
}

// keyword reports whether line starts with word (any case) followed by a
// character that is not a letter or digit.
func keyword(line, word string) bool {
	return len(line) >= len(word) && strings.EqualFold(line[:len(word)], word) &&
		(len(line) == len(word) || !isAlnum(line[len(word)]))
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// pcreFlags are the options of one pcre: rule.
type pcreFlags struct {
	caseless, multiline, dotall, extended, anchored bool
	dollarEndOnly                                   bool // E: "$" matches at the very end only
	ungreedy                                        bool // U: quantifiers lazy unless followed by "?"
}

// pcreMatcher is a pcre: pattern compiled for regexp2 over the bytes of
// the key, each byte one rune (ISO 8859-1), so that "." and classes match
// one byte as in PCRE without UTF-8, and rune offsets are byte offsets.
type pcreMatcher struct {
	re     *regexp2.Regexp
	groups int
}

func compilePCRE(pattern string, f pcreFlags) (pcreMatcher, error) {
	tr, err := translatePCRE(pattern, f)
	if err != nil {
		return pcreMatcher{}, err
	}
	if f.anchored {
		end := ")"
		if f.extended {
			end = "\n)" // after a trailing # comment
		}
		tr = `\G(?:` + tr + end
	}
	var opts regexp2.RegexOptions
	if f.caseless {
		opts |= regexp2.IgnoreCase
	}
	if f.multiline {
		opts |= regexp2.Multiline
	}
	if f.dotall {
		opts |= regexp2.Singleline
	}
	if f.extended {
		opts |= regexp2.IgnorePatternWhitespace
	}
	re, err := regexp2.Compile(latin1(tr), opts, regexp2.OptionMaintainCaptureOrder())
	if err != nil {
		return pcreMatcher{}, err
	}
	re.MatchTimeout = pcreMatchTimeout
	return pcreMatcher{re: re, groups: len(re.GetGroupNumbers()) - 1}, nil
}

// latin1 returns s with each byte made the rune of the same value.
func latin1(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}

func (m pcreMatcher) find(key string, subs bool) ([]int, bool, error) {
	in := make([]rune, len(key))
	for i := 0; i < len(key); i++ {
		in[i] = rune(key[i])
	}
	var loc []int
	found := false
	err := m.re.FindRunesMatches(in, 0, func(v regexp2.MatchView) bool {
		found = true
		if subs {
			loc = make([]int, 2*(m.groups+1))
			for n := 0; n <= m.groups; n++ {
				i, l, ok := v.GroupRange(n)
				if !ok {
					loc[2*n], loc[2*n+1] = -1, -1
					continue
				}
				loc[2*n], loc[2*n+1] = i, i+l
			}
		}
		return false // the first match is the one
	})
	if err != nil {
		return nil, false, fmt.Errorf("pcre match: %w", err)
	}
	return loc, found, nil
}

// ASCII classes of PCRE without UCP, as bracket contents.
const (
	pcreWordChars  = `A-Za-z0-9_`
	pcreDigitChars = `0-9`
	pcreSpaceChars = `\t\n\x0B\f\r\x20`
)

// posixClasses are the POSIX classes of PCRE in the C locale, as
// bracket contents.
var posixClasses = map[string]string{
	"alpha": `A-Za-z`, "digit": `0-9`, "alnum": `A-Za-z0-9`, "upper": `A-Z`, "lower": `a-z`,
	"space": pcreSpaceChars, "blank": `\t\x20`, "punct": `!-/:-@\[-` + "`" + `{-~`,
	"print": `\x20-\x7E`, "graph": `\x21-\x7E`, "cntrl": `\x00-\x1F\x7F`,
	"xdigit": `0-9A-Fa-f`, "word": pcreWordChars, "ascii": `\x00-\x7F`,
}

// translatePCRE rewrites a PCRE pattern into regexp2's syntax with PCRE's
// meaning (see PCRETable), or names the construct it cannot honour.
// f are the rule's flags.
func translatePCRE(p string, f pcreFlags) (string, error) {
	mayFold := f.caseless || hasInlineFlag(p, 'i')
	if f.dollarEndOnly && !f.multiline && hasInlineFlag(p, 'm') {
		return "", fmt.Errorf("flag E with an inline (?m) is not supported")
	}
	var b strings.Builder
	highByte := func(c byte) error {
		if c >= 0x80 && mayFold {
			return fmt.Errorf("non-ASCII character in a case-insensitive pattern: PCRE without UTF-8 folds only ASCII letters; add the \"i\" flag to make the rule case-sensitive")
		}
		return nil
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch c {
		case '\\':
			n, err := translateEscape(&b, p, i, false, highByte)
			if err != nil {
				return "", err
			}
			i += n - 1
		case '[':
			n, err := translateClass(&b, p, i, highByte)
			if err != nil {
				return "", err
			}
			i += n - 1
		case '(':
			n, err := translateGroup(&b, p, i)
			if err != nil {
				return "", err
			}
			i += n - 1
		case '$':
			if f.dollarEndOnly && !f.multiline {
				b.WriteString(`\z`) // E: not before a final newline
			} else {
				b.WriteByte('$')
			}
		case '*', '+', '?', '{':
			n := quantifierLen(p, i)
			if n == 0 { // a '{' that is no quantifier is a literal
				b.WriteString(`\{`)
				continue
			}
			b.WriteString(p[i : i+n])
			i += n - 1
			lazy := i+1 < len(p) && p[i+1] == '?'
			possessive := i+1 < len(p) && p[i+1] == '+'
			switch {
			case possessive:
				b.WriteByte('+')
				i++
			case f.ungreedy && lazy:
				i++ // U: "*?" is greedy
			case f.ungreedy || lazy:
				b.WriteByte('?')
				if lazy {
					i++
				}
			}
		default:
			if err := highByte(c); err != nil {
				return "", err
			}
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// quantifierLen returns the length of the quantifier at p[i] ("*", "+",
// "?", "{n}", "{n,}", "{n,m}"), or 0 for a '{' that PCRE reads as a
// literal.
func quantifierLen(p string, i int) int {
	if p[i] != '{' {
		return 1
	}
	j, digits := i+1, 0
	for j < len(p) && isDigit(p[j]) {
		j, digits = j+1, digits+1
	}
	if digits == 0 {
		return 0
	}
	if j < len(p) && p[j] == ',' {
		j++
		for j < len(p) && isDigit(p[j]) {
			j++
		}
	}
	if j < len(p) && p[j] == '}' {
		return j - i + 1
	}
	return 0
}

// hasInlineFlag reports whether p may set flag f inline: "(?f", "(?-..f".
func hasInlineFlag(p string, f byte) bool {
	for i := 0; i+2 < len(p); i++ {
		if p[i] != '(' || p[i+1] != '?' || (i > 0 && p[i-1] == '\\') {
			continue
		}
		for j := i + 2; j < len(p) && (isAlnum(p[j]) || p[j] == '-'); j++ {
			if p[j] == f {
				return true
			}
		}
	}
	return false
}

// translateEscape writes the escape at p[i] ('\\') and returns its width.
// inClass says it is inside [...].
func translateEscape(b *strings.Builder, p string, i int, inClass bool, highByte func(byte) error) (int, error) {
	if i+1 >= len(p) {
		return 0, fmt.Errorf("\\ at end of pattern")
	}
	e := p[i+1]
	class := func(set string, negated bool) (int, error) {
		switch {
		case inClass && negated:
			return 0, fmt.Errorf("\\%c inside [...] is not supported (write the class out)", e)
		case inClass:
			b.WriteString(set)
		case negated:
			b.WriteString("[^" + set + "]")
		default:
			b.WriteString("[" + set + "]")
		}
		return 2, nil
	}
	switch e {
	case 'd', 'D':
		return class(pcreDigitChars, e == 'D')
	case 'w', 'W':
		return class(pcreWordChars, e == 'W')
	case 's', 'S':
		return class(pcreSpaceChars, e == 'S')
	case 'b', 'B':
		if inClass {
			if e == 'B' {
				return 0, fmt.Errorf("\\B inside [...] is not PCRE syntax")
			}
			b.WriteString(`\b`) // backspace, in both
			return 2, nil
		}
		w := "[" + pcreWordChars + "]"
		if e == 'b' {
			b.WriteString(`(?:(?<=` + w + `)(?!` + w + `)|(?<!` + w + `)(?=` + w + `))`)
		} else {
			b.WriteString(`(?:(?<=` + w + `)(?=` + w + `)|(?<!` + w + `)(?!` + w + `))`)
		}
		return 2, nil
	case 'h', 'H', 'v', 'V', 'R', 'N', 'X', 'C', 'K', 'g', 'o':
		return 0, fmt.Errorf("\\%c is not supported", e)
	case 'x':
		if i+2 < len(p) && p[i+2] == '{' {
			end := strings.IndexByte(p[i:], '}')
			if end < 0 {
				return 0, fmt.Errorf("\\x{ without }")
			}
			hex := p[i+3 : i+end]
			v, ok := parseHexByte(hex)
			if !ok {
				return 0, fmt.Errorf("\\x{%s} is not a byte (PCRE without UTF-8)", hex)
			}
			if err := highByte(v); err != nil {
				return 0, err
			}
			fmt.Fprintf(b, `\x%02X`, v)
			return end + 1, nil
		}
		j := i + 2
		for j < len(p) && j < i+4 && isHex(p[j]) {
			j++
		}
		v, _ := parseHexByte(p[i+2 : j])
		if err := highByte(v); err != nil {
			return 0, err
		}
		fmt.Fprintf(b, `\x%02X`, v) // "\x" alone is NUL in PCRE
		return j - i, nil
	case 'Q':
		end := strings.Index(p[i+2:], `\E`)
		lit := p[i+2:]
		width := len(p) - i
		if end >= 0 {
			lit = p[i+2 : i+2+end]
			width = 2 + end + 2
		}
		for k := 0; k < len(lit); k++ {
			if err := highByte(lit[k]); err != nil {
				return 0, err
			}
			if isAlnum(lit[k]) || lit[k] >= 0x80 {
				b.WriteByte(lit[k])
			} else {
				fmt.Fprintf(b, `\x%02X`, lit[k])
			}
		}
		return width, nil
	case 'E':
		return 2, nil // a \E without \Q is ignored
	case 'k':
		if i+2 < len(p) && p[i+2] == '{' {
			return 0, fmt.Errorf("\\k{name} is not supported (write \\k<name>)")
		}
	case 'p', 'P', 'a', 'e', 'f', 'n', 'r', 't', 'c', 'A', 'z', 'Z', 'G', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
	default:
		if isAlnum(e) {
			return 0, fmt.Errorf("\\%c is not a PCRE escape", e)
		}
		if err := highByte(e); err != nil {
			return 0, err
		}
	}
	if '0' <= e && e <= '7' {
		// An octal escape may give a byte over 0x7f.
		j, v := i+1, 0
		for j < len(p) && j < i+4 && '0' <= p[j] && p[j] <= '7' {
			v = v*8 + int(p[j]-'0')
			j++
		}
		if (e == '0' || j-i == 4) && v >= 0x80 {
			if err := highByte(byte(v)); err != nil {
				return 0, err
			}
		}
	}
	b.WriteString(p[i : i+2])
	return 2, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// parseHexByte reads up to two hex digits ("" is 0), or fails for a
// value over 0xff.
func parseHexByte(s string) (byte, bool) {
	s = strings.TrimLeft(s, "0")
	if len(s) > 2 {
		return 0, false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		d, ok := unhex(s, i)
		if !ok {
			return 0, false
		}
		v = v*16 + int(d)
	}
	return byte(v), true
}

// translateClass writes the bracket expression at p[i] and returns its
// width.
func translateClass(b *strings.Builder, p string, i int, highByte func(byte) error) (int, error) {
	j := i + 1
	b.WriteByte('[')
	if j < len(p) && p[j] == '^' {
		b.WriteByte('^')
		j++
	}
	if j < len(p) && p[j] == ']' {
		b.WriteString(`\]`) // a leading ']' is literal
		j++
	}
	for ; j < len(p); j++ {
		c := p[j]
		switch {
		case c == ']':
			b.WriteByte(']')
			return j - i + 1, nil
		case c == '\\':
			n, err := translateEscape(b, p, j, true, highByte)
			if err != nil {
				return 0, err
			}
			j += n - 1
		case c == '[' && j+1 < len(p) && p[j+1] == ':':
			end := strings.Index(p[j+2:], ":]")
			if end < 0 {
				b.WriteString(`\[`)
				continue
			}
			name := p[j+2 : j+2+end]
			set, ok := posixClasses[name]
			if !ok {
				return 0, fmt.Errorf("[:%s:] is not supported", name)
			}
			b.WriteString(set)
			j += 2 + end + 1
		case c == '[':
			b.WriteString(`\[`)
		case c == '-' && j+1 < len(p) && p[j+1] == '[':
			return 0, fmt.Errorf("\"-[\" inside [...] is a class subtraction in regexp2, not PCRE syntax: write \\-\\[ or \\[")
		default:
			if err := highByte(c); err != nil {
				return 0, err
			}
			b.WriteByte(c)
		}
	}
	return 0, fmt.Errorf("missing terminating ] for character class")
}

// translateGroup writes the opening of the group at p[i] ('(') and
// returns its width.
func translateGroup(b *strings.Builder, p string, i int) (int, error) {
	rest := p[i+1:]
	switch {
	case strings.HasPrefix(rest, "*"):
		return 0, fmt.Errorf("backtracking verbs and start options (*...) are not supported")
	case !strings.HasPrefix(rest, "?"):
		b.WriteByte('(')
		return 1, nil
	}
	rest = rest[1:]
	if rest == "" {
		return 0, fmt.Errorf("unterminated group")
	}
	switch c := rest[0]; {
	case c == '#':
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return 0, fmt.Errorf("missing ) after (?# comment")
		}
		return 2 + end + 1, nil // dropped: its text is no pattern
	case c == ':' || c == '=' || c == '!' || c == '>':
	case strings.HasPrefix(rest, "<=") || strings.HasPrefix(rest, "<!"):
	case c == '<' || c == '\'':
		close := byte('>')
		if c == '\'' {
			close = '\''
		}
		end := strings.IndexByte(rest[1:], close)
		if end < 0 {
			return 0, fmt.Errorf("unterminated group name")
		}
		if name := rest[1 : 1+end]; strings.Contains(name, "-") {
			return 0, fmt.Errorf("(?%c%s%c: balancing groups are not PCRE syntax", c, name, close)
		}
	case strings.HasPrefix(rest, "P<"):
		b.WriteString("(?") // (?P<name>...) is (?<name>...)
		return 3, nil
	case strings.HasPrefix(rest, "P="):
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return 0, fmt.Errorf("unterminated (?P=name)")
		}
		b.WriteString(`\k<` + rest[2:end] + `>`)
		return 2 + end + 1, nil
	case c == '|':
		return 0, fmt.Errorf("branch reset groups (?|...) are not supported")
	case c == 'R' || c == '&' || c == '+' || c == 'P' || isDigit(c) || c == '-' && len(rest) > 1 && isDigit(rest[1]):
		return 0, fmt.Errorf("recursion and subroutine calls (?%c...) are not supported", c)
	case c == 'C':
		return 0, fmt.Errorf("callouts (?C...) are not supported")
	case c == '(':
		cond := rest[1:]
		if !(strings.HasPrefix(cond, "?") || len(cond) > 0 && isDigit(cond[0])) {
			return 0, fmt.Errorf("conditions other than (?(n)...) and look-around are not supported")
		}
	default:
		// Inline options: (?imsx-imsx) or (?imsx-imsx:...).
		j := 0
		for j < len(rest) && rest[j] != ')' && rest[j] != ':' {
			if !strings.ContainsRune("imsxn-", rune(rest[j])) {
				return 0, fmt.Errorf("inline option %q is not supported", rest[j])
			}
			j++
		}
	}
	b.WriteString("(?")
	return 2, nil
}
