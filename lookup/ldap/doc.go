// Package ldap is the ldap: lookup table type: Postfix's ldap_table(5)
// configuration files, answered from an LDAP directory through
// github.com/go-ldap/ldap/v3. It is a module of its own
// (github.com/mxrelay/mxrelay/lookup/ldap), so that programs that do not
// use it never build the client; a program links it in by type name:
//
//	opts := &lookup.OpenOptions{Types: map[string]lookup.OpenFunc{"ldap": ldap.Open}}
//	aliases, err := lookup.Open(ctx, "ldap:/etc/postfix/ldap-aliases.cf", opts)
//	if err != nil {
//		return err // a Config error: a bad file, an unsupported setting
//	}
//	defer lookup.Close(aliases)
//
// # The configuration file
//
// As ldap_table(5): server_host (a list of LDAP URLs, host:port or host
// with server_port, default localhost:389, tried in turn), search_base
// and query_filter with the %-expansions of Postfix's db_common.c (the
// key quoted as Postfix quotes it: RFC 2253 in the base, RFC 2254 in the
// filter, so that "*" in a key never becomes a wildcard), scope (sub, one,
// base), result_attribute, result_format (or the older result_filter),
// domain, expansion_limit, size_limit (default expansion_limit), timeout
// (10s), dereference, bind (yes or no), bind_dn, bind_pw,
// special_result_attribute (its values are DNs or LDAP URLs whose
// entries' results are added, depth first where the attribute stands, a
// DN that does not exist skipped) with recursion_limit (1000); TLS with
// start_tls = yes or ldaps:// URLs, tls_ca_cert_file, tls_ca_cert_dir,
// tls_cert, tls_key, and tls_require_cert (no: the server's certificate
// is not checked, as Postfix's default).
//
// Keys arrive folded to lower case. Every value of every result attribute
// (or of its subtypes, "mail;lang-en" for "mail") of every entry found is
// a result, in the order the server sends them; the results are joined
// with commas. A search base made from the key that does not exist is
// "not found"; a fixed one that does not exist, a failed bind, a server
// that is down or answers too late, more entries than size_limit or more
// results than expansion_limit is a Temporary error (451 4.3.0), never
// "not found". The connection is reused; after a network error it is
// made again once within the lookup, as Postfix does.
//
// # Deliberate differences from Postfix 3.7
//
//   - Refused by name, because they change what a lookup answers or how
//     the connection is secured and are not implemented:
//     terminal_result_attribute and leaf_result_attribute (which entries
//     of a recursion answer), bind = sasl and the
//     sasl_* settings, tls_cipher_suite (an OpenSSL cipher list),
//     chase_referrals = yes. tls_random_file is not needed and ignored.
//   - The protocol is always LDAP version 3; Postfix speaks version 2
//     unless "version = 3" is set. Servers that accept both answer alike.
//   - An unknown scope or bind value is an error, where Postfix warns and
//     uses "sub" or fails at the first lookup.
//   - A name that is not a path (main.cf parameters) is refused.
package ldap
