package relay

import (
	"testing"

	"github.com/mxrelay/mxrelay/relay/maincf"
)

// TestTablesProxyPrefix: "proxy:" is dropped from table names only, not
// from an inet: address or inline table text that happens to contain it.
func TestTablesProxyPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"proxy:hash:/etc/postfix/rr, proxy:cdb:/x":               "hash:/etc/postfix/rr, cdb:/x",
		"check_recipient_access proxy:hash:/a, reject":           "check_recipient_access hash:/a, reject",
		"check_policy_service inet:proxy:10023":                  "check_policy_service inet:proxy:10023",
		"check_recipient_access inline:{ {u@proxy:x = REJECT} }": "check_recipient_access inline:{ {u@proxy:x = REJECT} }",
		"unionmap:{proxy:hash:/a, proxy:hash:/b}":                "unionmap:{hash:/a, hash:/b}",
	} {
		f := &maincf.File{}
		f.Set("relay_recipient_maps", in)
		r := &reader{cf: f}
		if got := r.tables("relay_recipient_maps"); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
