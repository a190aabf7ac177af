package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/mxrelay/mxrelay/internal/testenv"
	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/lookup/internal/dbtest"
)

// testDB writes a SQLite file with the data every database table type is
// tested on, and returns its path.
func testDB(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mail.sqlite")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE TABLE users (address text, target text)",
		"CREATE TABLE transport (domain text, nexthop text, active int)",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range dbtest.Users {
		if _, err := db.Exec("INSERT INTO users VALUES (?, ?)", u.Address, sql.NullString{String: u.Target, Valid: !u.Null}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range dbtest.Transports {
		if _, err := db.Exec("INSERT INTO transport VALUES (?, ?, ?)", r.Domain, r.Nexthop, r.Active); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// TestAgainstPostmap asks postmap -q (Debian's postfix-sqlite) and our
// sqlite: tables the same keys on the same sqlite_table(5) files and the
// same database file, and wants the same answers.
func TestAgainstPostmap(t *testing.T) {
	db := testDB(t)
	cf := func(name string, lines ...string) string {
		return dbtest.WriteCF(t, name, []string{"dbpath = " + db}, lines...)
	}
	dbtest.Differential(t, "sqlite", Open, cf, map[string][]string{
		"columns.cf": {"query = SELECT target, address FROM users WHERE address='%s'"}, // the first column only
		"numbers.cf": {"query = SELECT 42 UNION ALL SELECT 2.5 UNION ALL SELECT 1.0 UNION ALL SELECT '%s'"},
	}, nil)
}

// Non-ASCII keys and results, compared with postmap -q too.
func TestUTF8(t *testing.T) {
	postmap := testenv.NeedProgram(t, "postmap")
	p := dbtest.WriteCF(t, "users.cf", []string{"dbpath = " + testDB(t)}, "query = SELECT target FROM users WHERE address='%s'", "result_format = %s/%S")
	tab := dbtest.Open(t, "sqlite", Open, p)
	v, found, err := tab.Lookup(context.Background(), "Jürgen@Exämple.com")
	if v != "unicode/jürgen@exämple.com" || !found || err != nil {
		t.Errorf("Lookup = %q, %v, %v; want the UTF-8 row, found with the folded key", v, found, err)
	}
	dbtest.Compare(t, postmap, testenv.PostfixEnv(t), "sqlite:"+p, tab, []string{"jürgen@exämple.com"})
}

func TestOpenErrors(t *testing.T) {
	dbtest.OpenErrors(t, "sqlite", Open, map[string]string{
		"query = SELECT 1\n": "dbpath is not set",
		"dbpath = /nonexistent/mail.sqlite\nquery = SELECT 1\n": "open database /nonexistent/mail.sqlite",
		"dbpath = /dev/null\nquery = SELECT '%x'\n":             "invalid query template",
	})
}

// The file is opened read-only, as Postfix opens it: a query that writes
// fails (a Temporary error), and the file is unchanged.
func TestReadOnly(t *testing.T) {
	db := testDB(t)
	p := dbtest.WriteCF(t, "w.cf", []string{"dbpath = " + db}, "query = DELETE FROM users RETURNING target")
	tab := dbtest.Open(t, "sqlite", Open, p)
	if _, _, err := tab.Lookup(context.Background(), "bob@example.com"); lookup.KindOf(err) != lookup.Temporary {
		t.Errorf("a writing query: %v; want a Temporary error", err)
	}
	check := dbtest.Open(t, "sqlite", Open, dbtest.WriteCF(t, "r.cf", []string{"dbpath = " + db}, "query = SELECT count(*) FROM users"))
	if v, _, _ := check.Lookup(context.Background(), "x"); v != "12" {
		t.Errorf("rows after the writing query: %q, want 12", v)
	}
}

// BenchmarkHit: a hit on the test database file, opened.
func BenchmarkHit(b *testing.B) {
	p := dbtest.WriteCF(b, "users.cf", []string{"dbpath = " + testDB(b)}, "query = SELECT target FROM users WHERE address='%s'")
	dbtest.BenchHit(b, "sqlite", Open, p, "bob@example.com")
}
