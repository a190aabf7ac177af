// Package maincf is mxrelay's one reader of Postfix's main.cf, and its
// registry of parameters.
//
// A File holds what a main.cf sets, in file order with line numbers, and
// answers every other parameter with Postfix 3.7's default for the file's
// compatibility_level. Values are expanded as Postfix's mac_expand does
// ("$name", "${name?text}", "${name:text}", "${name?{t}:{f}}" and the
// "${{a} <level {b} ? {t} : {f}}" comparisons Postfix 3.7 writes its
// compatibility defaults with), and read through typed readers: Bool
// (yes/no, as mail_conf_bool), Int (as mail_conf_int), Duration (a bare
// number takes the unit of the parameter's default, as mail_conf_time),
// List (Postfix's mystrtokq, "{...}" groups kept whole) and Origin
// (myorigin, reading /etc/mailname as Debian's Postfix does).
//
// The registry is generated from "postconf -d" (go generate runs
// internal/genparams), so it knows every parameter Postfix knows, with
// its default; per-service parameters (SERVICE_destination_concurrency_limit)
// are known for the services of the master.cf beside main.cf (Debian's
// default services when there is none). Classify sorts every parameter a
// file sets into one of four kinds:
//
//   - Used: mxrelay reads it (UsedBy says which part), or a used
//     parameter refers to it with $name, or it defines a restriction
//     class.
//   - Ignored: Postfix knows it and a relay can run without it (biff,
//     local delivery, daemon tuning).
//   - Unimplemented: it turns on a Postfix feature that changes how mail
//     flows and that mxrelay does not implement (remote_header_rewrite_domain,
//     milter_header_checks, postscreen_*, smtpd_sasl_auth_enable,
//     smtp_sasl_auth_enable, smtp_tls_security_level = dane, client rate
//     limits...). Refuse makes it an error unless the admin accepts, by
//     name, that it is not honoured.
//   - Unknown: Postfix does not know it either and would log "unused
//     parameter" (a typo: Suggestion names the nearest known parameter).
//
// Deliberate differences from Postfix: a logical line that is not
// "name = value" is an error, as it is for Postfix's daemons (postconf
// only warns); parameters are never read from the environment or the
// command line.
//
// # Worked example
//
// Check a main.cf as "mxrelayd -check" does, then read typed values:
//
//	cf, err := maincf.Load("/etc/postfix/main.cf")
//	if err != nil { ... }       // unreadable, or a line that is not name = value
//	params := cf.Classify()
//	for _, p := range params {
//		if p.Kind != maincf.Used {
//			fmt.Println(p.Kind, p)  // "unknown relay_domain = x: unused parameter ... (did you mean relay_domains?)"
//		}
//	}
//	if err := cf.Refuse(params, nil); err != nil { ... } // names each unimplemented parameter
//	life, err := cf.Duration("maximal_queue_lifetime")  // "7" means 7 days
//
// relay.Load does all of this and builds each package's typed
// configuration from the File.
package maincf
