// Package dbtest holds what the tests of the database table types share:
// the same data in every server, the same table files and keys, and the
// comparison with postmap -q.
package dbtest

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/internal/testenv"
	"github.com/mxrelay/mxrelay/lookup"
)

// Server returns the address of a test server from the environment
// variable that .ci/run exports: without it the test skips when CI is
// unset and fails when it is set.
func Server(t testing.TB, env, what string) string {
	t.Helper()
	return testenv.NeedEnv(t, env, what)
}

// Users are the rows of "users (address, target)"; Target "" stands for
// NULL when Null is set.
var Users = []struct {
	Address, Target string
	Null            bool
}{
	{"bob@example.com", "bob@mailbox.example", false},
	{"multi@example.com", "a@x.example", false},
	{"multi@example.com", "b@x.example", false},
	{"multi@example.com", "plain", false},
	{"o'brien@example.com", "quoted", false},
	{`back\slash@example.com`, "backslash", false},
	{`dq"uote@example.com`, "double-quote", false},
	{"nullval@example.com", "", true},
	{"nullval@example.com", "after-null", false},
	{"empty@example.com", "", false},
	{"jürgen@exämple.com", "unicode", false},
	{"bob", "no-domain", false},
}

// Transports are the rows of "transport (domain, nexthop, active)".
var Transports = []struct {
	Domain, Nexthop string
	Active          int
}{
	{"example.com", "smtp:[relay.example.com]", 1},
	{"example.org", "smtp:[relay.example.org]", 0},
}

// Keys are asked of every table of the differential tests: %-expansions,
// keys that need quoting, folding, domain filtering.
var Keys = []string{
	"bob@example.com", "BOB@Example.COM", "multi@example.com", "o'brien@example.com",
	`back\slash@example.com`, `dq"uote@example.com`, "nullval@example.com", "empty@example.com",
	"nobody@example.com", "bob", "@example.com", "user@", "a@b.c.d.example.com",
	"x'; DROP TABLE users; --@example.com", "example.com", "example.org",
	"blocked@blocked.example.com",
}

// Queries are the query settings of the differential tests, by file
// name, in SQL that PostgreSQL, MariaDB and SQLite read alike.
var Queries = map[string][]string{
	"users.cf":    {"query = SELECT target FROM users WHERE address='%s'"},
	"parts.cf":    {"query = SELECT '%%|%s|%u|%d|%S|%U|%D'"},
	"labels.cf":   {"query = SELECT '%1|%2|%3'"},
	"result.cf":   {"query = SELECT target FROM users WHERE address='%s'", "result_format = <%s> %u at %d for %U@%D"},
	"limit.cf":    {"query = SELECT target FROM users WHERE address='%s'", "expansion_limit = 2"},
	"domain.cf":   {"query = SELECT '%s'", "result_format = hit:%s", "domain = example.com, !blocked.example.com, exämple.com"},
	"legacy.cf":   {"table = transport", "select_field = nexthop", "where_field = domain", "additional_conditions = AND active = 1"},
	"badquery.cf": {"query = SELECT nosuchcolumn FROM users WHERE address='%s'"},
}

// DeadAddr returns a loopback address where nothing listens.
func DeadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Compare asks postmap -q and tab every key, and reports where they
// differ; a failed lookup must be Temporary (4xx).
func Compare(t *testing.T, postmap string, env []string, spec string, tab lookup.Table, keys []string) {
	t.Helper()
	for _, k := range keys {
		want := testenv.PostmapQuery(t, postmap, env, spec, k)
		v, found, err := tab.Lookup(context.Background(), k)
		got := testenv.Answer{Value: v, Found: found, Failed: err != nil}
		if got != want {
			t.Errorf("%s, key %q: we answer %+v (%v), postmap -q %+v", spec, k, got, err, want)
		}
		if err != nil && lookup.KindOf(err) != lookup.Temporary {
			t.Errorf("%s, key %q: error %v is not Temporary", spec, k, err)
		}
	}
}

// SilentAddr returns a loopback address where a server accepts
// connections and never answers, until the test ends.
func SilentAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range conns {
					c.Close()
				}
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// CheckDown opens a table of type typ whose only host is down, then one
// whose host accepts and never answers, and wants a Temporary error from
// each within the lookup bound (never "not found"). file returns the
// table file's text for a host address.
func CheckDown(t *testing.T, typ string, open lookup.OpenFunc, file func(addr string) string) {
	t.Helper()
	for _, addr := range []string{DeadAddr(t), SilentAddr(t)} {
		p := filepath.Join(t.TempDir(), "down.cf")
		if err := os.WriteFile(p, []byte(file(addr)), 0o644); err != nil {
			t.Fatal(err)
		}
		o := &lookup.OpenOptions{Types: map[string]lookup.OpenFunc{typ: open}, LookupTimeout: 300 * time.Millisecond}
		tab, err := lookup.Open(context.Background(), typ+":"+p, o)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, found, err := tab.Lookup(context.Background(), "bob@example.com")
		if d := time.Since(start); found || lookup.KindOf(err) != lookup.Temporary || d > 3*time.Second {
			t.Errorf("server at %s: found %v, error %v after %v; want a Temporary error within about 300ms", addr, found, err, d)
		}
		lookup.Close(tab)
	}
}

// Open opens a table of type typ as a program that links the type in
// does, and closes it when the test ends.
func Open(t testing.TB, typ string, open lookup.OpenFunc, path string) lookup.Table {
	t.Helper()
	tab, err := lookup.Open(context.Background(), typ+":"+path, &lookup.OpenOptions{Types: map[string]lookup.OpenFunc{typ: open}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lookup.Close(tab) })
	return tab
}

// Differential writes the files of Queries and extra with cf (which adds
// the server's connection settings), and compares every key of Keys on
// each with postmap -q; then a file whose only host is down
// (downLines(addr)) on one key.
func Differential(t *testing.T, typ string, open lookup.OpenFunc, cf func(name string, lines ...string) string, extra map[string][]string, downLines func(addr string) []string) {
	t.Helper()
	files := maps.Clone(Queries)
	maps.Copy(files, extra)
	DifferentialKeys(t, typ, open, cf, files, Keys, downLines)
}

// DifferentialKeys is Differential with the files and keys given.
func DifferentialKeys(t *testing.T, typ string, open lookup.OpenFunc, cf func(name string, lines ...string) string, files map[string][]string, keys []string, downLines func(addr string) []string) {
	t.Helper()
	postmap := testenv.NeedProgram(t, "postmap")
	env := testenv.PostfixEnv(t)
	for name, lines := range files {
		path := cf(name, lines...)
		Compare(t, postmap, env, typ+":"+path, Open(t, typ, open, path), keys)
	}
	if downLines != nil {
		path := cf("down.cf", downLines(DeadAddr(t))...)
		Compare(t, postmap, env, typ+":"+path, Open(t, typ, open, path), []string{"bob@example.com"})
	}
}

// WriteCF writes a table file named name in a temporary directory: the
// connection settings conn, then lines; a "hosts =" line among lines
// replaces the one of conn.
func WriteCF(t testing.TB, name string, conn []string, lines ...string) string {
	t.Helper()
	var text string
	override := slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "hosts =") })
	for _, l := range conn {
		if !(override && strings.HasPrefix(l, "hosts =")) {
			text += l + "\n"
		}
	}
	for _, l := range lines {
		text += l + "\n"
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// OpenErrors opens tables of type typ from files with the texts of cases
// and wants a Config error saying cases[text] for each; also from a name
// that is not a path (main.cf style) and from a missing file.
func OpenErrors(t *testing.T, typ string, open lookup.OpenFunc, cases map[string]string) {
	t.Helper()
	dir := t.TempDir()
	specs := map[string]string{
		typ + ":" + typ + "users":                    "configuration in main.cf parameters (" + typ + "users_...) is not supported",
		typ + ":" + filepath.Join(dir, "missing.cf"): "no such file",
	}
	i := 0
	for text, want := range cases {
		i++
		p := filepath.Join(dir, fmt.Sprintf("%d.cf", i))
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		specs[typ+":"+p] = want
	}
	o := &lookup.OpenOptions{Types: map[string]lookup.OpenFunc{typ: open}}
	for spec, want := range specs {
		_, err := lookup.Open(context.Background(), spec, o)
		if err == nil || !strings.Contains(err.Error(), want) || lookup.KindOf(err) != lookup.Config {
			t.Errorf("Open(%s) = %v; want a Config error saying %q", spec, err, want)
		}
	}
}

// BenchHit measures a hit on a table of type typ, its connection warm
// (opened by a first lookup).
func BenchHit(b *testing.B, typ string, open lookup.OpenFunc, path, key string) {
	ctx := context.Background()
	tab := Open(b, typ, open, path)
	if _, ok, err := tab.Lookup(ctx, key); !ok || err != nil {
		b.Fatalf("warm-up lookup: %v, %v", ok, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, ok, err := tab.Lookup(ctx, key); !ok || err != nil {
			b.Fatalf("lookup: %v, %v", ok, err)
		}
	}
}

// OtherCA writes a CA certificate that signed nothing the tests use, and
// returns its path: a table that trusts it must fail to connect.
func OtherCA(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(p, []byte(otherCA), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// otherCA is a CA certificate that signed nothing the tests use.
const otherCA = `-----BEGIN CERTIFICATE-----
MIIDBzCCAe+gAwIBAgIUZqwcgLyBBQFTAkgIv++WGGZRdTwwDQYJKoZIhvcNAQEL
BQAwEzERMA8GA1UEAwwIb3RoZXIgQ0EwHhcNMjYxMjA3MDEzNTMxWhcNMzYxMjA0
MDEzNTMxWjATMREwDwYDVQQDDAhvdGhlciBDQTCCASIwDQYJKoZIhvcNAQEBBQAD
ggEPADCCAQoCggEBAOhoSMian9PU6nU/5PKif0FwHHWHNK5CvIXJGd+xWNjqp06C
RHFEfMt7Nb55EAV5pEZoQQeEooYQxf9B0VeY4pyd3FYzX3qq405QMNS/rOtFKZOA
hKn4MWicP6m2FsS0Avj1QU0xU5gVPpvEXwku0dp7Z4bSP+guewxxxSPD3rFmPsXX
57B3dbD3tyvB7OKaEtpD+sO70ibBg/ozY9tloGHTB26MACMqy/v1XyArTEDxEG2c
tNo0Gj2oRcZ+B83+HQz7VPT+HyHkjy1NDAOiEp2QRXtqB3XNMS9VxoXnPbXIO609
d9/UjI3FPO6mXLxcRD5oKcClSmL5MdQW4yGeM7ECAwEAAaNTMFEwHQYDVR0OBBYE
FPkp6AdRCgizD0mBHXYYA5xzRiOBMB8GA1UdIwQYMBaAFPkp6AdRCgizD0mBHXYY
A5xzRiOBMA8GA1UdEwEB/wQFMAMBAf8wDQYJKoZIhvcNAQELBQADggEBALQ4D8fl
u6AJgWLXQlIRtStdHmjZJdQIp4h+rJ48x6bErB3iBSdNuQdAdwkOB3Qr3qrs3Jo9
rqbtsK9ULpUFiPm6fzWNS3CwPhDlLdwqCUU7NILm1d7oXXJZNvKVBPygflbob9nB
3cjH0woNH1Isva3VvhdphqecWKXgqHrzz1i1lmV+qhQU8NzlqYCHVZtPeEnXuuAt
JfCdKHwDP66JsGPs3vJcUAydNjcxcCNjOjkNQ//c2CJ1LW0IjZwzEQyeuOVBjmT8
HXb52EcgEbwgqIIKgY6wJwsHla6YuTFfR6nhVsIo1upDrpjHFqH1CPE6Uqhw2WPl
+3luxIzCwRICQsM=
-----END CERTIFICATE-----
`
