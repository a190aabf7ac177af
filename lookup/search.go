package lookup

import (
	"context"
	"fmt"
)

// Result is the outcome of a Search that found something.
type Result struct {
	Value string // the value found; never empty
	Key   Key    // the key that matched
	Table int    // index of the table that matched
}

// Search looks keys up in tables the way Postfix's maps_find does for a list
// of tables: pattern-major, so every table is asked for the first key before
// any table is asked for the second. The first hit wins.
//
// A table error stops the search at once (no fall-through to later tables or
// keys) and is returned wrapped in an *Error. A hit with an empty value is a
// Config error wrapping ErrEmptyValue, as in Postfix's maps.c.
func Search(ctx context.Context, tables []Table, keys []Key) (Result, bool, error) {
	for _, k := range keys {
		for i, t := range tables {
			v, ok, err := t.Lookup(ctx, k.Key)
			if err != nil {
				return Result{}, false, wrapErr(t, k.Key, err)
			}
			if !ok {
				continue
			}
			if v == "" {
				return Result{}, false, &Error{Table: Name(t), Key: k.Key, Kind: Config, Err: ErrEmptyValue}
			}
			return Result{Value: v, Key: k, Table: i}, true, nil
		}
	}
	return Result{}, false, nil
}

// wrapErr makes sure err carries a kind and the table name.
func wrapErr(t Table, key string, err error) error {
	if _, ok := err.(*Error); ok {
		return err
	}
	return &Error{Table: Name(t), Key: key, Kind: KindOf(err), Err: err}
}

// Name returns a table's name for messages: its String method when it has
// one (every table made by Open returns "type:name"), else its Go type.
func Name(t Table) string {
	if s, ok := t.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", t)
}
