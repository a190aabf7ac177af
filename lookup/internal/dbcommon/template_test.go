package dbcommon

import (
	"strings"
	"testing"
)

func TestExpandQuery(t *testing.T) {
	quote := func(s string) string { return strings.ReplaceAll(s, "'", "''") }
	for _, c := range []struct {
		format, key, want string
		ok                bool
	}{
		{"k='%s'", "o'brien@example.com", "k='o''brien@example.com'", true},
		{"u='%u' d='%d'", "bob@mail.example.com", "u='bob' d='mail.example.com'", true},
		{"u='%u'", "bob", "u='bob'", true},    // no domain: %u is the whole key
		{"d='%d'", "bob", "", false},          // %d needs a domain
		{"d='%d'", "bob@", "", false},         // an empty one too
		{"u='%u'", "@example.com", "", false}, // %u needs a local part
		{"%1.%2.%3", "bob@mail.example.com", "com.example.mail", true},
		{"%3", "bob@example.com", "", false},  // too few labels
		{"%2", "bob@mail..com", "mail", true}, // empty labels are no labels
		{"%S %U %D 100%%", "bob@example.com", "bob@example.com bob example.com 100%", true},
		{"x", "", "", false}, // an empty key is never queried
	} {
		q, _, err := ParseTemplates(c.format, "%s")
		if err != nil {
			t.Fatal(err)
		}
		got, ok := q.Expand(c.key, "", quote)
		if got != c.want || ok != c.ok {
			t.Errorf("Expand(%q, %q) = %q, %v; want %q, %v", c.format, c.key, got, ok, c.want, c.ok)
		}
	}
}

func TestExpandResult(t *testing.T) {
	for _, c := range []struct {
		query, format, value, key, want string
		ok                              bool
	}{
		{"%s", "%s", "v", "k", "v", true},
		{"%s", "<%u|%d>", "alice@example.net", "bob@example.com", "<alice|example.net>", true},
		{"%s", "%d", "nodomain", "bob@example.com", "", false},                // the result lacks a domain
		{"%s", "%U@%D=%s", "r", "bob@example.com", "bob@example.com=r", true}, // the key's parts
		{"%s", "%D", "r", "bob", "", false},                                   // the key lacks a domain
		{"%s", "%S:%s", "r", "Key", "Key:r", true},
		{"%s", "%2", "r", "bob@mail.example.com", "example", true}, // labels of the key
		{"%s", "%s", "", "k", "", false},                           // an empty result is ignored
	} {
		_, r, err := ParseTemplates(c.query, c.format)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := r.Expand(c.value, c.key, nil)
		if got != c.want || ok != c.ok {
			t.Errorf("result %q of %q for key %q = %q, %v; want %q, %v", c.format, c.value, c.key, got, ok, c.want, c.ok)
		}
	}
}

func TestParseTemplatesErrors(t *testing.T) {
	for _, f := range []string{"%x", "trailing %", "%0"} {
		if _, _, err := ParseTemplates(f, "%s"); err == nil {
			t.Errorf("query %q accepted", f)
		}
		if _, _, err := ParseTemplates("%s", f); err == nil {
			t.Errorf("result %q accepted", f)
		}
	}
}

// FuzzExpand: a template that parses expands any key without panicking,
// quoting every part it inserts: with a quote that brackets its input,
// the output has no text of the key outside brackets.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"select '%s'", "%u@%d", "%1.%2", "%S%U%D%%", "x"} {
		f.Add(s, "bob@mail.example.com")
	}
	f.Fuzz(func(t *testing.T, format, key string) {
		q, r, err := ParseTemplates(format, format)
		if err != nil {
			return
		}
		quote := func(s string) string { return "<" + strings.NewReplacer("<", "", ">", "").Replace(s) + ">" }
		for _, tm := range []*Template{q, r} {
			out, ok := tm.Expand(key, key, quote)
			if !ok {
				continue
			}
			// Remove the quoted parts: what remains is the format's own text.
			rest := out
			for {
				i := strings.IndexByte(rest, '<')
				j := strings.IndexByte(rest, '>')
				if i < 0 || j < i {
					break
				}
				rest = rest[:i] + rest[j+1:]
			}
			literal := strings.NewReplacer("%%", "%").Replace(format)
			if strings.Count(format, "%") == 0 && out != format {
				t.Fatalf("format %q without %% expanded to %q", format, out)
			}
			if len(rest) > len(literal) {
				t.Fatalf("format %q, key %q: %q has unquoted text %q", format, key, out, rest)
			}
		}
	})
}
