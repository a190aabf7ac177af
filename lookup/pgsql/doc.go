// Package pgsql is the pgsql: lookup table type: Postfix's pgsql_table(5)
// configuration files, answered from PostgreSQL through pgx. It is a
// module of its own (github.com/mxrelay/mxrelay/lookup/pgsql), so that
// programs that do not use it never build pgx; a program links it in by
// type name:
//
//	opts := &lookup.OpenOptions{Types: map[string]lookup.OpenFunc{"pgsql": pgsql.Open}}
//	users, err := lookup.Open(ctx, "pgsql:/etc/postfix/pgsql-users.cf", opts)
//	if err != nil {
//		return err // a Config error: a bad file, an unsupported setting
//	}
//	defer lookup.Close(users)
//	target, found, err := users.Lookup(ctx, "bob@example.com")
//
// or, for a whole main.cf, relay.LoadOptions{Types: ...} with the same map.
//
// # The configuration file
//
// As pgsql_table(5): hosts (a list; postgresql:// URIs, unix:/socket/dir,
// inet:host:port, host:port or host; default localhost), user, password,
// dbname, query with the %-expansions of Postfix's db_common.c (%s, %u,
// %d, %S, %U, %D, %1..%9; see lookup/internal/dbcommon), or
// select_function, or the legacy table, select_field, where_field and
// additional_conditions; result_format, domain, expansion_limit,
// retry_interval (60s) and idle_interval (60s).
//
// Keys arrive folded to lower case, as Postfix folds keys of its fixed-key
// tables. Expanded parts of the query are quoted as libpq's
// PQescapeStringConn quotes them for Postfix: a single quote is doubled
// and, when the server's standard_conforming_strings is off, so is a
// backslash. The query runs with the simple query protocol, as libpq's
// PQexec; every column of every row is a result, NULLs and empty values
// are skipped, and the results are joined with commas.
//
// Hosts that hold a working connection are asked first, then the others
// (UNIX sockets, TCP, URIs; at random among equals); a host whose
// connection or query fails is skipped for retry_interval and the next
// one is asked. When none answers, the lookup is a Temporary error (451
// 4.3.0), never "not found"; a lookup is bounded by
// lookup.OpenOptions.LookupTimeout (10s), shared among the hosts it
// tries. Connections are reused and closed after idle_interval.
//
// # Deliberate differences from Postfix 3.7
//
//   - The client encoding is UTF8, as in Postfix 3.8 and later. Postfix 3.7
//     fixes it to LATIN1, so that a non-ASCII key never matches UTF-8 data
//     and a result outside Latin-1 fails the query. The "encoding"
//     setting of Postfix 3.8 is accepted only as UTF8 (pgx speaks nothing
//     else).
//   - A name that is not a path ("pgsql:pgsqlusers", read by Postfix from
//     main.cf parameters pgsqlusers_hosts...) is refused: give a file.
//   - The "domain" list matches names whole and through type:table
//     lookups, as Postfix's string lists; a key without '@' is not looked
//     up when it is set, as in Postfix.
package pgsql
