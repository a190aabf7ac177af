package lookup

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mxrelay/mxrelay/internal/regfile"
)

// regexpRule is one line of a regexp: or pcre: table.
type regexpRule struct {
	re     matcher
	negate bool
	value  string   // with $n substitutions
	block  bool     // an "if" line
	endIdx int      // for block: index of the rule after its endif
	warns  []string // warnings about the line that do not skip it
}

// RegexpTable is a regexp: table (regexp_table(5)) evaluated with Go's RE2
// engine: lines "/pattern/flags result", "!/pattern/flags result", and
// "if /pattern/flags" ... "endif". The first match wins; $1..$9 and ${n} in
// the result are replaced by the submatches, $$ is a dollar. Keys are not
// folded; patterns are case-insensitive unless the "i" flag is given (as in
// Postfix). RE2 cannot do back-references or look-around: a pattern that
// needs them is an error when the table is loaded, never a silent mismatch.
// The "x" flag (POSIX basic syntax) is refused for the same reason.
type RegexpTable struct {
	ruleTable
}

func openRegexp(_ context.Context, path string, o *OpenOptions) (Table, error) {
	rt, err := openRuleTable("regexp", path, o, parseRegexpLine)
	if err != nil {
		return nil, err
	}
	return RegexpTable{rt}, nil
}

// ruleTable is a file of rules tried in order: regexp: and pcre:.
type ruleTable struct {
	*reloader[[]regexpRule]
}

// openRuleTable loads the rules of a table of type typ ("regexp",
// "pcre") from path, parsing each line with parse.
func openRuleTable(typ, path string, o *OpenOptions, parse func(line string) (regexpRule, string, error)) (ruleTable, error) {
	r, err := newReloader(typ+":"+path, path, o, func(p string) ([]regexpRule, []Warning, error) {
		return loadRules(p, typ, parse)
	})
	return ruleTable{r}, err
}

// Lookup returns the result of the first rule whose pattern matches key.
func (t ruleTable) Lookup(_ context.Context, key string) (string, bool, error) {
	if !utf8.ValidString(key) {
		return "", false, nil // Postfix: "non-UTF-8 key", not found
	}
	return lookupRules(t.spec, t.get().v, key)
}

// loadRules reads the rules of a regexp: or pcre: table (kind) from the
// file p, parsing each logical line with parse; IF and ENDIF nest as in
// Postfix, and a rule Postfix skips gives a warning worded as postmap's.
func loadRules(p, kind string, parse func(line string) (regexpRule, string, error)) ([]regexpRule, []Warning, error) {
	f, err := regfile.Open(p)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	file := kind + " map " + p
	var rules []regexpRule
	var stack []int
	ifLines := map[int]int{} // rule index of an IF -> its line
	var warnings []Warning
	var perr error
	err = readLogicalLines(f, p, &warnings, func(lineno int, line string) {
		if perr != nil {
			return
		}
		rule, kind, err := parse(line)
		if kind != "endif" || len(stack) > 0 { // Postfix says no more of an unmatched ENDIF
			for _, w := range rule.warns {
				warnings = append(warnings, Warning{File: file, Line: lineno, Msg: w})
			}
		}
		if skip, ok := err.(skipRule); ok {
			warnings = append(warnings, Warning{File: file, Line: lineno, Msg: skip.msg + ": skipping this rule"})
			return
		}
		if ig, ok := err.(ignoreRule); ok {
			warnings = append(warnings, Warning{File: file, Line: lineno, Msg: ig.msg})
			return
		}
		if err != nil {
			perr = fmt.Errorf("%s, line %d: %w", p, lineno, err)
			return
		}
		if kind == "" && rule.value == "" {
			// Postfix keeps the rule; its empty result is a
			// configuration error when a key matches it, as
			// any empty result is in Postfix's maps.c.
			warnings = append(warnings, Warning{File: file, Line: lineno, Msg: "no replacement text: using empty string"})
		}
		switch kind {
		case "endif":
			if len(stack) == 0 {
				warnings = append(warnings, Warning{File: file, Line: lineno, Msg: "ignoring ENDIF without matching IF"})
				return
			}
			rules[stack[len(stack)-1]].endIdx = len(rules)
			stack = stack[:len(stack)-1]
			return
		case "if":
			stack = append(stack, len(rules))
			ifLines[len(rules)] = lineno
		}
		rules = append(rules, rule)
	})
	if err == nil {
		err = perr
	}
	// An IF without ENDIF guards the rest of the file, as in Postfix.
	for _, i := range stack {
		rules[i].endIdx = len(rules)
		warnings = append(warnings, Warning{File: file, Line: ifLines[i], Msg: "IF has no matching ENDIF"})
	}
	return rules, warnings, err
}

// parseRegexpLine parses one logical line; kind is "if", "endif" or "".
func parseRegexpLine(line string) (regexpRule, string, error) {
	line = strings.TrimSpace(line)
	var r regexpRule
	kind := ""
	word, rest := cutSpace(line)
	switch strings.ToLower(word) {
	case "endif":
		if rest != "" {
			return r, "", fmt.Errorf("garbage after ENDIF")
		}
		return r, "endif", nil
	case "if":
		kind, line, r.block = "if", rest, true
	}
	if strings.HasPrefix(line, "!") {
		r.negate, line = true, strings.TrimLeft(line[1:], " \t")
	}
	if line == "" {
		return r, "", fmt.Errorf("no regular expression")
	}
	delim := line[0]
	if delim == '\\' || isSpace(delim) || 'a' <= delim && delim <= 'z' || 'A' <= delim && delim <= 'Z' || '0' <= delim && delim <= '9' {
		return r, "", fmt.Errorf("bad regexp delimiter %q", delim)
	}
	end := -1
	for i := 1; i < len(line); i++ {
		if line[i] == '\\' && i+1 < len(line) && line[i+1] == delim {
			i++
			continue
		}
		if line[i] == delim {
			end = i
			break
		}
	}
	if end < 0 {
		return r, "", fmt.Errorf("unmatched delimiter %q", delim)
	}
	pattern := strings.ReplaceAll(line[1:end], `\`+string(delim), string(delim))
	// Flags touch the closing delimiter; the result follows white space.
	after := line[end+1:]
	fe := 0
	for fe < len(after) && !isSpace(after[fe]) {
		fe++
	}
	flags, value := after[:fe], strings.TrimSpace(after[fe:])
	icase, multi := true, false
	for _, f := range flags {
		switch f {
		case 'i':
			icase = !icase
		case 'm':
			multi = !multi
		case 'x':
			return r, "", fmt.Errorf("flag 'x' (POSIX basic regular expressions) is not supported by RE2")
		default:
			return r, "", skipRule{fmt.Sprintf("unknown regexp option \"%c\"", f)}
		}
	}
	prefix := ""
	if icase {
		prefix += "i"
	}
	if multi {
		prefix += "m"
	} else {
		// POSIX regcomp without REG_NEWLINE: "." matches a newline too
		// (a folded header of header_checks; golden hbc, case folded).
		prefix += "s"
	}
	if prefix != "" {
		prefix = "(?" + prefix + ")"
	}
	if err := posixMismatch(pattern); err != nil {
		return r, "", err
	}
	re, err := regexp.Compile(prefix + pattern)
	if err != nil {
		return r, "", fmt.Errorf("pattern /%s/ cannot be used with Go's RE2 engine (no back-references or look-around): %v", pattern, err)
	}
	r.re = re2Matcher{re}
	if r.block {
		if value != "" {
			return r, "", fmt.Errorf("garbage after IF pattern")
		}
		return r, kind, nil
	}
	if r.negate && strings.Contains(strings.ReplaceAll(value, "$$", ""), "$") {
		return r, "", skipRule{"$number found in negative match replacement text"}
	}
	if err := checkSubst(value, re.NumSubexp()); err != nil {
		return r, "", err
	}
	r.value = value
	return r, "", nil
}

// posixMismatch finds the constructs that Postfix's regcomp (POSIX
// extended syntax, glibc) and Go's RE2 both accept but read differently,
// so that such a table fails to load instead of silently matching other
// keys than in Postfix:
//   - an escaped letter other than \w \W \s \S \b \B: RE2 reads \d, \r,
//     \n, \t, \x, \p... as a class or a control character, glibc does not
//     (postmap: /^\d$/ matches neither "5" nor "d");
//   - a backslash inside a bracket expression: literal in POSIX ("[\.]" is
//     a backslash or a dot), an escape in RE2;
//   - "[." and "[=" inside brackets (POSIX collating elements);
//   - a quantifier followed by '?': repeated in POSIX, non-greedy in RE2.
func posixMismatch(pattern string) error {
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '\\':
			if i+1 >= len(pattern) {
				return nil // RE2 reports the trailing backslash
			}
			i++
			e := pattern[i]
			if ('a' <= e && e <= 'z' || 'A' <= e && e <= 'Z') && !strings.ContainsRune("wWsSbB", rune(e)) {
				return fmt.Errorf("\\%c in /%s/ does not mean in Postfix (POSIX regcomp) what it means in Go's RE2: write the character or class you mean", e, pattern)
			}
		case '*', '+', '?', '}':
			if i+1 < len(pattern) && pattern[i+1] == '?' {
				return fmt.Errorf("%q in /%s/ is non-greedy in Go's RE2 but not in Postfix (POSIX)", pattern[i:i+2], pattern)
			}
		case '[':
			end, err := bracketEnd(pattern, i)
			if err != nil {
				return fmt.Errorf("%v in /%s/", err, pattern)
			}
			i = end
		}
	}
	return nil
}

// bracketEnd returns the index of the ']' closing the bracket expression
// that starts at pattern[start], or an error for a construct that POSIX
// and RE2 read differently.
func bracketEnd(pattern string, start int) (int, error) {
	i := start + 1
	if i < len(pattern) && pattern[i] == '^' {
		i++
	}
	if i < len(pattern) && pattern[i] == ']' {
		i++ // a leading ']' is literal
	}
	for ; i < len(pattern); i++ {
		switch pattern[i] {
		case '\\':
			if i+1 < len(pattern) && pattern[i+1] == '\\' {
				i++ // "[\\]": a backslash in both readings
				continue
			}
			return 0, fmt.Errorf("a backslash inside [...] is literal in Postfix (POSIX) but an escape in Go's RE2")
		case '[':
			if i+1 < len(pattern) {
				switch pattern[i+1] {
				case ':':
					if j := strings.Index(pattern[i+2:], ":]"); j >= 0 {
						i += 2 + j + 1
						continue
					}
				case '.', '=':
					return 0, fmt.Errorf("POSIX collating element [%c...%c] is not supported by Go's RE2", pattern[i+1], pattern[i+1])
				}
			}
		case ']':
			return i, nil
		}
	}
	return len(pattern), nil // RE2 reports the missing ']'
}

// skipRule is a rule Postfix skips with a warning rather than failing the
// whole table.
type skipRule struct{ msg string }

func (e skipRule) Error() string { return e.msg }

// ignoreRule is a rule Postfix skips with a warning worded otherwise than
// "skipping this rule": the warning is msg.
type ignoreRule struct{ msg string }

func (e ignoreRule) Error() string { return e.msg }

// checkSubst checks the $ references of a result as Postfix's mac_parse
// reads them: $$ is a dollar; $n, ${n} and $(n) name group n, which must
// exist; a name that is not all digits ($1x, $x, ${1?y}), an unclosed brace
// or a $ followed by nothing or another character skip the rule, with
// postmap's warning.
func checkSubst(v string, groups int) error {
	for i := 0; i < len(v); i++ {
		if v[i] != '$' {
			continue
		}
		if i+1 < len(v) && v[i+1] == '$' {
			i++
			continue
		}
		name, w := macroName(v[i+1:])
		switch {
		case w == 0:
			return skipRule{fmt.Sprintf("empty macro name: %q: bad replacement syntax", v)}
		case name == "" || strings.Trim(name, "0123456789") != "":
			return skipRule{fmt.Sprintf("non-numeric replacement index \"%s\": bad replacement syntax", name)}
		}
		if n, _ := strconv.Atoi(name); n > groups {
			return skipRule{fmt.Sprintf("out of range replacement index \"%d\"", n)}
		}
		i += w
	}
	return nil
}

// macroName returns the name of the reference that s (the text after a $)
// starts with, and its width: "{name}", "(name)", or a run of letters,
// digits and '_'. width is 0 when there is none or a brace is not closed.
func macroName(s string) (name string, width int) {
	if s != "" && (s[0] == '{' || s[0] == '(') {
		closer := byte('}')
		if s[0] == '(' {
			closer = ')'
		}
		end := strings.IndexByte(s, closer)
		if end < 0 {
			return "", 0
		}
		return s[1:end], end + 1
	}
	i := 0
	for i < len(s) && (s[i] == '_' || '0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'z' || 'A' <= s[i] && s[i] <= 'Z') {
		i++
	}
	return s[:i], i
}

// substRef parses the reference after a $ in a result that checkSubst
// accepted: the group number and the width of the reference.
func substRef(s string) (n, width int) {
	name, w := macroName(s)
	n, err := strconv.Atoi(name)
	if err != nil || w == 0 {
		return 0, 0
	}
	return n, w
}

// matcher is a compiled pattern of a regexp: or pcre: rule.
type matcher interface {
	// find reports whether key matches and, with subs, the byte offsets
	// of the match and its groups (pairs; -1 for a group that did not
	// take part). An error means the match could not be decided.
	find(key string, subs bool) (m []int, ok bool, err error)
}

// re2Matcher is a regexp: pattern on Go's RE2.
type re2Matcher struct{ re *regexp.Regexp }

func (m re2Matcher) find(key string, subs bool) ([]int, bool, error) {
	if !subs {
		return nil, m.re.MatchString(key), nil
	}
	loc := m.re.FindStringSubmatchIndex(key)
	return loc, loc != nil, nil
}

// lookupRules returns the result of the first rule whose pattern matches
// key, with its $n references replaced by the groups of the match.
func lookupRules(spec string, rules []regexpRule, key string) (string, bool, error) {
	for i := 0; i < len(rules); i++ {
		r := &rules[i]
		subs := !r.block && !r.negate && strings.Contains(r.value, "$")
		m, ok, err := r.re.find(key, subs)
		if err != nil {
			return "", false, &Error{Table: spec, Key: key, Kind: Temporary, Err: err}
		}
		if r.block {
			if ok == r.negate {
				i = r.endIdx - 1
			}
			continue
		}
		if ok == r.negate {
			continue
		}
		if !subs {
			return checkValue(spec, key, strings.ReplaceAll(r.value, "$$", "$"))
		}
		return checkValue(spec, key, expandGroups(r.value, key, m))
	}
	return "", false, nil
}

// expandGroups replaces $n, ${n} and $(n) in v by the groups of a match
// of key (m: byte offsets), and $$ by a dollar.
func expandGroups(v, key string, m []int) string {
	var b strings.Builder
	for j := 0; j < len(v); j++ {
		c := v[j]
		if c == '$' && j+1 < len(v) {
			if v[j+1] == '$' {
				b.WriteByte('$')
				j++
				continue
			}
			if n, w := substRef(v[j+1:]); w > 0 {
				if 2*n+1 < len(m) && m[2*n] >= 0 {
					b.WriteString(key[m[2*n]:m[2*n+1]])
				}
				j += w
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}
