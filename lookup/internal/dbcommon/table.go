package dbcommon

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/mxrelay/mxrelay/lookup"
)

// Backend runs queries for a Table: a database driver.
type Backend interface {
	// Query runs the query that build returns for the connection it
	// picks (build quotes with that connection's rules) and returns
	// every column of every row as text; a NULL is nil. An error means
	// no server could answer.
	Query(ctx context.Context, build func(Quote) string) ([][]*string, error)
}

// Settings are the parts of a database table's configuration that
// db_common.c handles.
type Settings struct {
	Spec   string // "pgsql:/etc/postfix/x.cf", for errors
	Query  *Template
	Result *Template
	// Domains filters the keys looked up; nil lets all through.
	Domains *Domains
	// ExpansionLimit caps the results of one lookup; past it the lookup
	// is a Temporary error, as Postfix's expansion_limit. 0: no limit.
	ExpansionLimit int
}

// Table is a database table: Lookup filters the key by domain, expands the
// query, asks the backend, and joins the results expanded with the result
// format, with commas, as Postfix's dict_pgsql.c and its siblings do.
type Table struct {
	Settings
	Backend Backend
}

// Lookup looks key up. Keys arrive folded (lookup.OpenOptions.Types). A
// key Postfix would not query (domain filter, missing parts) is not
// found; a failure of the servers is a Temporary error.
func (t *Table) Lookup(ctx context.Context, key string) (string, bool, error) {
	if !utf8.ValidString(key) || strings.IndexByte(key, 0) >= 0 {
		return "", false, nil // as Postfix: a non-UTF-8 key is not found; a C string has no NUL
	}
	ok, err := t.Domains.Allows(ctx, key)
	if err != nil {
		return "", false, &lookup.Error{Table: t.Spec, Key: key, Kind: lookup.Temporary, Err: err}
	}
	if !ok {
		return "", false, nil
	}
	if _, ok := t.Query.Expand(key, "", nil); !ok {
		return "", false, nil
	}
	rows, err := t.Backend.Query(ctx, func(q Quote) string {
		s, _ := t.Query.Expand(key, "", q)
		return s
	})
	if err != nil {
		return "", false, &lookup.Error{Table: t.Spec, Key: key, Kind: lookup.Temporary, Err: err}
	}
	var out strings.Builder
	n := 0
	for _, row := range rows {
		for _, col := range row {
			if col == nil {
				continue // NULL: Postfix reads "", an empty result it ignores
			}
			v, ok := t.Result.Expand(*col, key, nil)
			if !ok {
				continue
			}
			n++
			if t.ExpansionLimit > 0 && n > t.ExpansionLimit {
				return "", false, &lookup.Error{Table: t.Spec, Key: key, Kind: lookup.Temporary,
					Err: fmt.Errorf("expansion limit of %d results exceeded", t.ExpansionLimit)}
			}
			if out.Len() > 0 {
				out.WriteByte(',')
			}
			out.WriteString(v)
		}
	}
	if out.Len() == 0 {
		return "", false, nil
	}
	if !utf8.ValidString(out.String()) {
		return "", false, &lookup.Error{Table: t.Spec, Key: key, Kind: lookup.Config, Err: lookup.ErrNonUTF8Value}
	}
	return out.String(), true, nil
}

// String returns the table's spec.
func (t *Table) String() string { return t.Spec }
