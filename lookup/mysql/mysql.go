package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/lookup/internal/dbcommon"
)

// Open opens a mysql: table from its mysql_table(5) file, name being the
// file's path. It is a lookup.OpenFunc: link it in with
// lookup.OpenOptions.Types or relay.LoadOptions.Types under "mysql".
// No connection is made until the first lookup.
func Open(ctx context.Context, name string, o *lookup.OpenOptions) (lookup.Table, error) {
	hosts := func(c *dbcommon.Config) (dbcommon.ClosingBackend, error) { return newHosts(c, logger(o)) }
	return dbcommon.OpenTable(ctx, dbcommon.Driver{Type: "mysql", Query: (*dbcommon.Config).SQLQuery, Backend: hosts}, name, o)
}

// newHosts reads the connection settings of the file.
func newHosts(c *dbcommon.Config, log *slog.Logger) (*dbcommon.Failover, error) {
	name := c.Path()
	// Settings Postfix honours that this driver does not: refused, so
	// that a connection is never made otherwise than configured.
	if err := c.Refuse("option_file", "option_group", "tls_ciphers"); err != nil {
		return nil, err
	}
	var err error
	tlsFiles := dbcommon.TLSFiles{CAFile: c.Str("tls_CAfile", ""), CADir: c.Str("tls_CApath", ""), CertFile: c.Str("tls_cert_file", ""), KeyFile: c.Str("tls_key_file", "")}
	useTLS := tlsFiles != (dbcommon.TLSFiles{})
	_, verifySet := c.Lookup("tls_verify_cert")
	if tlsFiles.Verify, err = c.Bool("tls_verify_cert", false); err != nil {
		return nil, err
	}
	if cs := c.Str("charset", "utf8mb4"); !strings.EqualFold(cs, "utf8mb4") {
		return nil, fmt.Errorf("%s: charset = %s is not supported: only utf8mb4", name, cs)
	}
	if c.Str("dbname", "") == "" {
		return nil, fmt.Errorf("%s: dbname is not set", name)
	}
	requireResultSet, err := c.Bool("require_result_set", true)
	if err != nil {
		return nil, err
	}
	f, idle, err := c.Failover()
	if err != nil {
		return nil, err
	}
	for _, n := range dbcommon.HostList(c.Str("hosts", "")) {
		cfg := driver.NewConfig()
		cfg.User, cfg.Passwd, cfg.DBName = c.Str("user", ""), c.Str("password", ""), c.Str("dbname", "")
		rank := 0
		if cfg.Net, cfg.Addr, rank, err = hostAddress(n); err != nil {
			return nil, fmt.Errorf("%s: hosts: %w", name, err)
		}
		cfg.Collation = "utf8mb4_general_ci"
		cfg.Logger = driverLog{log, "mysql:" + name}
		cfg.MultiStatements = true // CLIENT_MULTI_RESULTS, as Postfix connects
		if useTLS || verifySet {
			// As Postfix with libmariadb: TLS files turn TLS on;
			// tls_verify_cert = yes verifies the server's certificate
			// and name, = no allows a server without TLS.
			host, _, _ := net.SplitHostPort(cfg.Addr)
			if cfg.TLS, err = tlsFiles.Config(host); err != nil {
				return nil, fmt.Errorf("%s: TLS: %w", name, err)
			}
			cfg.AllowFallbackToPlaintext = verifySet && !tlsFiles.Verify
		}
		srv := newServer(cfg, idle, requireResultSet)
		f.Hosts = append(f.Hosts, &dbcommon.Host{Name: n, Rank: rank, Server: srv})
	}
	return f, nil
}

// driverLog sends the driver's complaints to the table's logger.
type driverLog struct {
	log  *slog.Logger
	spec string
}

func (d driverLog) Print(v ...any) { d.log.Warn(fmt.Sprint(v...), "table", d.spec) }

func logger(o *lookup.OpenOptions) *slog.Logger {
	if o == nil || o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// debianSocket is where Debian's MariaDB and MySQL listen, and where
// libmariadb connects for "localhost".
const debianSocket = "/run/mysqld/mysqld.sock"

// hostAddress reads a hosts entry as Postfix's dict_mysql.c: "unix:/path",
// or "inet:host:port" where "inet:" and ":port" are optional; "localhost"
// is the server's UNIX socket, as libmysqlclient makes it.
func hostAddress(n string) (network, addr string, rank int, err error) {
	if p, ok := strings.CutPrefix(n, "unix:"); ok {
		return "unix", p, 0, nil
	}
	d := strings.TrimPrefix(n, "inet:")
	host, port := d, "3306"
	if i := strings.LastIndexByte(d, ':'); i >= 0 {
		host, port = d[:i], d[i+1:]
		if _, err := net.LookupPort("tcp", port); err != nil {
			return "", "", 0, fmt.Errorf("unknown service: %s/tcp", port)
		}
	}
	if strings.EqualFold(host, "localhost") {
		return "unix", debianSocket, 0, nil
	}
	return "tcp", net.JoinHostPort(host, port), 1, nil
}

// server is one MySQL or MariaDB server of "hosts".
type server struct {
	dbcommon.Lazy[*pool]
	requireResultSet bool
}

// pool is a server's connections, and what they know of its sql_mode.
type pool struct {
	db          *sql.DB
	mu          sync.Mutex
	noBackslash bool // the server's sql_mode has NO_BACKSLASH_ESCAPES
	modeChecked bool
}

func newServer(cfg *driver.Config, idle time.Duration, requireResultSet bool) *server {
	return &server{
		Lazy: dbcommon.Lazy[*pool]{
			New: func() (*pool, error) {
				conn, err := driver.NewConnector(cfg)
				if err != nil {
					return nil, err
				}
				db := sql.OpenDB(conn)
				db.SetConnMaxIdleTime(idle) // idle_interval
				db.SetMaxOpenConns(4)
				return &pool{db: db}, nil
			},
			Free: func(p *pool) { p.db.Close() },
		},
		requireResultSet: requireResultSet,
	}
}

// Query runs the query with the text protocol, as mysql_query: the first
// result set answers; a second one that returns rows, or none at all with
// require_result_set, is an error, as in Postfix.
func (s *server) Query(ctx context.Context, build func(dbcommon.Quote) string) ([][]*string, error) {
	p, err := s.Get()
	if err != nil {
		return nil, err
	}
	conn, err := p.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	noBackslash, err := p.sqlMode(ctx, conn)
	if err != nil {
		return nil, err
	}
	rows, err := conn.QueryContext(ctx, build(quoter(noBackslash)))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]*string
	sets := 0
	for {
		cols, err := rows.Columns()
		if err != nil {
			return nil, err
		}
		if len(cols) > 0 {
			sets++
			if sets > 1 {
				return nil, fmt.Errorf("query failed: multiple result sets returning data are not supported")
			}
			for rows.Next() {
				vals := make([]sql.NullString, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					return nil, err
				}
				row := make([]*string, len(cols))
				for i, v := range vals {
					if v.Valid {
						row[i] = &v.String
					}
				}
				out = append(out, row)
			}
		}
		if !rows.NextResultSet() {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if sets == 0 && s.requireResultSet {
		return nil, fmt.Errorf("query failed: query returned no result set (require_result_set = yes)")
	}
	return out, nil
}

// sqlMode tells whether the server's sql_mode has NO_BACKSLASH_ESCAPES,
// which changes how mysql_real_escape_string quotes; asked once per pool.
func (p *pool) sqlMode(ctx context.Context, conn *sql.Conn) (bool, error) {
	p.mu.Lock()
	if p.modeChecked {
		defer p.mu.Unlock()
		return p.noBackslash, nil
	}
	p.mu.Unlock()
	var mode string
	if err := conn.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode").Scan(&mode); err != nil {
		return false, err
	}
	nb := strings.Contains(","+strings.ToUpper(mode)+",", ",NO_BACKSLASH_ESCAPES,")
	p.mu.Lock()
	p.noBackslash, p.modeChecked = nb, true
	p.mu.Unlock()
	return nb, nil
}

// quoter quotes as mysql_real_escape_string, which Postfix uses: NUL, \n,
// \r, \, ', " and Ctrl-Z get a backslash; with NO_BACKSLASH_ESCAPES a
// single quote is doubled instead and nothing else changes.
func quoter(noBackslash bool) dbcommon.Quote {
	if noBackslash {
		return strings.NewReplacer(`'`, `''`).Replace
	}
	return strings.NewReplacer("\x00", `\0`, "\n", `\n`, "\r", `\r`, `\`, `\\`, `'`, `\'`, `"`, `\"`, "\x1a", `\Z`).Replace
}
