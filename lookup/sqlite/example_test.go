package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/lookup/sqlite"
)

// virtual_alias_maps in a SQLite file: every row is a result, joined with
// commas, and keys are looked up folded to lower case.
func Example() {
	dir, _ := os.MkdirTemp("", "sqlite")
	defer os.RemoveAll(dir)
	dbpath := filepath.Join(dir, "mail.sqlite")
	db, _ := sql.Open("sqlite", dbpath)
	db.Exec(`CREATE TABLE alias (address text, goto text)`)
	db.Exec(`INSERT INTO alias VALUES ('sales@example.com', 'ann@example.com'), ('sales@example.com', 'bob@example.com')`)
	db.Close()
	cf := filepath.Join(dir, "virtual.cf")
	os.WriteFile(cf, []byte("dbpath = "+dbpath+"\nquery = SELECT goto FROM alias WHERE address = '%s'\n"), 0o644)

	ctx := context.Background()
	opts := &lookup.OpenOptions{Types: map[string]lookup.OpenFunc{"sqlite": sqlite.Open}}
	tab, err := lookup.Open(ctx, "sqlite:"+cf, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lookup.Close(tab)
	v, found, err := tab.Lookup(ctx, "Sales@Example.COM")
	fmt.Println(v, found, err)
	// Output: ann@example.com,bob@example.com true <nil>
}
