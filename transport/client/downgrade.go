package client

import (
	"strings"

	"golang.org/x/net/idna"
)

// asciiAddress returns addr with its domain converted to A-labels (RFC
// 5890 section 2.3.2.1; UTS #46 mapping, as transport's resolver asks
// DNS), for a next hop that does not offer SMTPUTF8: "bob@bücher.example"
// becomes "bob@xn--bcher-kva.example", the same mailbox in the form
// RFC 5321 allows without the extension. ok is false when that is not
// possible: a non-ASCII local part, which no conversion preserves, or a
// domain that is not a valid IDN.
//
// This differs from Postfix 3.7 on purpose: its smtp client bounces such
// a recipient with "5.6.7 SMTPUTF8 is required, but was not offered by
// host" when the sender declared SMTPUTF8 (checked against Postfix
// 3.7.11 with a next hop that does not offer SMTPUTF8), although the
// mailbox can be reached without it. A message whose headers need
// SMTPUTF8 still fails 5.6.7, as in Postfix.
func asciiAddress(addr string) (ascii string, ok bool) {
	if isASCII(addr) {
		return addr, true
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || !isASCII(addr[:at]) {
		return "", false
	}
	domain, err := idna.Lookup.ToASCII(addr[at+1:])
	if err != nil || !isASCII(domain) {
		return "", false
	}
	return addr[:at+1] + domain, true
}

// downgradable reports whether addr can go to a next hop without
// SMTPUTF8 (asciiAddress).
func downgradable(addr string) bool {
	_, ok := asciiAddress(addr)
	return ok
}
