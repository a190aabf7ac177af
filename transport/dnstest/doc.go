// Package dnstest runs an in-process DNS server on the loopback interface
// for tests: it serves zones given as Go values or as zone-file text over UDP
// and TCP on the same port of 127.0.0.1, and can be told to fail on purpose
// (SERVFAIL, no answer at all, a truncated UDP answer, REFUSED).
//
// It answers like a recursive resolver that already knows every record: a
// query for a name that owns a CNAME gets the CNAME chain followed by the
// target's records, a name that exists without records of the asked type gets
// NODATA (NOERROR, empty answer, the zone's SOA when one was given), and any
// other name gets NXDOMAIN.
//
//	srv, err := dnstest.Start()
//	if err != nil { ... }
//	defer srv.Close()
//	err = srv.AddZone(`
//	$ORIGIN example.org.
//	@    300 IN MX 10 mx1
//	mx1  300 IN A  127.0.0.2
//	`)
//	srv.SetFault("example.org", dns.TypeMX, dnstest.ServFail)
//	// point a resolver at srv.Addr()
//
// Over UDP, an answer larger than the client's buffer (its EDNS0 size, else
// 512 bytes) is cut and marked truncated, as a real server does, so clients
// must retry over TCP (RFC 7766); Queries and Count show which transport
// each question used.
//
// The server never contacts any other host and never touches the process's
// resolver configuration.
//
// # Deliberate differences from a real resolver
//
// There is no recursion, no DNSSEC and no wildcard expansion; the SOA of
// the closest enclosing zone given is put in negative answers so that
// negative caching (RFC 2308) can be tested.
package dnstest
