package lookup

import (
	"slices"
	"strings"
	"testing"
)

// A sample exercising postmap's source rules (continuation lines, comments
// inside a continuation, a leading orphan line, a colon that is not a
// separator, quoted keys, duplicates, non-UTF-8 lines, Unicode folding); the
// expected entries and warnings are what postmap 3.7 printed.
const postmapSample = "  orphan line\n# comment line\n\n   # indented comment\nFoo@Example.COM   value one\n  continued part\nbar:  colonval\nkey:value\ntab\tTABVAL\nDup dupfirst\ndup dupsecond\nemptyval\n\"a b\" quoted\n\"unbal x\ncaf\xe9 latin1\nK\xc3\x89Y v\nk2 v2\n# c\n\n more2\nlast   spaced value   \r\n\"q\\\"x\" esc\n"

func TestParseTextPostmapRules(t *testing.T) {
	entries, warnings, err := ParseText(strings.NewReader(postmapSample), "t", ParseOptions{DuplicateFile: "t.db"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{"foo@example.com", "value one  continued part"},
		{"bar:", "colonval"},
		{"tab", "TABVAL"},
		{"dup", "dupfirst"},
		{`"a b"`, "quoted"},
		{"kéy", "v"},
		{"k2", "v2 more2"},
		{"last", "spaced value"},
		{`"q\"x"`, "esc"},
	}
	if !slices.Equal(entries, want) {
		t.Errorf("entries =\n%q\nwant\n%q", entries, want)
	}
	var got []string
	for _, w := range warnings {
		got = append(got, w.String())
	}
	wantW := []string{
		`t: logical line must not start with whitespace: "  orphan line"`,
		`t, line 7: record is in "key: value" format; is this an alias file?`,
		`t, line 8: expected format: key whitespace value`,
		`t.db: duplicate entry: "dup"`,
		`t, line 12: expected format: key whitespace value`,
		`t, line 14: unbalanced '"' in '"unbal x' -- ignoring this line`,
		`t, line 15: non-UTF-8 input "caf? latin1" -- ignoring this line`,
	}
	if !slices.Equal(got, wantW) {
		t.Errorf("warnings =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantW, "\n"))
	}
}

func TestParseTextOptions(t *testing.T) {
	src := "Key1 v1\nkey1 v2\na\\ b value1\nx\"y z\" v3\n"
	for _, c := range []struct {
		name string
		o    ParseOptions
		want []Entry
		nw   int
	}{
		{"default first wins", ParseOptions{}, []Entry{{"key1", "v1"}, {`a\ b`, "value1"}, {`x"y z"`, "v3"}}, 1},
		{"-w quiet", ParseOptions{QuietDuplicates: true}, []Entry{{"key1", "v1"}, {`a\ b`, "value1"}, {`x"y z"`, "v3"}}, 0},
		{"-r last wins", ParseOptions{LastWins: true}, []Entry{{"key1", "v2"}, {`a\ b`, "value1"}, {`x"y z"`, "v3"}}, 0},
		{"-f no fold", ParseOptions{NoFold: true}, []Entry{{"Key1", "v1"}, {"key1", "v2"}, {`a\ b`, "value1"}, {`x"y z"`, "v3"}}, 0},
	} {
		e, w, err := ParseText(strings.NewReader(src), "t", c.o)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(e, c.want) || len(w) != c.nw {
			t.Errorf("%s: got %q (%d warnings), want %q (%d)", c.name, e, len(w), c.want, c.nw)
		}
	}
}

func TestParseTextContinuationAcrossCommentsAndCRLF(t *testing.T) {
	src := "k1 v1\r\n\tmore\r\nk3 v3\n\n more3\n  leading\nk7 a # not a comment\n"
	e, w, err := ParseText(strings.NewReader(src), "t", ParseOptions{})
	if err != nil || len(w) != 0 {
		t.Fatal(err, w)
	}
	want := []Entry{{"k1", "v1\r\tmore"}, {"k3", "v3 more3  leading"}, {"k7", "a # not a comment"}}
	if !slices.Equal(e, want) {
		t.Errorf("got %q, want %q", e, want)
	}
}

func TestFoldKey(t *testing.T) {
	// What postmap cdb: stored for these keys (smtputf8_enable=yes).
	for in, want := range map[string]string{
		"Straße": "strasse", "ſun": "sun", "ΣIGMA": "σigma", "ẞ": "ss", "İx": "i̇x",
		"ﬁ": "fi", "KK": "kk", "plain": "plain", "MiXeD@Example.COM": "mixed@example.com",
		"caf\xe9": "caf\xe9",
	} {
		if got := FoldKey(in); got != want {
			t.Errorf("FoldKey(%q) = %q, want %q", in, got, want)
		}
	}
}
