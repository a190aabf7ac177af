package pgsql

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
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
	spec := "pgsql:" + name
	c, err := dbcommon.ReadConfig("pgsql", name)
	if err != nil {
		return nil, err
	}
	query, err := pgsqlQuery(c)
	if err != nil {
		return nil, err
	}
	s, err := c.Settings(ctx, spec, query, o)
	if err != nil {
		return nil, err
	}
	b, err := newBackend(c, name)
	if err != nil {
		return nil, err
	}
	return &Table{Table: dbcommon.Table{Settings: s, Backend: b}, backend: b}, nil
}

// Table is a pgsql: table. Close it to close its connections.
type Table struct {
	dbcommon.Table
	backend *backend
}

// Close closes the table's connections.
func (t *Table) Close() error {
	t.backend.close()
	return nil
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

// host is one entry of "hosts".
type host struct {
	name    string // as written, for messages
	kind    int    // hostUnix, hostInet, hostURI: the order Postfix tries them in
	cfg     *pgxpool.Config
	mu      sync.Mutex
	pool    *pgxpool.Pool
	active  bool      // the last query succeeded
	downTil time.Time // after a failure: skipped until then (retry_interval)
}

const (
	hostUnix = iota
	hostInet
	hostURI
)

// backend runs queries on the first host that answers, as Postfix's
// dict_pgsql.c: hosts with a working connection first, then the others
// (UNIX sockets, then TCP, then URIs; at random among equals); a host that
// fails is skipped for retry_interval.
type backend struct {
	hosts []*host
	retry time.Duration
	now   func() time.Time
}

func newBackend(c *dbcommon.Config, name string) (*backend, error) {
	if enc := c.Str("encoding", "UTF8"); !strings.EqualFold(strings.ReplaceAll(enc, "-", ""), "UTF8") {
		return nil, fmt.Errorf("%s: encoding = %s is not supported: mxrelay's driver speaks UTF8 only", name, enc)
	}
	retry, err := c.Int("retry_interval", 60, 1)
	if err != nil {
		return nil, err
	}
	idle, err := c.Int("idle_interval", 60, 1)
	if err != nil {
		return nil, err
	}
	names := strings.FieldsFunc(c.Str("hosts", ""), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n' })
	if len(names) == 0 {
		names = []string{"localhost"}
	}
	b := &backend{retry: time.Duration(retry) * time.Second, now: time.Now}
	for _, n := range names {
		h, err := newHost(n, c, time.Duration(idle)*time.Second)
		if err != nil {
			return nil, fmt.Errorf("%s: hosts: %w", name, err)
		}
		b.hosts = append(b.hosts, h)
	}
	if len(b.hosts) == 1 {
		// As Postfix: one host is tried twice, so that a connection the
		// server closed is replaced at once ("don't blacklist the load
		// balancer").
		h2, _ := newHost(names[0], c, time.Duration(idle)*time.Second)
		b.hosts = append(b.hosts, h2)
	}
	return b, nil
}

// newHost reads a hosts entry: a postgresql:// URI, "unix:/dir" or
// "/dir" (a socket directory), "inet:host:port", "host:port" or "host".
func newHost(n string, c *dbcommon.Config, idle time.Duration) (*host, error) {
	h := &host{name: n}
	var connString string
	if u, err := url.Parse(n); err == nil && (u.Scheme == "postgresql" || u.Scheme == "postgres") {
		h.kind, connString = hostURI, n
	} else {
		d := strings.TrimPrefix(strings.TrimPrefix(n, "unix:"), "inet:")
		kv := map[string]string{"host": d}
		if d != "" && d[0] != '/' {
			h.kind = hostInet
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
	h.cfg = cfg
	return h, nil
}

// order returns the hosts to try, in Postfix's order.
func (b *backend) order() []*host {
	now := b.now()
	var active, other []*host
	for _, h := range b.hosts {
		h.mu.Lock()
		switch {
		case h.active:
			active = append(active, h)
		case !now.Before(h.downTil):
			other = append(other, h)
		}
		h.mu.Unlock()
	}
	byKind := func(hs []*host) []*host {
		rand.Shuffle(len(hs), func(i, j int) { hs[i], hs[j] = hs[j], hs[i] })
		slices.SortStableFunc(hs, func(a, b *host) int { return a.kind - b.kind })
		return hs
	}
	return append(byKind(active), byKind(other)...)
}

// errAllDown is the cause when no host could answer.
var errAllDown = errors.New("no pgsql server answered")

// Query runs the query on the first host that answers.
func (b *backend) Query(ctx context.Context, build func(dbcommon.Quote) string) ([][]*string, error) {
	hosts := b.order()
	var errs []error
	for i, h := range hosts {
		actx, cancel := attemptContext(ctx, len(hosts)-i)
		rows, err := h.query(actx, build)
		cancel()
		if err == nil {
			return rows, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", h.name, err))
		h.down(b.now().Add(b.retry))
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%w: every host failed within retry_interval", errAllDown)
	}
	return nil, fmt.Errorf("%w: %w", errAllDown, errors.Join(errs...))
}

// attemptContext gives one host its share of the time left, so that a
// host that does not answer leaves time for the next ones.
func attemptContext(ctx context.Context, left int) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && left > 1 {
		return context.WithTimeout(ctx, time.Until(d)/time.Duration(left))
	}
	return context.WithCancel(ctx)
}

func (h *host) query(ctx context.Context, build func(dbcommon.Quote) string) ([][]*string, error) {
	h.mu.Lock()
	if h.pool == nil {
		p, err := pgxpool.NewWithConfig(context.Background(), h.cfg)
		if err != nil {
			h.mu.Unlock()
			return nil, err
		}
		h.pool = p
	}
	pool := h.pool
	h.mu.Unlock()
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
	h.mu.Lock()
	h.active = true
	h.mu.Unlock()
	return out, nil
}

// down marks the host failed until t and drops its connections.
func (h *host) down(t time.Time) {
	h.mu.Lock()
	p := h.pool
	h.pool, h.active, h.downTil = nil, false, t
	h.mu.Unlock()
	if p != nil {
		go p.Close() // waits for connections in use; never blocks the lookup
	}
}

func (b *backend) close() {
	for _, h := range b.hosts {
		h.mu.Lock()
		p := h.pool
		h.pool = nil
		h.mu.Unlock()
		if p != nil {
			p.Close()
		}
	}
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
