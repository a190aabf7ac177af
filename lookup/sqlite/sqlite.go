package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, "sqlite"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/lookup/internal/dbcommon"
)

// Open opens a sqlite: table from its sqlite_table(5) file, name being
// the file's path. It is a lookup.OpenFunc: link it in with
// lookup.OpenOptions.Types or relay.LoadOptions.Types under "sqlite".
func Open(ctx context.Context, name string, o *lookup.OpenOptions) (lookup.Table, error) {
	return dbcommon.OpenTable(ctx, dbcommon.Driver{Type: "sqlite", Query: (*dbcommon.Config).SQLQuery, Backend: openDB}, name, o)
}

// openDB opens the file of dbpath read-only, as Postfix does; a missing
// or unreadable file is an error when the table opens.
func openDB(c *dbcommon.Config) (dbcommon.ClosingBackend, error) {
	path := c.Str("dbpath", "")
	if path == "" {
		return nil, fmt.Errorf("%s: dbpath is not set", c.Path())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: open database %s: %w", c.Path(), path, err)
	}
	f.Close()
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=ro"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("%s: open database %s: %w", c.Path(), path, err)
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: open database %s: %w", c.Path(), path, err)
	}
	return &database{db: db}, nil
}

// database is a SQLite file.
type database struct{ db *sql.DB }

// quote quotes as sqlite3_mprintf("%q"), which Postfix uses: a single
// quote is doubled.
func quote(s string) string { return strings.ReplaceAll(s, "'", "''") }

// Query runs the first statement of the query (what sqlite3_prepare_v2
// compiles; Postfix ignores the rest) and returns the first column of
// each row, as Postfix's dict_sqlite.c reads them.
func (d *database) Query(ctx context.Context, build func(dbcommon.Quote) string) ([][]*string, error) {
	rows, err := d.db.QueryContext(ctx, build(quote))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]*string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, []*string{text(vals[0])})
	}
	return out, rows.Err()
}

// text is a column as sqlite3_column_text gives it: NULL is nil, numbers
// in SQLite's text form.
func text(v any) *string {
	var s string
	switch x := v.(type) {
	case nil:
		return nil
	case []byte:
		s = string(x)
	case string:
		s = x
	case float64:
		s = fmt.Sprintf("%.15g", x)
		if !strings.ContainsAny(s, ".en") {
			s += ".0" // SQLite prints a REAL that is whole as "1.0"
		}
	default:
		s = fmt.Sprint(x)
	}
	return &s
}

// Close closes the database.
func (d *database) Close() { d.db.Close() }
