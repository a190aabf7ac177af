package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"

	driver "github.com/go-sql-driver/mysql"

	"github.com/mxrelay/mxrelay/internal/testenv"
	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/lookup/internal/dbtest"
)

// testServer is the MariaDB server of the tests: .ci/run starts one and
// exports "user:password@host:port" in MXRELAY_TEST_MYSQL.
type testServer struct {
	user, password, host, port, db string
}

// testDB creates a database of its own on the server, fills it with the
// data every database table type is tested on, and drops it at the end.
func testDB(t testing.TB) testServer {
	t.Helper()
	v := dbtest.Server(t, "MXRELAY_TEST_MYSQL", "MariaDB")
	cred, addr, ok := strings.Cut(v, "@")
	if !ok {
		t.Fatalf("MXRELAY_TEST_MYSQL = %q: want user:password@host:port", v)
	}
	s := testServer{db: fmt.Sprintf("mxrelay_lookup_%d", rand.Uint32())}
	s.user, s.password, _ = strings.Cut(cred, ":")
	var err error
	if s.host, s.port, err = net.SplitHostPort(addr); err != nil {
		t.Fatal(err)
	}
	cfg := driver.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = s.user, s.password, "tcp", addr
	conn, err := driver.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	admin := sql.OpenDB(conn)
	defer admin.Close()
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+s.db+" CHARACTER SET utf8mb4"); err != nil {
		t.Fatalf("MariaDB at %s: %v", addr, err)
	}
	t.Cleanup(func() {
		conn, _ := driver.NewConnector(cfg)
		db := sql.OpenDB(conn)
		db.Exec("DROP DATABASE " + s.db)
		db.Close()
	})
	for _, q := range []string{
		"CREATE TABLE " + s.db + ".users (address varchar(255), target varchar(255))",
		"CREATE TABLE " + s.db + ".transport (domain varchar(255), nexthop varchar(255), active int)",
	} {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, u := range dbtest.Users {
		target := sql.NullString{String: u.Target, Valid: !u.Null}
		if _, err := admin.ExecContext(ctx, "INSERT INTO "+s.db+".users VALUES (?, ?)", u.Address, target); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range dbtest.Transports {
		if _, err := admin.ExecContext(ctx, "INSERT INTO "+s.db+".transport VALUES (?, ?, ?)", r.Domain, r.Nexthop, r.Active); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// cf writes a mysql_table(5) file for the server with the given lines.
func (s testServer) cf(t testing.TB, name string, lines ...string) string {
	t.Helper()
	conn := []string{fmt.Sprintf("hosts = inet:%s:%s", s.host, s.port), "user = " + s.user, "password = " + s.password, "dbname = " + s.db}
	return dbtest.WriteCF(t, name, conn, lines...)
}

// open opens a mysql: table as a program that links the type in does.
func open(t testing.TB, path string) lookup.Table { return dbtest.Open(t, "mysql", Open, path) }

// TestAgainstPostmap asks postmap -q (Debian's postfix-mysql) and our
// mysql: tables the same keys on the same mysql_table(5) files and the
// same MariaDB server, and wants the same answers.
func TestAgainstPostmap(t *testing.T) {
	s := testDB(t)
	dead := dbtest.DeadAddr(t)
	cf := func(name string, lines ...string) string { return s.cf(t, name, lines...) }
	dbtest.Differential(t, "mysql", Open, cf, map[string][]string{
		"failover.cf":    {fmt.Sprintf("hosts = inet:%s, inet:%s:%s", dead, s.host, s.port), "query = SELECT target FROM users WHERE address='%s'"},
		"noresult.cf":    {"query = DO '%s'"},
		"noresult-ok.cf": {"query = DO '%s'", "require_result_set = no"},
	}, func(addr string) []string {
		return []string{"hosts = inet:" + addr, "query = SELECT target FROM users WHERE address='%s'"}
	})
}

// A server that is down, or that accepts and never answers, is a
// Temporary error within the lookup bound, never "not found".
func TestDown(t *testing.T) {
	dbtest.CheckDown(t, "mysql", Open, func(addr string) string {
		return "hosts = inet:" + addr + "\ndbname = x\nquery = SELECT '%s'\n"
	})
}

func TestOpenErrors(t *testing.T) {
	dbtest.OpenErrors(t, "mysql", Open, map[string]string{
		"query = SELECT 1\n": "dbname is not set",
		"dbname = x\nquery = SELECT 1\ntls_CAfile = /nonexistent/ca.pem\n": "TLS: open /nonexistent/ca.pem",
		"dbname = x\nquery = SELECT 1\ntls_ciphers = HIGH\n":               "tls_ciphers is not supported",
		"dbname = x\nquery = SELECT 1\noption_file = /etc/my.cnf\n":        "option_file is not supported",
		"dbname = x\nquery = SELECT 1\ncharset = latin1\n":                 "charset = latin1 is not supported",
		"dbname = x\nquery = SELECT 1\nrequire_result_set = maybe\n":       "bad boolean configuration",
		"dbname = x\nquery = SELECT 1\nhosts = db:nosuchservice\n":         "unknown service: nosuchservice/tcp",
	})
}

// mysql_real_escape_string's quoting, and the NO_BACKSLASH_ESCAPES one.
func TestQuoter(t *testing.T) {
	if got := quoter(false)("a'b\"c\\d\x00e\nf\rg\x1ah"); got != `a\'b\"c\\d\0e\nf\rg\Zh` {
		t.Errorf("quoter(false) = %q", got)
	}
	if got := quoter(true)(`a'b\c"`); got != `a''b\c"` {
		t.Errorf("quoter(true) = %q", got)
	}
}

// Non-ASCII keys and results, compared with postmap -q too.
func TestUTF8(t *testing.T) {
	postmap := testenv.NeedProgram(t, "postmap")
	s := testDB(t)
	p := s.cf(t, "users.cf", "query = SELECT target FROM users WHERE address='%s'", "result_format = %s/%S")
	tab := open(t, p)
	v, found, err := tab.Lookup(context.Background(), "Jürgen@Exämple.com")
	if v != "unicode/jürgen@exämple.com" || !found || err != nil {
		t.Errorf("Lookup = %q, %v, %v; want the UTF-8 row, found with the folded key", v, found, err)
	}
	dbtest.Compare(t, postmap, testenv.PostfixEnv(t), "mysql:"+p, tab, []string{"jürgen@exämple.com"})
}

// BenchmarkHit: a hit with a warm connection to the test server.
func BenchmarkHit(b *testing.B) {
	s := testDB(b)
	dbtest.BenchHit(b, "mysql", Open, s.cf(b, "users.cf", "query = SELECT target FROM users WHERE address='%s'"), "bob@example.com")
}

// TLS as Postfix's mysql_table(5) sets it up, against a user that the
// server admits over TLS only (.ci/run: mxtls, REQUIRE SSL; the server's
// CA in MXRELAY_TEST_MYSQL_CA), compared with postmap -q: the CA and
// tls_verify_cert = yes connect; no TLS, or a CA that did not sign the
// server's certificate, fail (a Temporary error).
func TestTLS(t *testing.T) {
	ca := dbtest.Server(t, "MXRELAY_TEST_MYSQL_CA", "MariaDB with TLS")
	s := testDB(t)
	other := dbtest.OtherCA(t)
	tlsUser := testServer{user: "mxtls", password: "tls-secret", host: s.host, port: s.port, db: s.db}
	cf := func(name string, lines ...string) string { return tlsUser.cf(t, name, lines...) }
	query := "query = SELECT target FROM users WHERE address='%s'"
	dbtest.DifferentialKeys(t, "mysql", Open, cf, map[string][]string{
		"verify.cf":   {query, "tls_CAfile = " + ca, "tls_verify_cert = yes"},
		"ca-only.cf":  {query, "tls_CAfile = " + ca},
		"plain.cf":    {query},
		"wrong-ca.cf": {query, "tls_CAfile = " + other, "tls_verify_cert = yes"},
	}, []string{"bob@example.com", "nobody@example.com"}, nil)
}
