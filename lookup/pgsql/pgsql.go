package pgsql

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/lookup/internal/dbcommon"
)

// Open opens a pgsql: table from its pgsql_table(5) file, name being the
// file's path. It is a lookup.OpenFunc: link it in with
// lookup.OpenOptions.Types or relay.LoadOptions.Types under "pgsql".
// No connection is made until the first lookup.
func Open(ctx context.Context, name string, o *lookup.OpenOptions) (lookup.Table, error) {
	return dbcommon.OpenTable(ctx, dbcommon.Driver{Type: "pgsql", Query: pgsqlQuery, Backend: newBackend}, name, o)
}

// pgsqlQuery is the query of the file: "query", else "SELECT
// select_function('%s')", else the one built from table, select_field,
// where_field and additional_conditions.
func pgsqlQuery(c *dbcommon.Config) (string, error) {
	if _, set := c.Lookup("query"); !set {
		if f := c.Str("select_function", ""); f != "" {
			return fmt.Sprintf("SELECT %s('%%s')", f), nil
		}
	}
	return c.SQLQuery()
}

// server is one PostgreSQL server of "hosts", with a pool of connections
// made when a lookup first needs one.
type server struct {
	dbcommon.Lazy[*pgxpool.Pool]
}

// Host ranks: the order Postfix tries them in.
const (
	rankUnix = iota
	rankInet
	rankURI
)

func newBackend(c *dbcommon.Config) (dbcommon.ClosingBackend, error) {
	name := c.Path()
	if enc := c.Str("encoding", "UTF8"); !strings.EqualFold(strings.ReplaceAll(enc, "-", ""), "UTF8") {
		return nil, fmt.Errorf("%s: encoding = %s is not supported: mxrelay's driver speaks UTF8 only", name, enc)
	}
	f, idle, err := c.Failover()
	if err != nil {
		return nil, err
	}
	for _, n := range dbcommon.HostList(c.Str("hosts", "")) {
		h, err := newHost(n, c, idle)
		if err != nil {
			return nil, fmt.Errorf("%s: hosts: %w", name, err)
		}
		f.Hosts = append(f.Hosts, h)
	}
	return f, nil
}

// newHost reads a hosts entry: a postgresql:// URI, "unix:/dir" or
// "/dir" (a socket directory), "inet:host:port", "host:port" or "host".
func newHost(n string, c *dbcommon.Config, idle time.Duration) (*dbcommon.Host, error) {
	h := &dbcommon.Host{Name: n}
	var connString string
	if u, err := url.Parse(n); err == nil && (u.Scheme == "postgresql" || u.Scheme == "postgres") {
		h.Rank, connString = rankURI, n
	} else {
		d := strings.TrimPrefix(strings.TrimPrefix(n, "unix:"), "inet:")
		kv := map[string]string{"host": d}
		if d != "" && d[0] != '/' {
			h.Rank = rankInet
			if i := strings.LastIndexByte(d, ':'); i >= 0 {
				kv["host"], kv["port"] = d[:i], d[i+1:]
			}
		}
		if c.Str("dbname", "") == "" {
			return nil, fmt.Errorf("host target %q requires dbname setting", n)
		}
		kv["dbname"], kv["user"], kv["password"] = c.Str("dbname", ""), c.Str("user", ""), c.Str("password", "")
		var parts []string
		for _, k := range []string{"host", "port", "dbname", "user", "password"} {
			if v, ok := kv[k]; ok && v != "" {
				parts = append(parts, k+"='"+strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v)+"'")
			}
		}
		connString = strings.Join(parts, " ")
	}
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", n, err)
	}
	cfg.ConnConfig.RuntimeParams["client_encoding"] = "UTF8"
	cfg.MaxConnIdleTime = idle // idle_interval
	cfg.MaxConns = 4
	cfg.MinConns = 0
	h.Server = &server{dbcommon.Lazy[*pgxpool.Pool]{
		New:  func() (*pgxpool.Pool, error) { return pgxpool.NewWithConfig(context.Background(), cfg) },
		Free: (*pgxpool.Pool).Close,
	}}
	return h, nil
}

// Query runs the query on one of the server's connections.
func (s *server) Query(ctx context.Context, build func(dbcommon.Quote) string) ([][]*string, error) {
	pool, err := s.Get()
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	q := build(quoter(conn.Conn().PgConn().ParameterStatus("standard_conforming_strings") == "on"))
	// The simple query protocol, as libpq's PQexec: the query text as
	// it is, results in text; of several statements the last answers.
	results, err := conn.Conn().PgConn().Exec(ctx, q).ReadAll()
	if err != nil {
		return nil, err
	}
	var out [][]*string
	if len(results) > 0 {
		for _, raw := range results[len(results)-1].Rows {
			row := make([]*string, len(raw))
			for i, v := range raw {
				if v != nil {
					s := string(v)
					row[i] = &s
				}
			}
			out = append(out, row)
		}
	}
	return out, nil
}

// quoter quotes as libpq's PQescapeStringConn, which Postfix uses: a
// single quote is doubled and, when the server does not have
// standard_conforming_strings on, so is a backslash. Keys are valid UTF-8
// without NUL (dbcommon.Table), so the encoding check of libpq never
// fails.
func quoter(standard bool) dbcommon.Quote {
	r := strings.NewReplacer(`'`, `''`)
	if !standard {
		r = strings.NewReplacer(`'`, `''`, `\`, `\\`)
	}
	return r.Replace
}
