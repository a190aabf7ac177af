package smtpdproxy

import (
	"strings"
)

// Client is what XFORWARD tells the filter of the SMTP client
// (smtpd_proxy_connect). An empty field is sent as "[UNAVAILABLE]".
type Client struct {
	Name  string // the verified client name; "" or "unknown": unavailable
	Addr  string // the client address, "IPv6:" before an IPv6 one
	Port  string // the client port
	Helo  string // the HELO or EHLO argument
	Ident string // the queue ID; Postfix has none when proxying
	Proto string // "SMTP" or "ESMTP"
	// Local is set for a client in the "local" rewriting context
	// (local_header_rewrite_clients): DOMAIN=LOCAL, else REMOTE.
	Local bool
}

// The XFORWARD attributes, in smtpd_proxy_connect's order.
const (
	xfName = 1 << iota
	xfAddr
	xfPort
	xfHelo
	xfIdent
	xfProto
	xfDomain
)

var xforwardNames = map[string]int{"NAME": xfName, "ADDR": xfAddr, "PORT": xfPort, "HELO": xfHelo,
	"IDENT": xfIdent, "PROTO": xfProto, "SOURCE": xfDomain}

// unavailable is XFORWARD_UNAVAILABLE.
const unavailable = "[UNAVAILABLE]"

// payloadLimit is smtpd_proxy.c's PAYLOAD_LIMIT: 512 less
// "250 XFORWARD\r\n".
const payloadLimit = 512 - len("250 XFORWARD\r\n")

// xforwardFeatures reads the attributes an EHLO reply's XFORWARD line
// announces.
func xforwardFeatures(lines []string) int {
	feats := 0
	for _, l := range lines {
		words := strings.Fields(strings.TrimLeft(afterCodeWord(l), " "))
		if len(words) == 0 || !strings.EqualFold(words[0], "XFORWARD") {
			continue
		}
		for _, w := range words[1:] {
			feats |= xforwardNames[strings.ToUpper(w)]
		}
	}
	return feats
}

// afterCodeWord is an EHLO line after its first word ("250-"), split as
// mystrtok(&words, "- ").
func afterCodeWord(l string) string {
	i := strings.IndexAny(l, "- ")
	if i < 0 {
		return ""
	}
	return l[i+1:]
}

// xforward returns the XFORWARD commands for the attributes feats
// announces, each at most payloadLimit long as Postfix splits them.
func (c Client) xforward(feats int) []string {
	var cmds []string
	var buf strings.Builder
	add := func(flag int, name, value string, ok bool) {
		if feats&flag == 0 {
			return
		}
		if !ok {
			value = unavailable
		}
		attr := " " + name + "=" + Xtext(value)
		if buf.Len() > 0 && buf.Len()+len(attr) > payloadLimit {
			cmds = append(cmds, "XFORWARD"+buf.String())
			buf.Reset()
		}
		buf.WriteString(attr)
	}
	add(xfName, "NAME", c.Name, c.Name != "" && c.Name != "unknown")
	add(xfAddr, "ADDR", c.Addr, c.Addr != "" && c.Addr != "unknown")
	add(xfPort, "PORT", c.Port, c.Port != "" && c.Port != "unknown")
	add(xfHelo, "HELO", c.Helo, c.Helo != "")
	add(xfIdent, "IDENT", c.Ident, c.Ident != "")
	add(xfProto, "PROTO", c.Proto, c.Proto != "" && c.Proto != "unknown")
	dom := "REMOTE"
	if c.Local {
		dom = "LOCAL"
	}
	add(xfDomain, "SOURCE", dom, true)
	if buf.Len() > 0 {
		cmds = append(cmds, "XFORWARD"+buf.String())
	}
	return cmds
}

// Xtext encodes s as RFC 3461 xtext, as Postfix's xtext_quote: "+"
// and characters outside "!".."~" become "+XX".
func Xtext(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 || c == '+' {
			b.WriteByte('+')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
