package lookup

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// OpenFunc opens a table of one type. name is what follows "type:" in the
// table spec.
type OpenFunc func(ctx context.Context, name string, o *OpenOptions) (Table, error)

// OpenOptions configures Open. The zero value (or nil) opens the built-in
// types with postmap's default parsing.
type OpenOptions struct {
	// Types adds table types, or replaces built-in ones, by type name
	// ("pgsql", "http"...). There is no global registry: each Open call
	// sees only the types given here and the built-ins. The tables they
	// open receive folded keys (see Folded and KeysAsGiven).
	Types map[string]OpenFunc
	// Parse controls how text sources (hash:, texthash:, cdb: compiles)
	// are read. Default: postmap's defaults.
	Parse ParseOptions
	// Logger receives warnings and reload errors. Nil discards them.
	Logger *slog.Logger
	// Now returns the current time; it paces file change checks (at most
	// one stat per ReloadInterval). Default time.Now.
	Now func() time.Time
	// ReloadInterval is how often a file-backed table checks whether its
	// file changed. Default 1s. Negative disables reloading.
	ReloadInterval time.Duration
	// ReloadTimeout bounds how long a lookup waits for a reload of its
	// table's file (a file on a stalled network file system). Past it
	// the lookup answers from the previous contents while the reload
	// goes on in the background; other lookups of the table never wait
	// for a reload. Default 1s.
	ReloadTimeout time.Duration
	// PasswdFile is the file behind unix:passwd.byname. Default /etc/passwd.
	PasswdFile string
	// GroupFile is the file behind unix:group.byname. Default /etc/group.
	GroupFile string
	// LookupTimeout bounds each lookup of the tables that Types open
	// (Bounded): past it the lookup answers a Temporary error. Default
	// DefaultLookupTimeout; negative: no bound.
	LookupTimeout time.Duration
}

func (o *OpenOptions) lookupTimeout() time.Duration {
	if o == nil || o.LookupTimeout == 0 {
		return DefaultLookupTimeout
	}
	return o.LookupTimeout
}

// UserTable returns t as Open returns the tables that Types open: keys
// folded (Folded) and each lookup bounded by LookupTimeout (Bounded).
// Use it for a table of your own that you hand to code that does not
// open it through Open.
func (o *OpenOptions) UserTable(t Table) Table {
	return Bounded(Folded(t), o.lookupTimeout())
}

func (o *OpenOptions) reloadInterval() time.Duration {
	if o == nil || o.ReloadInterval == 0 {
		return time.Second
	}
	return o.ReloadInterval
}

func (o *OpenOptions) reloadTimeout() time.Duration {
	if o == nil || o.ReloadTimeout <= 0 {
		return time.Second
	}
	return o.ReloadTimeout
}

func (o *OpenOptions) logger() *slog.Logger {
	if o == nil || o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// builtinTypes are the table types Open knows without options, sorted.
var builtinTypes = [...]string{"btree", "cdb", "cidr", "dbm", "hash", "inline", "lmdb", "pcre", "proxy", "regexp", "socketmap", "static", "tcp", "texthash", "unix"}

// builtin returns the opener of a built-in table type, or nil. A switch,
// not a package-level map, so that no caller can change the built-ins.
func builtin(typ string) OpenFunc {
	switch typ {
	case "hash", "texthash", "btree", "lmdb", "dbm":
		return openSourceType(typ)
	case "proxy":
		return openProxy
	case "pcre":
		return openPCRE
	case "socketmap":
		return openSocketmap
	case "tcp":
		return openTCP
	case "cdb":
		return openCDB
	case "inline":
		return openInline
	case "static":
		return openStatic
	case "cidr":
		return openCIDR
	case "regexp":
		return openRegexp
	case "unix":
		return openUnix
	}
	return nil
}

// ParseSpec splits a table spec "type:name" at its first colon. The type
// must be non-empty and made of letters, digits, '_' and '-'.
func ParseSpec(spec string) (typ, name string, err error) {
	typ, name, ok := strings.Cut(spec, ":")
	if !ok || typ == "" {
		return "", "", fmt.Errorf("table %q: want type:name", spec)
	}
	for _, c := range typ {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return "", "", fmt.Errorf("table %q: bad type %q", spec, typ)
		}
	}
	return typ, name, nil
}

// Open opens the table named by a Postfix spec, "type:name":
//
//	hash:/etc/postfix/relay_recipients   the postmap source file, held in memory
//	texthash:/path                       the same
//	btree:, lmdb:, dbm:/path             the same: the source file, never the built one
//	proxy:TYPE:NAME                      TYPE:NAME (proxymap(8) has nothing to share in-process)
//	socketmap:inet:host:port:name        a Sendmail socketmap server (socketmap:unix:/path:name)
//	tcp:host:port                        a tcp_table(5) server
//	cdb:/path                            /path.cdb, made by postmap cdb: or Compile
//	inline:{ k1=v1, { k2 = text with spaces } }
//	static:value                         every key finds value
//	cidr:/path                           first matching network wins
//	regexp:/path                         Postfix regexp_table(5) on Go's RE2
//	pcre:/path                           Postfix pcre_table(5), with PCRE's back-references and look-around
//	unix:passwd.byname                   local users (unix:group.byname: groups)
//
// Types that need a database driver (pgsql:, mysql:, sqlite:, ldap:) live
// in nested modules (github.com/mxrelay/mxrelay/lookup/pgsql...) and are
// linked in by the program through OpenOptions.Types, the registry of
// the types one program knows:
//
//	opts := &lookup.OpenOptions{Types: map[string]lookup.OpenFunc{"pgsql": pgsql.Open}}
//
// Errors are *Error values of kind Config. An unknown type is an error that
// names it and the known ones, and tells which module provides a driver
// type that was not linked in.
func Open(ctx context.Context, spec string, o *OpenOptions) (Table, error) {
	typ, name, err := ParseSpec(spec)
	if err != nil {
		return nil, &Error{Table: spec, Kind: Config, Err: err}
	}
	var open OpenFunc
	user := false
	if o != nil {
		open = o.Types[typ]
		user = open != nil
	}
	if open == nil {
		open = builtin(typ)
	}
	if open == nil {
		known := slices.Clone(builtinTypes[:])
		if o != nil {
			known = append(known, slices.Collect(maps.Keys(o.Types))...)
		}
		slices.Sort(known)
		known = slices.Compact(known)
		return nil, errorf(spec, "", Config, "unsupported dictionary type: %s (known types: %s)%s", typ, strings.Join(known, ", "), driverHint(typ))
	}
	if o == nil {
		o = &OpenOptions{}
	}
	t, err := open(ctx, name, o)
	if err != nil {
		if _, ok := err.(*Error); !ok {
			err = &Error{Table: spec, Kind: Config, Err: err}
		}
		return nil, err
	}
	if user {
		t = o.UserTable(t) // keys as Postfix gives its fixed-key tables; a stalled backend answers 4xx
	}
	return t, nil
}

// driverTypes are the table types that need a database driver: they live
// in nested modules of their own, so that a program that does not use
// them does not build their drivers, and a program links them in through
// OpenOptions.Types.
var driverTypes = [...]string{"ldap", "mysql", "pgsql", "sqlite"}

// driverHint tells how to link in a driver type that Open was not given.
func driverHint(typ string) string {
	if !slices.Contains(driverTypes[:], typ) {
		return ""
	}
	return fmt.Sprintf("; %s: tables are in the module github.com/mxrelay/mxrelay/lookup/%s: a program links them in with lookup.OpenOptions.Types or relay.LoadOptions.Types (examples/mxrelayd/all and examples/mxmap/all do)", typ, typ)
}

// openProxy opens "proxy:TYPE:NAME" as TYPE:NAME. Postfix's proxymap(8)
// shares one connection or file among its processes; mxrelay opens
// tables in-process, so the prefix changes nothing but the spec.
func openProxy(ctx context.Context, name string, o *OpenOptions) (Table, error) {
	if strings.HasPrefix(name, "proxy:") {
		return nil, fmt.Errorf("proxy:%s: a proxy: table cannot itself be proxied", name)
	}
	return Open(ctx, name, o)
}

// Warner is implemented by tables read from a source that may hold bad
// lines: Warnings returns the warnings of the most recent (re)load.
type Warner interface {
	Warnings() []Warning
}

// openStatic: every key finds the value; "static:{ text }" may hold spaces.
func openStatic(_ context.Context, name string, _ *OpenOptions) (Table, error) {
	v := name
	if strings.HasPrefix(v, "{") {
		if !strings.HasSuffix(v, "}") {
			return nil, fmt.Errorf("static:%s: missing '}'", name)
		}
		v = strings.TrimSpace(v[1 : len(v)-1])
	}
	if v == "" {
		return nil, fmt.Errorf("static: needs a value")
	}
	spec := "static:" + name
	return staticTable{spec, v}, nil
}

type staticTable struct{ spec, value string }

func (t staticTable) Lookup(_ context.Context, key string) (string, bool, error) {
	if !utf8.ValidString(key) {
		return "", false, nil // Postfix: "non-UTF-8 key", not found
	}
	return checkValue(t.spec, key, t.value)
}

// String returns the table's spec.
func (t staticTable) String() string { return t.spec }

// openInline parses "{ k1=v1, k2=v2, { k3 = text with spaces } }".
func openInline(_ context.Context, name string, o *OpenOptions) (Table, error) {
	spec := "inline:" + name
	s := strings.TrimSpace(name)
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, fmt.Errorf("%s: need \"{ name=value... }\"", spec)
	}
	elems, err := splitBraced(s[1 : len(s)-1])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", spec, err)
	}
	if len(elems) == 0 {
		return nil, fmt.Errorf("bad syntax: %q; need \"inline:{name=value...}\"", spec)
	}
	m := make(map[string]string, len(elems))
	for _, e := range elems {
		k, v, ok := strings.Cut(e, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok {
			return nil, fmt.Errorf("%s: missing '=' after attribute name: %q", spec, e)
		}
		if !o.Parse.NoFold {
			k = FoldKey(k)
		}
		m[k] = v // the last of duplicates wins, as in postmap -q
	}
	return newMapFolded(spec, m, !o.Parse.NoFold), nil
}

// splitBraced splits a list at commas and whitespace; an element in braces
// keeps its inner whitespace and commas ("{ k = a, b }" is one element).
func splitBraced(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ',' || isSpace(c):
			i++
		case c == '{':
			depth, j := 0, i
			for ; j < len(s); j++ {
				if s[j] == '{' {
					depth++
				} else if s[j] == '}' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			if j == len(s) {
				return nil, fmt.Errorf("missing '}' in %q", s[i:])
			}
			out = append(out, strings.TrimSpace(s[i+1:j]))
			i = j + 1
		default:
			j := i
			for j < len(s) && s[j] != ',' && !isSpace(s[j]) {
				j++
			}
			out = append(out, s[i:j])
			i = j
		}
	}
	return out, nil
}
