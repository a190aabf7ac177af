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
	if ok, err := t.Admit(ctx, key, t.Query); !ok || err != nil {
		return "", false, err
	}
	rows, err := t.Backend.Query(ctx, func(q Quote) string {
		s, _ := t.Query.Expand(key, "", q)
		return s
	})
	if err != nil {
		return "", false, &lookup.Error{Table: t.Spec, Key: key, Kind: lookup.Temporary, Err: err}
	}
	res := Results{Spec: t.Spec, Key: key, Format: t.Result, Limit: t.ExpansionLimit}
	for _, row := range rows {
		for _, col := range row {
			if col == nil {
				continue // NULL: Postfix reads "", an empty result it ignores
			}
			if err := res.Add(*col); err != nil {
				return "", false, err
			}
		}
	}
	return res.Value()
}

// Admit reports whether key is looked up at all, as Postfix decides: a
// valid UTF-8 key without NUL (a C string), in the domain list, that the
// query templates can expand.
func (s *Settings) Admit(ctx context.Context, key string, queries ...*Template) (bool, error) {
	if !utf8.ValidString(key) || strings.IndexByte(key, 0) >= 0 {
		return false, nil
	}
	ok, err := s.Domains.Allows(ctx, key)
	if err != nil {
		return false, &lookup.Error{Table: s.Spec, Key: key, Kind: lookup.Temporary, Err: err}
	}
	if !ok {
		return false, nil
	}
	for _, q := range queries {
		if _, ok := q.Expand(key, "", nil); !ok {
			return false, nil
		}
	}
	return true, nil
}

// Results gathers the results of one lookup as Postfix's database tables
// do: each expanded with the result format (those it skips are not
// counted), joined with commas, at most Limit of them (0: no limit).
type Results struct {
	Spec, Key string
	Format    *Template
	Limit     int

	b strings.Builder
	n int
}

// Add adds one result; past Limit it is a Temporary error.
func (r *Results) Add(v string) error {
	x, ok := r.Format.Expand(v, r.Key, nil)
	if !ok {
		return nil
	}
	r.n++
	if r.Limit > 0 && r.n > r.Limit {
		return &lookup.Error{Table: r.Spec, Key: r.Key, Kind: lookup.Temporary,
			Err: fmt.Errorf("expansion limit of %d results exceeded", r.Limit)}
	}
	if r.b.Len() > 0 {
		r.b.WriteByte(',')
	}
	r.b.WriteString(x)
	return nil
}

// Value returns the joined results: not found when there are none, a
// Config error when they are not UTF-8.
func (r *Results) Value() (string, bool, error) {
	if r.b.Len() == 0 {
		return "", false, nil
	}
	v := r.b.String()
	if !utf8.ValidString(v) {
		return "", false, &lookup.Error{Table: r.Spec, Key: r.Key, Kind: lookup.Config, Err: lookup.ErrNonUTF8Value}
	}
	return v, true, nil
}

// String returns the table's spec.
func (t *Table) String() string { return t.Spec }
