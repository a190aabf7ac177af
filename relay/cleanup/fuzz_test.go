package cleanup

import (
	"slices"
	"strings"
	"testing"
)

// FuzzSplitAddresses checks the table value reader: it never panics,
// gives no empty address, no address with a separator outside quotes,
// and reading its own output again (joined with ", ") gives the same
// addresses.
func FuzzSplitAddresses(f *testing.F) {
	for _, s := range []string{"a@b, c@d e@f", "Name <a@b>", `"x y"@b (comment) c@d`, "<a@b>, <c@d>", "(unclosed", `"unclosed`, "a@b,,,c", "<a@b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got := SplitAddresses(v)
		for _, a := range got {
			if a == "" {
				t.Fatalf("%q: empty address in %q", v, got)
			}
			if strings.ContainsAny(unquoted(a), " \t\r\n,<>()") {
				t.Fatalf("%q: separator in address %q", v, a)
			}
		}
		if again := SplitAddresses(strings.Join(got, ", ")); !slices.Equal(again, got) {
			t.Fatalf("%q: %q read again is %q", v, got, again)
		}
	})
}

// unquoted drops the quoted strings of a, for the separator check.
func unquoted(a string) string {
	var b strings.Builder
	for i := 0; i < len(a); i++ {
		if a[i] == '"' {
			i = quotedEnd(a, i) - 1
			continue
		}
		b.WriteByte(a[i])
	}
	return b.String()
}
