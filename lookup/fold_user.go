package lookup

import "context"

// KeysAsGiven is implemented by a table of your own that must see keys
// exactly as the caller has them, not folded: a pattern table (Postfix
// does not fold the keys of its regexp:, pcre: and cidr: tables either)
// or one that folds keys itself. Folded leaves such a table as it is.
type KeysAsGiven interface {
	Table
	// KeysAsGiven marks the table; it is never called.
	KeysAsGiven()
}

// Folded returns a table that folds each key with FoldKey before it asks t,
// so that a table of your own (a TableFunc, an SQL or HTTP table, a Go
// map keyed in lower case) sees keys as Postfix hands them to its
// fixed-key tables (hash:, cdb:, pgsql:, ldap:...): "Bob+tag@Example.COM"
// arrives as "bob+tag@example.com", and "@Example.COM" as "@example.com".
//
// Postfix folds these keys itself (DICT_FLAG_FOLD_FIX), and so does
// mxrelay: Open folds for the tables it opens through OpenOptions.Types,
// and the tables given to policy.Config.Tables, relay.LoadOptions.Tables,
// maincf.File.SetTable, transport.RouterConfig.TransportMaps and
// transport.TLSPolicyMap.Tables are passed through Folded. Use it
// yourself only when you call a table directly (lookup.Search).
//
// Folded returns t unchanged when t is nil, one of this package's tables
// (they fold, or not, as their Postfix type does), already folded, or
// implements KeysAsGiven.
func Folded(t Table) Table {
	if b, ok := t.(boundedTable); ok {
		b.t = Folded(b.t) // fold inside the bound the caller chose
		return b
	}
	switch t.(type) {
	case nil, *Map, HashTable, CDBTable, CIDRTable, RegexpTable, PCRETable, UnixTable, staticTable, foldedTable, KeysAsGiven:
		return t
	}
	return foldedTable{t}
}

// foldedTable folds keys before asking a table of the caller's.
type foldedTable struct{ t Table }

func (f foldedTable) Lookup(ctx context.Context, key string) (string, bool, error) {
	return f.t.Lookup(ctx, FoldKey(key))
}

// String names the wrapped table.
func (f foldedTable) String() string { return Name(f.t) }

// Unwrap returns the wrapped table.
func (f foldedTable) Unwrap() Table { return f.t }
