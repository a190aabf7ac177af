// Command mxrelayd (examples/mxrelayd/all) is examples/mxrelayd with the
// database table types of mxrelay's nested modules linked in: a main.cf
// whose recipients, domains or transports are in pgsql:, mysql:, sqlite:
// or ldap: tables (Postfix's pgsql_table(5), mysql_table(5),
// sqlite_table(5) and ldap_table(5) files) runs as it is. It is a module
// of its own, so that the core module never builds their drivers:
//
//	cd examples/mxrelayd/all
//	go build -o mxrelayd .
//	./mxrelayd -config /etc/postfix/main.cf
//
// Everything else (flags, queue tools, reload, logs) is
// examples/mxrelayd's.
package main

import (
	"os"

	"github.com/mxrelay/mxrelay/examples/mxrelayd/daemon"
	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/lookup/ldap"
	"github.com/mxrelay/mxrelay/lookup/mysql"
	"github.com/mxrelay/mxrelay/lookup/pgsql"
	"github.com/mxrelay/mxrelay/lookup/sqlite"
)

// linkedTypes are the table types this mxrelayd links in.
func linkedTypes() map[string]lookup.OpenFunc {
	return map[string]lookup.OpenFunc{
		"pgsql":  pgsql.Open,
		"mysql":  mysql.Open,
		"sqlite": sqlite.Open,
		"ldap":   ldap.Open,
	}
}

func main() { os.Exit(daemon.MainWith(os.Args[1:], daemon.Options{Types: linkedTypes()})) }
