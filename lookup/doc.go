// Package lookup implements Postfix-compatible lookup tables, the key orders
// Postfix uses to search them, Postfix list parameters, and address classes.
// It is the bottom of mxrelay: policy and transport build on it.
//
// # Tables
//
// A Table answers one question: Lookup(ctx, key) returns the value, whether
// it was found, and an error when the table could not answer. An error is
// never "not found": it is an *Error whose Kind is Temporary (Postfix
// answers 451 4.3.0) or Config (451 4.3.5), and callers must defer the mail,
// never bounce it. An empty value is a Config error, as in Postfix's maps.c.
//
// Open makes a table from a Postfix spec:
//
//	hash:/etc/postfix/relay_recipients   the postmap source, held in memory
//	texthash:/etc/postfix/x              the same
//	btree:, lmdb:, dbm:/etc/postfix/x    the same: the source, not the built file
//	proxy:hash:/etc/postfix/x            hash:/etc/postfix/x (proxymap has nothing to share in-process)
//	socketmap:inet:127.0.0.1:9999:name   a Sendmail socketmap server (or socketmap:unix:/path:name)
//	tcp:127.0.0.1:9999                   a tcp_table(5) server
//	cdb:/etc/postfix/transport           transport.cdb, as postmap cdb: makes it
//	inline:{ a.example=OK, { b.example = relay:[10.0.0.1] } }
//	static:OK                            every key finds OK
//	cidr:/etc/postfix/clients.cidr       networks, first match wins
//	regexp:/etc/postfix/header_checks    regexp_table(5) on RE2
//	pcre:/etc/postfix/header_checks      pcre_table(5): back-references, look-around (regexp2)
//	unix:passwd.byname                   local users
//
// OpenOptions.Types is the registry of the table types one program links
// in beyond the built-ins, without global state. The types that need a
// database driver (pgsql:, mysql:, sqlite:, ldap:) live in nested modules
// (github.com/mxrelay/mxrelay/lookup/pgsql...), so that a program that
// does not use them never builds their drivers; it links them in here
// ({"pgsql": pgsql.Open}), and so can your own types ("http:"). NewMap builds an in-memory table from Go
// values, and TableFunc turns any function into a Table. Tables of your
// own receive keys folded (lower case), as Postfix gives keys to its
// fixed-key tables: a TableFunc over a map of lower-case addresses
// matches "Bob@Example.COM" (Folded, KeysAsGiven). Each of their lookups
// is bounded (Bounded, OpenOptions.LookupTimeout, 10s by default): a
// stalled backend answers a Temporary error, which SMTP turns into 451.
//
// File-backed tables reload themselves when their file changes (at most one
// stat per second, OpenOptions.ReloadInterval); a reload that fails keeps
// the previous contents and is reported through the logger and Err.
// Only regular files are read: a FIFO, device or socket in a table file's
// place (or named in a list) is refused at once, never opened for reading,
// so it cannot block. A reload runs outside any lock that lookups wait on:
// the lookup that starts it waits at most OpenOptions.ReloadTimeout, the
// others answer from the previous contents meanwhile.
//
// # The postmap source format
//
// ParseText reads postmap's source format exactly (postmap(1), "INPUT FILE
// FORMAT"): a line starting with white space continues the previous one
// and keeps that white space; comments and blank lines are invisible, also
// inside a continuation; the key ends at the first unquoted white space (a
// colon is not a separator); quoted keys keep their quotes; keys are folded
// with Unicode full case folding (FoldKey: "Straße" and "STRASSE" are one
// key); the first of duplicate keys wins; non-UTF-8 lines are skipped; a
// NUL byte ends its line, as in postmap's C strings. Every
// skipped line gives a Warning worded as postmap words it. Compile writes a
// cdb file byte for byte identical to "postmap cdb:" for the same source and
// flags.
//
// # Key orders
//
// Postfix does not look an address up once: it derives keys and tries them
// in an order that depends on the table's role. The Append*Keys functions
// produce those orders, and Search tries them over several tables
// pattern-major (every table for the first key before any table for the
// second), stopping at the first hit or the first table error:
//
//	AppendTransportKeys  transport_maps (transport(5)): user+ext@d, user@d, d, parents, *
//	AppendAccessKeys     check_*_access (access(5)): user+ext@d, user@d, d, parents, user+ext@, user@
//	AppendRecipientKeys  relay_recipient_maps and other recipient maps (mail_addr_find.c):
//	                     user+ext@d, user@d, [user+ext, user for local domains], @d
//	AppendDomainKeys     a domain and its parents, parent or dot style
//	                     (parent_domain_matches_subdomains)
//
// Extensions are split at recipient_delimiter (SplitExtension, as Postfix's
// strip_addr.c), and localparts that need quoting are looked up in quoted
// form first (QuoteLocal, as mail_addr_find.c).
//
// # Lists and address classes
//
// ParseList reads a list parameter (relay_domains, mydestination,
// mynetworks...): names, /file/name, type:table, !exclusions; a '#' token
// ends the list. With ListOptions.ParentStyle (the parameter is listed in
// parent_domain_matches_subdomains) "example.com" also matches its
// subdomains and ".example.com" matches nothing (surprising, but what
// Postfix's match_ops.c does; see TestListParentAndDotStyle); without it
// "example.com" matches only itself and ".example.com" its subdomains.
// Domains.Class gives a domain's address class as trivial-rewrite's
// resolve.c does: local, alias, virtual, relay or default, first match
// wins.
//
// # Example
//
// A backup MX checks a recipient against relay_recipient_maps:
//
//	tab, err := lookup.Open(ctx, "cdb:/etc/postfix/relay_recipients", nil)
//	if err != nil {
//		return err // a Config error: the table is missing or corrupt
//	}
//	keys := lookup.AppendRecipientKeys(nil, "user1+tag@backup.example",
//		lookup.KeyOptions{Delimiters: "+"})
//	r, found, err := lookup.Search(ctx, []lookup.Table{tab}, keys)
//	switch {
//	case err != nil:
//		// 451 4.3.0 (or 4.3.5 for lookup.KindOf(err) == lookup.Config)
//	case !found:
//		// 550 5.1.1 ... User unknown in relay recipient table
//	default:
//		_ = r.Key // which key matched: user1@backup.example, or @backup.example
//	}
//
// # Deliberate differences from Postfix 3.7
//
//   - hash:, btree:, lmdb: and dbm: tables are read from their source
//     file, never from the file postmap builds (Berkeley DB, LMDB, DBM,
//     whose formats Go cannot read without reimplementing them or linking
//     C); opening hash:F when only F.db exists is an error that says so.
//   - proxy:TYPE:NAME opens TYPE:NAME in-process; Postfix's proxymap(8)
//     also refuses tables not listed in proxy_read_maps, which mxrelay
//     does not check.
//   - Tables reload when their file changes; Postfix daemons reopen them
//     only when they restart.
//   - An empty value is always a Config error. Postfix 3.7.11 crashes on
//     one in a cdb file made by another tool.
//   - regexp: tables run on Go's RE2. Patterns RE2 cannot run
//     (back-references, look-around), the "x" flag (POSIX basic syntax),
//     and constructs that Postfix's POSIX regcomp and RE2 both accept but
//     read differently (an escaped letter other than \w \W \s \S \b \B,
//     a backslash inside [...], a non-greedy quantifier such as "*?", a
//     collating element [.x.]) are errors when the table loads, so a
//     table never silently matches differently. One difference remains:
//     "." and bracket expressions match one UTF-8 character in RE2 but one
//     byte in Postfix (C locale), so /^m.n$/ matches "mén" here and not in
//     Postfix. As in Postfix, a rule with an unknown flag, an out-of-range
//     $n, a reference that is not a number ($1x, ${x}, a lone $) or a $n
//     in a negated rule is skipped with a warning; a stray ENDIF is
//     ignored and an IF without ENDIF guards the rest of the file
//     (warnings); a rule without a result loads, but a key it matches is a
//     Config error.
//   - pcre: tables run on github.com/dlclark/regexp2 with PCRE's byte
//     semantics (see PCRETable); the constructs it cannot honour (\h \v
//     \R \K, recursion, verbs, inline (?U), non-ASCII characters
//     in a case-insensitive pattern...) fail the table when it loads,
//     naming the construct. A match that backtracks for more than 100ms
//     is a Temporary error, where PCRE2's optimizations may answer at
//     once or its match limit makes the rule not match (warning).
//   - cidr: a rule Postfix skips with a warning (not an address, host bits
//     set: "perhaps you should use ... instead") is an error at load, so
//     a network list never silently loses a line. IPv4-mapped patterns
//     (::ffff:192.0.2.0/120) stay IPv6 and bracketed keys are not found,
//     as in Postfix.
//   - A key that is not valid UTF-8 is not found and a non-UTF-8 value is
//     a Config error, as Postfix with smtputf8_enable=yes, but without
//     Postfix's "non-UTF-8 key" log line.
//   - Address literals ("[192.0.2.1]") have no parent domains in key orders.
//   - unix: tables read /etc/passwd and /etc/group directly, not NSS.
//   - Listing (postmap -s) works for cdb: tables too.
//   - socketmap: and tcp: lookups are bounded by OpenOptions.LookupTimeout
//     (10s) where Postfix waits 100s, and a tcp: server that is down fails
//     the lookup at once where Postfix retries ten times a second apart.
//     Each table keeps its own connections (at most 16 open, 4 idle),
//     where Postfix shares one per server among a process's tables.
//
// Postfix source files cited are those of Postfix 3.7 (src/util,
// src/global, src/trivial-rewrite, src/smtpd). Postfix parameters:
// recipient_delimiter, owner_request_special,
// parent_domain_matches_subdomains, smtputf8_enable
// (on), relay_domains, mydestination, virtual_alias_domains,
// virtual_mailbox_domains, mynetworks, inet_interfaces, proxy_interfaces.
package lookup
