package ldap_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/lookup/ldap"
)

// An ldap: table whose server is down answers a Temporary error, which
// SMTP turns into "451 4.3.0", never "not found".
func Example() {
	dir, _ := os.MkdirTemp("", "ldap")
	defer os.RemoveAll(dir)
	cf := filepath.Join(dir, "aliases.cf")
	os.WriteFile(cf, []byte(`
server_host = ldap://127.0.0.1:1
search_base = dc=example, dc=com
query_filter = (mail=%s)
result_attribute = maildrop
`), 0o644)

	ctx := context.Background()
	opts := &lookup.OpenOptions{Types: map[string]lookup.OpenFunc{"ldap": ldap.Open}}
	tab, err := lookup.Open(ctx, "ldap:"+cf, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lookup.Close(tab)
	_, found, err := tab.Lookup(ctx, "bob@example.com")
	fmt.Println(found, lookup.KindOf(err))
	// Output: false temporary
}
