// Command mxrelayd is a primary or backup MX built on package relay: an
// SMTP server that accepts mail for the domains a Postfix main.cf names,
// under Postfix's relay rules, queues it on disk and delivers it.
//
// With no flags it runs a demo that works on a fresh machine: a backup MX
// for example.test on 127.0.0.1:2525 whose recipients are alice@ and
// bob@example.test, relaying to [127.0.0.1]:2526, where it starts a
// stand-in primary that prints what it receives unless something already
// listens there. From the repository's directory:
//
//	go run ./examples/mxrelayd
//	swaks --server 127.0.0.1:2525 --from you@sender.example --to alice@example.test
//
// -listen and -demo-primary choose other ports
// (go run ./examples/mxrelayd -listen 127.0.0.1:3525 -demo-primary
// 127.0.0.1:3526). The banner ends with the command that starts the demo
// again on the same queue, with the flags it was given.
//
// With -config it runs a Postfix main.cf (tables given as hash:, cdb:,
// inline: and the other lookup types):
//
//	mxrelayd -config /etc/postfix/main.cf -listen 0.0.0.0:25 -queue /var/spool/mxrelayd
//
// Flags:
//
//	-config FILE      a Postfix main.cf; without it, the demo
//	-listen ADDR      SMTP listen address, or a comma list (the demo: 127.0.0.1:2525;
//	                  with -config: where the smtpd and postscreen inet services
//	                  of the master.cf beside main.cf listen, each with its -o
//	                  overrides, else port 25 of inet_interfaces, as Postfix)
//	-queue DIR        the queue directory (default: with -config,
//	                  $queue_directory/mxrelay; the demo: a new temporary one);
//	                  postgres://... is refused here: the mxrelayd of
//	                  examples/mxrelayd/all, or mxrelayd-pg, links that queue in
//	-hostname NAME    $myhostname
//	-dns HOST:PORT    send every DNS query to this server, not /etc/resolv.conf's
//	-log-format FORMAT  text (default), json, or postfix: Postfix 3.7's log
//	                  lines (connect, NOQUEUE: reject, client=, message-id=,
//	                  from=, to= ... status=, removed), for pflogsumm
//	-log-output DEST  stderr (default), a file (appended; reopened when
//	                  logrotate renames it), or syslog (the local syslog
//	                  daemon at /dev/log, facility mail; syslog:PATH for
//	                  another socket)
//	-metrics ADDR     serve Prometheus metrics at http://ADDR/metrics
//	-status-log FILE  append one JSON object per delivery attempt per recipient:
//	                  {"queue_id","rcpt","status":"sent|deferred|bounced|expired","dsn","relay","reason"}
//	-check            print each parameter main.cf sets, with its line, as
//	                  used, ignored, not implemented or unknown; load the
//	                  configuration, print the warnings, and exit: 1 if
//	                  mxrelayd would refuse to run it, else 0
//	-accept-unimplemented NAME,...
//	                  main.cf parameters that turn on Postfix features
//	                  mxrelay does not implement (milter_header_checks,
//	                  smtpd_sasl_auth_enable, postscreen_*...) and that you accept
//	                  are not honoured ("all": every one); without it such
//	                  a main.cf is refused, each parameter named
//	-demo-primary ADDR  the demo's primary (default 127.0.0.1:2526)
//
// Queue tools, named and used as Postfix's, work on the queue of a
// running mxrelayd through the control socket in its queue directory
// (mode 0600; only its user or root), and on the queue directly when
// none runs; each takes -queue DIR or -config main.cf:
//
//	mxrelayd mailq -config /etc/postfix/main.cf      # postqueue -p
//	mxrelayd postqueue -j|-f|-s SITE|-i ID ...
//	mxrelayd postsuper -h|-H|-r|-d ID|ALL|- ...      # "-": IDs on standard input
//	mxrelayd postcat -q ID ...
//
// SIGHUP (or "mxrelayd reload -queue DIR") reloads main.cf and every
// table, as "postfix reload": new sessions and deliveries follow the new
// configuration, sessions in progress finish on the old one, and a
// configuration that fails to load keeps the running one (the log says
// why). master.cf's listeners and their -o overrides are read at start:
// changing them needs a restart. Queue parameters (backoff, lifetimes) take effect for new
// deliveries; which destinations were suspended is forgotten, as a
// Postfix reload restarts qmgr.
//
// SIGINT and SIGTERM shut it down gracefully: the message being received
// is finished, the queue stays on disk and is delivered at the next start.
//
// The daemon is package examples/mxrelayd/daemon, so that a command in
// another module can link in table types and queues this module does not
// build: examples/mxrelayd/all adds pgsql:, mysql:, sqlite: and ldap:
// tables and a queue in PostgreSQL shared by several MX hosts (-queue
// postgres://...).
package main

import (
	"os"

	"github.com/mxrelay/mxrelay/examples/mxrelayd/daemon"
)

func main() { os.Exit(daemon.Main(os.Args[1:])) }
