// Package proxyproto reads the HAProxy PROXY protocol header, version 1
// (a text line) and version 2 (binary), that a load balancer or NAT
// device sends ahead of the SMTP stream so that an MX behind it learns
// the real client's address and port. It reads the header as Postfix
// 3.7's smtpd(8) and postscreen(8) do with
// "smtpd_upstream_proxy_protocol = haproxy" (src/global/haproxy_srvr.c),
// following https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt.
//
// Read takes a v1 line ("PROXY TCP4 ...", "PROXY TCP6 ...", "PROXY
// UNKNOWN") or a v2 header (PROXY command for TCP over IPv4 or IPv6, or
// LOCAL command), told apart by the first byte. A LOCAL command (the
// proxy's own health check) and UNKNOWN give a Header with Local set: the
// connection's own addresses apply. v2 TLVs are skipped. IPv4-mapped IPv6
// addresses are unmapped. NewConn wraps the connection so that RemoteAddr
// and LocalAddr report the header's addresses; Handshake does both within
// a time limit.
//
// # How relay uses it
//
// With "smtpd_upstream_proxy_protocol = haproxy" in main.cf, relay is to
// read a header on every connection of the listener before it says
// anything, within smtpd_upstream_proxy_timeout (default 5s,
// DefaultTimeout), and take the header's Source as the client's address
// for logging, Received: headers, mynetworks, smtpd_client_restrictions
// and per-client limits. Like Postfix, it then requires every connection
// on that port to send the header: there is no guessing whether one is there (the spec forbids it,
// since any client could then claim any address). A client that sends
// none is cut off when the time limit ends, and one that sends a bad one
// at once; Postfix's smtpd says "421 4.3.0 myhostname Server local error"
// and hangs up, postscreen says "421 4.3.2 No system resources". Whoever
// can reach that port can claim to be any client, so only the proxy must
// reach it (firewall it); Postfix has no list of hosts allowed to send
// the header.
//
// # Worked example
//
// A load balancer relays a client at 192.0.2.1 port 4711 that connected
// to 198.51.100.1 port 25, and sends first
//
//	PROXY TCP4 192.0.2.1 198.51.100.1 4711 25\r\n
//
// (or the same addresses as a v2 header: the 12-byte signature, 0x21 for
// version 2 and PROXY, 0x11 for TCP over IPv4, a 2-byte length of 12, the
// two addresses and the two ports). The server reads it before its
// greeting:
//
//	pc, err := proxyproto.Handshake(c, proxyproto.DefaultTimeout)
//	if err != nil {
//		// *proxyproto.Error: Truncated with io.EOF is a TCP health check
//		// that connected and closed; os.ErrDeadlineExceeded is a client
//		// that sent no header in time.
//		log.Printf("%s: %v", c.RemoteAddr(), err)
//		fmt.Fprintf(c, "421 4.3.0 %s Server local error\r\n", hostname)
//		c.Close()
//		return
//	}
//	pc.RemoteAddr() // 192.0.2.1:4711, the client
//	pc.LocalAddr()  // 198.51.100.1:25, where it connected to
//	// Serve SMTP on pc: "220 ..." goes out, and reads start with the
//	// client's first command, even if it came in the header's packet.
//
// With a *bufio.Reader of its own, a server calls Read under its own
// deadline, then NewConn:
//
//	c.SetReadDeadline(time.Now().Add(proxyproto.DefaultTimeout))
//	br := bufio.NewReader(c)
//	h, err := proxyproto.Read(br)
//	if err != nil { ... }       // as above
//	c.SetReadDeadline(time.Time{})
//	pc := proxyproto.NewConn(c, br, h) // reads continue from br
//
// # Differences from Postfix 3.7
//
// Read follows the spec where Postfix is more lenient, and is more
// lenient where the spec allows it:
//
//   - v1: Postfix splits the line at any run of spaces and CRs, ends it
//     at a bare LF, ignores fields after the sixth, takes "tcp4" in any
//     case and searches up to 536 bytes for the LF. Read wants exactly
//     one space between fields, CRLF, exactly six fields, "TCP4" or
//     "TCP6" in upper case, and CRLF within MaxV1Length (107) bytes.
//   - v1 IPv4 addresses: Postfix takes leading zeros ("01.02.03.04",
//     read as 1.2.3.4) and refuses 0.x.y.z other than 0.0.0.0; Read
//     refuses leading zeros, as the spec says (they could be octal), and
//     takes 0.x.y.z. Ports are as Postfix's valid_hostport: decimal,
//     0..65535, no leading zero. IPv6 addresses with a zone are refused.
//   - v1 UNKNOWN: Postfix 3.7 refuses it ("bad or missing protocol type":
//     it would sidestep address-based access control). Read accepts it,
//     as the spec asks, and returns Version 1 with Local set; a caller
//     that wants Postfix's behaviour refuses that Header.
//   - Timing: Postfix waits smtpd_upstream_proxy_timeout for the first
//     byte, then takes the header from one peek at what has arrived, so
//     a header split over two TCP segments fails. Read reads exactly the
//     header's bytes however they are split, until the deadline the
//     caller set.
//   - inet_protocols: Postfix refuses a header of a family that
//     inet_protocols disables, and unmaps ::ffff:a.b.c.d only when IPv4
//     is enabled. Read takes both families and always unmaps; applying
//     inet_protocols is the caller's part.
//
// As in Postfix: v2 is at most MaxV2Length (536) bytes, version must be
// 2 and the command LOCAL or PROXY; LOCAL ignores the family and address
// block; PROXY takes TCP over IPv4 or IPv6 only (UDP, AF_UNIX and
// AF_UNSPEC are Unsupported); an address block longer than the family
// needs carries TLVs, skipped unread.
package proxyproto
