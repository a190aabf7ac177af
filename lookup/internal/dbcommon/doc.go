// Package dbcommon holds what the database table types (pgsql:, mysql:,
// sqlite:, ldap:) share, as Postfix's db_common.c: the reading of their
// configuration files, the %-expansion of query and result templates, the
// domain filter, the limit on results, and the lookup itself. Each driver
// module supplies only a Backend: its connections and its quoting.
//
// A driver's Open reads the file and builds a Table:
//
//	c, err := dbcommon.ReadConfig("pgsql", name) // "/etc/postfix/pgsql-users.cf"
//	query, err := c.SQLQuery()                   // "query", or the legacy fields
//	s, err := c.Settings(ctx, "pgsql:"+name, query, o)
//	t := &dbcommon.Table{Settings: s, Backend: myBackend}
//
// Table.Lookup then does what Postfix's dict_pgsql_lookup does: skip keys
// outside "domain" or without the parts the query needs, ask the backend
// with the key quoted into the query, expand each column of each row with
// result_format, join the results with commas, and fail with a Temporary
// error past expansion_limit or when no server answers.
package dbcommon
