// Package mysql is the mysql: lookup table type: Postfix's mysql_table(5)
// configuration files, answered from MySQL or MariaDB through
// github.com/go-sql-driver/mysql. It is a module of its own
// (github.com/mxrelay/mxrelay/lookup/mysql), so that programs that do not
// use it never build the driver; a program links it in by type name:
//
//	opts := &lookup.OpenOptions{Types: map[string]lookup.OpenFunc{"mysql": mysql.Open}}
//	domains, err := lookup.Open(ctx, "mysql:/etc/postfix/mysql-domains.cf", opts)
//	if err != nil {
//		return err // a Config error: a bad file, an unsupported setting
//	}
//	defer lookup.Close(domains)
//
// or, for a whole main.cf, relay.LoadOptions{Types: ...} with the same map.
//
// # The configuration file
//
// As mysql_table(5): hosts (a list of unix:/path/to/socket,
// inet:host:port, host:port or host; "localhost" is the server's UNIX
// socket, /run/mysqld/mysqld.sock, as libmysqlclient makes it; default
// localhost), user, password, dbname (required), query with the
// %-expansions of Postfix's db_common.c, or the legacy table,
// select_field, where_field and additional_conditions; result_format,
// domain, expansion_limit, require_result_set (yes), retry_interval (60s)
// and idle_interval (60s); TLS as Postfix with libmariadb: tls_CAfile,
// tls_CApath, tls_cert_file or tls_key_file turn TLS on (required);
// tls_verify_cert = yes verifies the server's certificate and name,
// = no lets a server without TLS be used in clear.
//
// Keys arrive folded to lower case, as Postfix folds keys of its fixed-key
// tables. Expanded parts of the query are quoted as
// mysql_real_escape_string quotes them for Postfix: NUL, \n, \r, \, ', "
// and Ctrl-Z get a backslash, or, when the server's sql_mode has
// NO_BACKSLASH_ESCAPES, a single quote is doubled (the mode is asked once
// per pool of connections). The query runs with the text protocol and
// multiple results, as mysql_query; the first result set answers, a
// second one with rows is an error, and so is none with
// require_result_set = yes. Every column of every row is a result; NULLs
// and empty values are skipped; the results are joined with commas.
//
// Failover is Postfix's: hosts whose last query succeeded first, then the
// others (UNIX sockets before TCP, at random among equals); a host whose
// connection or query fails is skipped for retry_interval. When none
// answers, the lookup is a Temporary error (451 4.3.0), never "not
// found", within lookup.OpenOptions.LookupTimeout (10s).
//
// # Deliberate differences from Postfix 3.7
//
//   - option_file, option_group and tls_ciphers are refused by name: this
//     driver reads no my.cnf files and takes no OpenSSL cipher lists.
//     Without tls_verify_cert = yes, a server's certificate is not checked
//     (as with libmariadb's default), even when tls_CAfile is set.
//   - The connection character set is utf8mb4 (libmariadb's default, and
//     Postfix 3.9's "charset" default); "charset" is accepted only as
//     utf8mb4.
//   - A name that is not a path ("mysql:mysqlusers", read by Postfix from
//     main.cf parameters) is refused: give a file.
package mysql
