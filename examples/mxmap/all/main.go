// Command mxmap (examples/mxmap/all) is examples/mxmap with the database
// table types of mxrelay's nested modules linked in: pgsql:, mysql:,
// sqlite: and ldap:, read from Postfix's pgsql_table(5), mysql_table(5),
// sqlite_table(5) and ldap_table(5) files. It is a module of its own, so that the core
// module never builds their drivers:
//
//	cd examples/mxmap/all
//	go run . -q bob@example.com pgsql:/etc/postfix/pgsql-users.cf
//	go run . -q - mysql:/etc/postfix/mysql-domains.cf < keys
//
// Everything else is examples/mxmap's: flags, output, exit codes (a table
// that fails, such as a database that is down, exits 2).
package main

import (
	"context"
	"io"
	"os"

	"github.com/mxrelay/mxrelay/examples/mxmap/internal/mapcmd"
	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/lookup/ldap"
	"github.com/mxrelay/mxrelay/lookup/mysql"
	"github.com/mxrelay/mxrelay/lookup/pgsql"
	"github.com/mxrelay/mxrelay/lookup/sqlite"
)

// linkedTypes are the table types this mxmap links in.
func linkedTypes() map[string]lookup.OpenFunc {
	return map[string]lookup.OpenFunc{
		"pgsql":  pgsql.Open,
		"mysql":  mysql.Open,
		"sqlite": sqlite.Open,
		"ldap":   ldap.Open,
	}
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return mapcmd.Run(ctx, args, stdin, stdout, stderr, linkedTypes())
}
