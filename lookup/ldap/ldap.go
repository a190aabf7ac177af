package ldap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	ldap "github.com/go-ldap/ldap/v3"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/lookup/internal/dbcommon"
)

// Open opens an ldap: table from its ldap_table(5) file, name being the
// file's path. It is a lookup.OpenFunc: link it in with
// lookup.OpenOptions.Types or relay.LoadOptions.Types under "ldap".
// No connection is made until the first lookup.
func Open(ctx context.Context, name string, o *lookup.OpenOptions) (lookup.Table, error) {
	c, err := dbcommon.ReadConfig("ldap", name)
	if err != nil {
		return nil, err
	}
	t := &Table{spec: "ldap:" + name}
	if err := t.configure(ctx, c, o); err != nil {
		return nil, err
	}
	return t, nil
}

// Table is an ldap: table. Close it (or lookup.Close the table Open
// returns) to close its connection.
type Table struct {
	spec     string
	settings dbcommon.Settings
	base     *dbcommon.Template // search_base
	dynBase  bool               // search_base has %-expansions
	filter   *dbcommon.Template // query_filter
	attrs    []string           // result_attribute
	special  []string           // special_result_attribute: DNs or LDAP URLs to follow
	maxDepth int                // recursion_limit
	scope    int
	deref    int
	size     int // size_limit
	timeout  time.Duration
	urls     []string
	bind     bool
	bindDN   string
	bindPW   string
	startTLS bool              // start_tls
	tls      dbcommon.TLSFiles // for start_tls and ldaps:// URLs

	mu   sync.Mutex
	conn *ldap.Conn
}

// Settings of Postfix's ldap_table(5) that this driver does not honour:
// refused by name, never silently ignored.
var unsupported = []string{
	"terminal_result_attribute", "leaf_result_attribute",
	"sasl_mechs", "sasl_realm", "sasl_authz_id", "sasl_minssf",
	"tls_cipher_suite",
}

func (t *Table) configure(ctx context.Context, c *dbcommon.Config, o *lookup.OpenOptions) error {
	path := c.Path()
	if err := c.Refuse(unsupported...); err != nil {
		return err
	}
	if on, err := c.Bool("chase_referrals", false); err != nil || on {
		if err != nil {
			return err
		}
		return fmt.Errorf("%s: chase_referrals = yes is not supported", path)
	}
	var err error
	if t.startTLS, err = c.Bool("start_tls", false); err != nil {
		return err
	}
	t.tls = dbcommon.TLSFiles{CAFile: c.Str("tls_ca_cert_file", ""), CADir: c.Str("tls_ca_cert_dir", ""), CertFile: c.Str("tls_cert", ""), KeyFile: c.Str("tls_key", "")}
	if t.tls.Verify, err = c.Bool("tls_require_cert", false); err != nil {
		return err
	}
	if _, err := t.tls.Config(""); err != nil {
		return fmt.Errorf("%s: TLS: %w", path, err) // unreadable files fail now, not at the first lookup
	}
	if t.timeout, err = seconds(c, "timeout", 10); err != nil {
		return err
	}
	if t.size, err = c.Int("size_limit", 0, 0); err != nil {
		return err
	}
	limit, err := c.Int("expansion_limit", 0, 0)
	if err != nil {
		return err
	}
	if _, set := c.Lookup("size_limit"); !set {
		t.size = limit // Postfix: size_limit defaults to expansion_limit
	}
	if t.deref, err = c.Int("dereference", 0, 0); err != nil || t.deref > 3 {
		if err == nil {
			err = fmt.Errorf("%s: dereference = %d: want 0 to 3", path, t.deref)
		}
		return err
	}
	if _, err := c.Int("version", 2, 2); err != nil {
		return err
	}
	switch scope := strings.ToLower(c.Str("scope", "sub")); scope {
	case "sub":
		t.scope = ldap.ScopeWholeSubtree
	case "one":
		t.scope = ldap.ScopeSingleLevel
	case "base":
		t.scope = ldap.ScopeBaseObject
	default:
		return fmt.Errorf("%s: scope = %s: want sub, one or base", path, scope)
	}
	switch bind := strings.ToLower(c.Str("bind", "yes")); bind {
	case "yes", "simple":
		t.bind = true
	case "no", "none":
	default:
		return fmt.Errorf("%s: bind = %s is not supported: want yes or no", path, bind)
	}
	t.bindDN, t.bindPW = c.Str("bind_dn", ""), c.Str("bind_pw", "")
	port := c.Str("server_port", "389")
	for _, h := range splitList(c.Str("server_host", "localhost")) {
		u, err := serverURL(h, port)
		if err != nil {
			return fmt.Errorf("%s: server_host: %w", path, err)
		}
		t.urls = append(t.urls, u)
	}
	t.attrs = splitList(c.Str("result_attribute", "maildrop"))
	t.special = splitList(c.Str("special_result_attribute", ""))
	if t.maxDepth, err = c.Int("recursion_limit", 1000, 1); err != nil {
		return err
	}
	result := c.Str("result_filter", "%s")
	if v, ok := c.Lookup("result_format"); ok {
		result = v
	}
	qs, r, err := dbcommon.ParseTemplateSet([]string{c.Str("search_base", ""), c.Str("query_filter", "(mailacceptinggeneralid=%s)")}, result)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	t.base, t.filter = qs[0], qs[1]
	t.dynBase = t.base.Dynamic()
	domains, err := dbcommon.ParseDomains(ctx, c.Str("domain", ""), o)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	t.settings = dbcommon.Settings{Spec: t.spec, Query: t.filter, Result: r, Domains: domains, ExpansionLimit: limit}
	return nil
}

func seconds(c *dbcommon.Config, name string, def int) (time.Duration, error) {
	n, err := c.Int(name, def, 0)
	return time.Duration(n) * time.Second, err
}

func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n' })
}

// serverURL makes an ldap:// URL of a server_host entry as Postfix does:
// an LDAP URL as it is, "host:port", or "host" with server_port.
func serverURL(h, port string) (string, error) {
	if strings.Contains(h, "://") {
		u, err := url.Parse(h)
		if err != nil {
			return "", err
		}
		switch u.Scheme {
		case "ldap", "ldaps", "ldapi":
			return h, nil
		}
		return "", fmt.Errorf("%q: not an LDAP URL", h)
	}
	if strings.LastIndexByte(h, ':') >= 0 {
		return "ldap://" + h, nil
	}
	if _, err := strconv.Atoi(port); err != nil {
		return "", fmt.Errorf("server_port = %s: not a number", port)
	}
	return "ldap://" + net.JoinHostPort(h, port), nil
}

// rfc2253 quotes a part of the search base as Postfix does: space, tab,
// '"', '#', '+', ',', ';', '<', '>' and '\' become \XX.
func rfc2253(s string) string { return hexEscape(s, " \t\"#+,;<>\\") }

// rfc2254 quotes a part of the filter as Postfix does: '*', '(', ')' and
// '\' become \XX.
func rfc2254(s string) string { return hexEscape(s, "*()\\") }

func hexEscape(s, special string) string {
	if !strings.ContainsAny(s, special) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(special, s[i]) >= 0 {
			fmt.Fprintf(&b, `\%02X`, s[i])
		} else {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// Lookup searches the directory for key.
func (t *Table) Lookup(ctx context.Context, key string) (string, bool, error) {
	if ok, err := t.settings.Admit(ctx, key, t.base, t.filter); !ok || err != nil {
		return "", false, err
	}
	base, _ := t.base.Expand(key, "", rfc2253)
	filter, _ := t.filter.Expand(key, "", rfc2254)
	if t.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.timeout)
		defer cancel()
	}
	res := dbcommon.Results{Spec: t.spec, Key: key, Format: t.settings.Result, Limit: t.settings.ExpansionLimit}
	err := t.search(ctx, base, filter, key, &res)
	switch {
	case err == nil:
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) && t.dynBase:
		return "", false, nil // a search base made from the key that does not exist
	default:
		var le *lookup.Error
		if errors.As(err, &le) {
			return "", false, err
		}
		return "", false, &lookup.Error{Table: t.spec, Key: key, Kind: lookup.Temporary, Err: err}
	}
	return res.Value()
}

// search runs the search on the connection, reconnecting once when the
// server closed it, as Postfix does after LDAP_SERVER_DOWN.
func (t *Table) search(ctx context.Context, base, filter, key string, res *dbcommon.Results) error {
	for attempt := 0; ; attempt++ {
		conn, reused, err := t.connection(ctx)
		if err != nil {
			return err
		}
		err = t.searchOn(ctx, conn, base, filter, key, res)
		if err == nil || ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return err
		}
		var le *lookup.Error
		if errors.As(err, &le) {
			return err // expansion or size limit: the connection is fine
		}
		t.drop(conn)
		if !(reused && attempt == 0 && ldap.IsErrorWithCode(err, ldap.ErrorNetwork) && ctx.Err() == nil) {
			return err
		}
	}
}

func (t *Table) searchOn(ctx context.Context, conn *ldap.Conn, base, filter, key string, res *dbcommon.Results) error {
	req := ldap.NewSearchRequest(base, t.scope, t.deref, t.size, 0, false, filter, t.requested(), nil)
	return t.values(ctx, conn, req, key, res, 1)
}

// requested are the attributes every search asks for: the results and the
// special ones.
func (t *Table) requested() []string { return append(slices.Clone(t.attrs), t.special...) }

// values adds the results of the entries req finds, following the DNs and
// LDAP URLs of special result attributes (depth counts the searches, as
// Postfix's recursion), as Postfix's dict_ldap_get_values.
func (t *Table) values(ctx context.Context, conn *ldap.Conn, req *ldap.SearchRequest, key string, res *dbcommon.Results, depth int) error {
	// The whole answer first, as Postfix's synchronous search has it;
	// then each entry's attributes in order, a special one followed
	// where it stands.
	r := conn.SearchAsync(ctx, req, 16)
	var entries []*ldap.Entry
	for r.Next() {
		if e := r.Entry(); e != nil { // not a referral or a control
			entries = append(entries, e)
		}
		if t.size > 0 && len(entries) > t.size {
			return &lookup.Error{Table: t.spec, Key: key, Kind: lookup.Temporary, Err: fmt.Errorf("query size limit (%d) exceeded", t.size)}
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	for _, e := range entries {
		for _, a := range e.Attributes {
			switch {
			case matches(t.attrs, a.Name):
				for _, v := range a.Values {
					if err := res.Add(v); err != nil {
						return err
					}
				}
			case matches(t.special, a.Name) && len(a.Values) > 0:
				if depth >= t.maxDepth {
					return &lookup.Error{Table: t.spec, Key: key, Kind: lookup.Temporary,
						Err: fmt.Errorf("recursion limit (%d) exceeded for special attribute %s=%s", t.maxDepth, a.Name, a.Values[0])}
				}
				for _, v := range a.Values {
					if err := t.follow(ctx, conn, v, key, res, depth); err != nil {
						return err
					}
				}
			}
		}
	}
	return ctx.Err()
}

// follow adds the results of the entry or search that the value of a
// special result attribute names; one that does not exist is skipped.
func (t *Table) follow(ctx context.Context, conn *ldap.Conn, v, key string, res *dbcommon.Results, depth int) error {
	sub, err := t.followRequest(v)
	if err != nil {
		return &lookup.Error{Table: t.spec, Key: key, Kind: lookup.Temporary, Err: err}
	}
	if sub == nil {
		return nil // a URL that asks for none of our attributes
	}
	err = t.values(ctx, conn, sub, key, res, depth+1)
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil // Postfix: "DN not found, skipping"
	}
	return err
}

// followRequest is the search for the value of a special result
// attribute: the entry a DN names, or what an LDAP URL asks (its
// attributes narrowed to ours; nil when it asks for none of them).
func (t *Table) followRequest(v string) (*ldap.SearchRequest, error) {
	all := t.requested()
	if !isLDAPURL(v) {
		return ldap.NewSearchRequest(v, ldap.ScopeBaseObject, t.deref, t.size, 0, false, "(objectClass=*)", all, nil), nil
	}
	u, err := parseLDAPURL(v)
	if err != nil {
		return nil, fmt.Errorf("malformed URL %s: %w", v, err)
	}
	attrs := all
	if len(u.attrs) > 0 {
		attrs = nil
		for _, a := range u.attrs {
			if matches(all, a) {
				attrs = append(attrs, a)
			}
		}
		if len(attrs) == 0 {
			return nil, nil
		}
	}
	return ldap.NewSearchRequest(u.dn, u.scope, t.deref, t.size, 0, false, u.filter, attrs, nil), nil
}

// matches reports whether a returned attribute is one of list, or a
// subtype of one ("mail;lang-en" of "mail"), as Postfix's
// attrdesc_subtype decides.
func matches(list []string, name string) bool {
	for _, a := range list {
		if strings.EqualFold(name, a) || len(name) > len(a) && name[len(a)] == ';' && strings.EqualFold(name[:len(a)], a) {
			return true
		}
	}
	return false
}

// connection returns the table's connection, dialling the servers of
// server_host in turn and binding when there is none. The dial and the
// bind run outside the table's lock, so that lookups that have a
// connection never wait for another's dial.
func (t *Table) connection(ctx context.Context) (*ldap.Conn, bool, error) {
	t.mu.Lock()
	if t.conn != nil && !t.conn.IsClosing() {
		conn := t.conn
		t.mu.Unlock()
		return conn, true, nil
	}
	t.mu.Unlock()
	conn, err := t.dial(ctx)
	if err != nil {
		return nil, false, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn != nil && !t.conn.IsClosing() {
		conn.Close() // another lookup connected meanwhile: use its connection
		return t.conn, true, nil
	}
	t.conn = conn
	return conn, false, nil
}

// dial connects to the first server of server_host that answers, and
// binds.
func (t *Table) dial(ctx context.Context) (*ldap.Conn, error) {
	var errs []error
	for _, u := range t.urls {
		d := &net.Dialer{}
		if dl, ok := ctx.Deadline(); ok {
			d.Deadline = dl
		}
		pu, _ := url.Parse(u)
		tc, err := t.tls.Config(pu.Hostname())
		if err != nil {
			return nil, err
		}
		conn, err := ldap.DialURL(u, ldap.DialWithDialer(d), ldap.DialWithTLSConfig(tc))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if t.timeout > 0 {
			conn.SetTimeout(t.timeout) // each request, the bind included
		}
		stop := context.AfterFunc(ctx, func() { conn.Close() }) // a lookup that ends stops its dial
		err = t.start(conn, pu.Scheme, tc)
		if !stop() && err == nil {
			err = ctx.Err()
		}
		if err != nil {
			conn.Close()
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
			continue
		}
		return conn, nil
	}
	return nil, fmt.Errorf("no LDAP server answered: %w", errors.Join(errs...))
}

// start runs StartTLS and the bind the file asks for on a new connection.
func (t *Table) start(conn *ldap.Conn, scheme string, tc *tls.Config) error {
	if t.startTLS && scheme == "ldap" {
		if err := conn.StartTLS(tc); err != nil {
			return fmt.Errorf("StartTLS: %w", err)
		}
	}
	if t.bind {
		if _, err := conn.SimpleBind(&ldap.SimpleBindRequest{Username: t.bindDN, Password: t.bindPW, AllowEmptyPassword: true}); err != nil {
			return fmt.Errorf("bind: %w", err)
		}
	}
	return nil
}

// drop closes conn if it is still the table's connection.
func (t *Table) drop(conn *ldap.Conn) {
	t.mu.Lock()
	if t.conn == conn {
		t.conn = nil
	}
	t.mu.Unlock()
	conn.Close()
}

// String returns the table's spec.
func (t *Table) String() string { return t.spec }

// Close closes the table's connection.
func (t *Table) Close() error {
	t.mu.Lock()
	conn := t.conn
	t.conn = nil
	t.mu.Unlock()
	if conn != nil {
		return conn.Close()
	}
	return nil
}
