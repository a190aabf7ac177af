package maincf_test

import (
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/relay/maincf"
)

// TestAppendDotMydomainRefused: Postfix appends .$mydomain to user@host
// when append_dot_mydomain is on (trivial-rewrite, local context), which
// mxrelay does not do, so a file that turns it on is refused by name;
// "no" (the default since compatibility_level 1) loads.
func TestAppendDotMydomainRefused(t *testing.T) {
	for value, refused := range map[string]bool{"yes": true, "YES": true, "no": false, "No": false} {
		cf, err := maincf.Parse(strings.NewReader("compatibility_level = 3.6\nappend_dot_mydomain = "+value+"\n"), "main.cf")
		if err != nil {
			t.Fatal(err)
		}
		err = cf.Refuse(cf.Classify(), nil)
		if got := err != nil; got != refused {
			t.Errorf("append_dot_mydomain = %s: refused %v, want %v (%v)", value, got, refused, err)
		}
		if refused && err != nil && !strings.Contains(err.Error(), "append_dot_mydomain") {
			t.Errorf("append_dot_mydomain = %s: error does not name the parameter: %v", value, err)
		}
	}
}
