package relay

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// ReceivedInfo is what the Received: header records about one message.
type ReceivedInfo struct {
	// Helo is the HELO/EHLO argument; empty when the client sent none.
	Helo string
	// ClientName is the client's verified reverse DNS name, "unknown"
	// when there is none (Postfix's wording).
	ClientName string
	// ClientAddr is the client's IP address.
	ClientAddr netip.Addr
	// Hostname is $myhostname.
	Hostname string
	// MailName is $mail_name, "Postfix" by default.
	MailName string
	// Protocol is SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA, or the UTF8SMTP
	// forms.
	Protocol string
	// TLS is the connection state when STARTTLS was used.
	TLS *tls.ConnectionState
	// QueueID is the message's queue ID; empty when there is none (a
	// message passed to a before-queue filter): no "id" clause, as
	// Postfix's smtpd without a cleanup stream.
	QueueID string
	// Recipients are the accepted recipients; with exactly one, the
	// header names it ("for <rcpt>").
	Recipients []string
	// Time is the arrival time.
	Time time.Time
}

// Received returns the Received: header field smtpd prepends, in Postfix
// 3.7's form (smtpd.c), with its final CRLF:
//
//	Received: from HELO (NAME [ADDR])
//		by HOSTNAME (Postfix) with ESMTP id QUEUEID
//		for <rcpt>; Tue, 24 Nov 2026 19:10:36 +0000 (UTC)
//
// With several recipients the "id" line ends with ";" and the date is on
// a line of its own.
func Received(ri ReceivedInfo) string {
	var b strings.Builder
	name := ri.ClientName
	if name == "" {
		name = "unknown"
	}
	helo := ri.Helo
	if helo == "" {
		helo = name
	}
	mailName := ri.MailName
	if mailName == "" {
		mailName = "Postfix"
	}
	proto := ri.Protocol
	if proto == "" {
		proto = "ESMTP"
	}
	fmt.Fprintf(&b, "Received: from %s (%s [%s])\r\n", sanitizeHeader(helo), sanitizeHeader(name), rfcAddr(ri.ClientAddr))
	if ri.TLS != nil {
		fmt.Fprintf(&b, "\t(using %s with cipher %s)\r\n", tlsVersionName(ri.TLS.Version), tls.CipherSuiteName(ri.TLS.CipherSuite))
	}
	date := MailDate(ri.Time)
	if len(ri.Recipients) == 1 {
		if ri.QueueID == "" {
			fmt.Fprintf(&b, "\tby %s (%s) with %s\r\n", ri.Hostname, mailName, proto)
		} else {
			fmt.Fprintf(&b, "\tby %s (%s) with %s id %s\r\n", ri.Hostname, mailName, proto, ri.QueueID)
		}
		fmt.Fprintf(&b, "\tfor <%s>; %s\r\n", sanitizeHeader(ri.Recipients[0]), date)
	} else {
		if ri.QueueID == "" {
			fmt.Fprintf(&b, "\tby %s (%s) with %s;\r\n", ri.Hostname, mailName, proto)
		} else {
			fmt.Fprintf(&b, "\tby %s (%s) with %s id %s;\r\n", ri.Hostname, mailName, proto, ri.QueueID)
		}
		fmt.Fprintf(&b, "\t%s\r\n", date)
	}
	return b.String()
}

// MailDate formats t as Postfix's mail_date does for Received: and
// Date: headers: "Tue,  3 Nov 2026 19:10:36 +0000 (UTC)" (day padded with
// a space).
func MailDate(t time.Time) string {
	return t.Format("Mon, _2 Jan 2006 15:04:05 -0700 (MST)")
}

// rfcAddr is the address as Postfix writes it in brackets: IPv6 with the
// "IPv6:" tag of RFC 5321.
func rfcAddr(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	a = a.Unmap()
	if a.Is6() {
		return "IPv6:" + a.WithZone("").String()
	}
	return a.String()
}

// sanitizeHeader keeps a peer-supplied string from breaking the header:
// control characters become '?', and it is capped.
func sanitizeHeader(s string) string {
	const max = 255
	if len(s) > max {
		s = s[:max]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return fmt.Sprintf("TLS 0x%04x", v)
}

func receivedProtocol(base string, tlsOn, utf8 bool) string {
	p := base
	if tlsOn && p == "ESMTP" {
		p = "ESMTPS"
	}
	if utf8 {
		p = "UTF8" + strings.TrimPrefix(p, "E")
	}
	return p
}
