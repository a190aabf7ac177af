package lookup

import (
	"context"
	"maps"
	"slices"
	"unicode/utf8"
)

// Map is an in-memory table. Keys are folded to lower case (Unicode-aware)
// when the map is built and when it is queried, as postmap does for fixed-key
// tables (FoldKey), unless it was made with NoFold. A Map is immutable once made,
// so it is safe for concurrent use.
type Map struct {
	name string
	m    map[string]string
	fold bool
}

// NewMap returns a table holding entries, keys folded to lower case. When two
// keys fold to the same key, the one that sorts first wins, so the result
// does not depend on Go's map order.
func NewMap(entries map[string]string) *Map {
	t := &Map{name: "memory:", m: make(map[string]string, len(entries)), fold: true}
	for _, k := range slices.Sorted(maps.Keys(entries)) {
		fk := FoldKey(k)
		if _, dup := t.m[fk]; !dup {
			t.m[fk] = entries[k]
		}
	}
	return t
}

// newMapFolded wraps an already folded map.
func newMapFolded(name string, m map[string]string, fold bool) *Map {
	return &Map{name: name, m: m, fold: fold}
}

// Lookup returns the value stored for key. It never fails, except with a
// Config error for an empty or non-UTF-8 value. A key that is not valid
// UTF-8 is not found.
func (t *Map) Lookup(_ context.Context, key string) (string, bool, error) {
	if !utf8.ValidString(key) {
		return "", false, nil // Postfix: "non-UTF-8 key", not found
	}
	if t.fold {
		key = FoldKey(key)
	}
	v, ok := t.m[key]
	if ok && v == "" {
		return "", false, &Error{Table: t.name, Key: key, Kind: Config, Err: ErrEmptyValue}
	}
	if !ok {
		return "", false, nil
	}
	return checkValue(t.name, key, v)
}

// Len returns the number of entries.
func (t *Map) Len() int { return len(t.m) }

// All returns the entries in key order, as "postmap -s" lists them.
func (t *Map) All() []Entry {
	out := make([]Entry, 0, len(t.m))
	for _, k := range slices.Sorted(maps.Keys(t.m)) {
		out = append(out, Entry{Key: k, Value: t.m[k]})
	}
	return out
}

// String returns the table's name.
func (t *Map) String() string { return t.name }

// Entry is one key and value.
type Entry struct {
	Key, Value string
}
