// Command mxrelayd (examples/mxrelayd/all) is examples/mxrelayd with
// everything of mxrelay's nested modules linked in: a main.cf whose
// recipients, domains or transports are in pgsql:, mysql:, sqlite: or
// ldap: tables (Postfix's pgsql_table(5), mysql_table(5),
// sqlite_table(5) and ldap_table(5) files) runs as it is, and -queue
// takes a PostgreSQL connection string as well as a directory: a queue
// that several MX hosts share (queue/postgres; its -prefix and -node-ttl
// flags are package queue/postgres/pgdaemon's). It is a module of its
// own, so that the core module never builds their drivers:
//
//	cd examples/mxrelayd/all
//	go build -o mxrelayd .
//	./mxrelayd -config /etc/postfix/main.cf
//	./mxrelayd -config /etc/postfix/main.cf -queue 'postgres://mxrelay@db.example.net/mail'
//	./mxrelayd mailq -queue 'postgres://mxrelay@db.example.net/mail'
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
	"github.com/mxrelay/mxrelay/queue/postgres/pgdaemon"
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

// options is what this mxrelayd links in: the table types, and the
// PostgreSQL queue.
func options() daemon.Options {
	return daemon.Options{Types: linkedTypes(), Queues: []daemon.QueueType{pgdaemon.Type()}}
}

func main() { os.Exit(daemon.MainWith(os.Args[1:], options())) }
