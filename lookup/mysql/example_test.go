package mysql_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/lookup/mysql"
)

// A mysql: table whose server is down answers a Temporary error, which
// SMTP turns into "451 4.3.0", never "not found".
func Example() {
	dir, _ := os.MkdirTemp("", "mysql")
	defer os.RemoveAll(dir)
	cf := filepath.Join(dir, "virtual_domains.cf")
	os.WriteFile(cf, []byte(`
hosts = inet:127.0.0.1:1
user = postfix
password = secret
dbname = mail
query = SELECT 'OK' FROM domains WHERE domain = '%s'
`), 0o644)

	ctx := context.Background()
	opts := &lookup.OpenOptions{Types: map[string]lookup.OpenFunc{"mysql": mysql.Open}}
	tab, err := lookup.Open(ctx, "mysql:"+cf, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lookup.Close(tab)
	_, found, err := tab.Lookup(ctx, "example.com")
	fmt.Println(found, lookup.KindOf(err))
	// Output: false temporary
}
