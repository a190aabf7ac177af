package pgsql

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/lookup/internal/dbtest"
)

// testServer is the PostgreSQL server of the tests: .ci/run starts one and
// exports its URL in MXRELAY_TEST_POSTGRES. Without it the tests skip
// when CI is unset and fail when it is set.
type testServer struct {
	host, port, user, db string
}

// testDB creates a database of its own on the server, fills it with the
// tables of the tests, and drops it when the test ends.
func testDB(t testing.TB) testServer {
	t.Helper()
	u := dbtest.Server(t, "MXRELAY_TEST_POSTGRES", "PostgreSQL")
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("connect to %s: %v", u, err)
	}
	defer admin.Close(ctx)
	db := fmt.Sprintf("mxrelay_lookup_%d", rand.Uint32())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), u)
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE "+db+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	s := testServer{host: pu.Hostname(), port: pu.Port(), user: pu.User.Username(), db: db}
	du := *pu
	du.Path = "/" + db
	c, err := pgx.Connect(ctx, du.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for _, q := range []string{
		`CREATE TABLE users (address text, target text)`,
		`CREATE TABLE transport (domain text, nexthop text, active int)`,
		`CREATE FUNCTION lookup_user(text) RETURNS text AS $$ SELECT target FROM users WHERE address = $1 $$ LANGUAGE SQL`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, u := range dbtest.Users {
		target := &u.Target
		if u.Null {
			target = nil
		}
		if _, err := c.Exec(ctx, "INSERT INTO users VALUES ($1, $2)", u.Address, target); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range dbtest.Transports {
		if _, err := c.Exec(ctx, "INSERT INTO transport VALUES ($1, $2, $3)", r.Domain, r.Nexthop, r.Active); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// cf writes a pgsql_table(5) file for the server with the given lines.
func (s testServer) cf(t testing.TB, name string, lines ...string) string {
	t.Helper()
	conn := []string{fmt.Sprintf("hosts = inet:%s:%s", s.host, s.port), "user = " + s.user, "dbname = " + s.db}
	return dbtest.WriteCF(t, name, conn, lines...)
}

// open opens a pgsql: table as a program that links the type in does.
func open(t testing.TB, path string) lookup.Table { return dbtest.Open(t, "pgsql", Open, path) }

// TestAgainstPostmap asks postmap -q (Debian's postfix-pgsql) and our
// pgsql: tables the same keys on the same pgsql_table(5) files and the
// same server, and wants the same answers: % expansions, quoting,
// several results, result_format, domain, expansion_limit, the legacy
// and select_function queries, failover and a server that is down.
func TestAgainstPostmap(t *testing.T) {
	s := testDB(t)
	dead := dbtest.DeadAddr(t)
	cf := func(name string, lines ...string) string { return s.cf(t, name, lines...) }
	dbtest.Differential(t, "pgsql", Open, cf, map[string][]string{
		"function.cf": {"select_function = lookup_user"},
		"failover.cf": {fmt.Sprintf("hosts = inet:%s, inet:%s:%s", dead, s.host, s.port), "query = SELECT target FROM users WHERE address='%s'"},
	}, func(addr string) []string {
		return []string{"hosts = inet:" + addr, "query = SELECT target FROM users WHERE address='%s'"}
	})
}

// Non-ASCII keys and results travel as UTF-8, as in Postfix 3.8 and
// later; Postfix 3.7 sends them as LATIN1 (its client encoding is fixed),
// so that they never match UTF-8 data: a deliberate difference, not
// compared with postmap -q.
func TestUTF8(t *testing.T) {
	s := testDB(t)
	tab := open(t, s.cf(t, "users.cf", "query = SELECT target FROM users WHERE address='%s'", "result_format = %s/%S"))
	v, found, err := tab.Lookup(context.Background(), "Jürgen@Exämple.com")
	if v != "unicode/jürgen@exämple.com" || !found || err != nil {
		t.Errorf("Lookup = %q, %v, %v; want the UTF-8 row, found with the folded key", v, found, err)
	}
}

// A server that is down, or that accepts and never answers, is a
// Temporary error within the lookup bound, never "not found".
func TestDown(t *testing.T) {
	dbtest.CheckDown(t, "pgsql", Open, func(addr string) string {
		return "hosts = inet:" + addr + "\ndbname = x\nquery = SELECT '%s'\n"
	})
}

func TestOpenErrors(t *testing.T) {
	dbtest.OpenErrors(t, "pgsql", Open, map[string]string{
		"hosts = 127.0.0.1\nquery = SELECT 1\n":                  `host target "127.0.0.1" requires dbname setting`,
		"dbname = x\n":                                           "no query, and table, select_field, where_field not defined",
		"dbname = x\nquery = SELECT '%x'\n":                      "invalid query template",
		"dbname = x\nquery = SELECT 1\nresult_format = %q\n":     "invalid result template",
		"dbname = x\nquery = SELECT 1\nencoding = LATIN1\n":      "encoding = LATIN1 is not supported",
		"dbname = x\nquery = SELECT 1\nexpansion_limit = many\n": "bad numerical configuration: expansion_limit = many",
		"dbname = x\njunk line\n":                                "missing '=' after attribute name",
	})
}

// BenchmarkHit: a hit with a warm connection to the test server.
func BenchmarkHit(b *testing.B) {
	s := testDB(b)
	dbtest.BenchHit(b, "pgsql", Open, s.cf(b, "users.cf", "query = SELECT target FROM users WHERE address='%s'"), "bob@example.com")
}
