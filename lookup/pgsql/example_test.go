package pgsql_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/lookup/pgsql"
)

// A pgsql: table whose server is down answers a Temporary error, which
// SMTP turns into "451 4.3.0", never "not found".
func Example() {
	dir, _ := os.MkdirTemp("", "pgsql")
	defer os.RemoveAll(dir)
	cf := filepath.Join(dir, "relay_recipients.cf")
	os.WriteFile(cf, []byte(`
hosts = inet:127.0.0.1:1
user = postfix
dbname = mail
query = SELECT 'OK' FROM recipients WHERE address = '%s' AND active
`), 0o644)

	ctx := context.Background()
	opts := &lookup.OpenOptions{Types: map[string]lookup.OpenFunc{"pgsql": pgsql.Open}}
	tab, err := lookup.Open(ctx, "pgsql:"+cf, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lookup.Close(tab)
	_, found, err := tab.Lookup(ctx, "bob@example.com")
	fmt.Println(found, lookup.KindOf(err))
	// Output: false temporary
}
