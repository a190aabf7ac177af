// Package sqlite is the sqlite: lookup table type: Postfix's
// sqlite_table(5) configuration files, answered from a SQLite database
// file through modernc.org/sqlite, a SQLite in pure Go (no cgo). It is a
// module of its own (github.com/mxrelay/mxrelay/lookup/sqlite), so that
// programs that do not use it never build SQLite; a program links it in
// by type name:
//
//	opts := &lookup.OpenOptions{Types: map[string]lookup.OpenFunc{"sqlite": sqlite.Open}}
//	aliases, err := lookup.Open(ctx, "sqlite:/etc/postfix/sqlite-aliases.cf", opts)
//	if err != nil {
//		return err // a Config error: a bad file, a database that cannot be opened
//	}
//	defer lookup.Close(aliases)
//
// # The configuration file
//
// As sqlite_table(5): dbpath (required; the database is opened read-only,
// as Postfix opens it, when the table opens), query with the
// %-expansions of Postfix's db_common.c, or the legacy table,
// select_field, where_field and additional_conditions; result_format,
// domain and expansion_limit.
//
// Keys arrive folded to lower case. Expanded parts of the query are quoted
// as sqlite3_mprintf's %q quotes them for Postfix: a single quote is
// doubled. As in Postfix's dict_sqlite.c, only the first column of each
// row is a result (NULLs and empty values skipped), and the results are
// joined with commas. A query that fails is a Temporary error (Postfix's
// daemon exits with a fatal error, which defers the mail too).
//
// # Deliberate differences from Postfix 3.7
//
//   - A query that holds several statements: Postfix runs the first and
//     ignores the rest; here the driver decides (write one statement).
//   - A name that is not a path is refused: give a file.
package sqlite
