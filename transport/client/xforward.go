package client

import (
	"strings"
)

// xforwardAttrs is the set of XFORWARD attributes a peer announced.
type xforwardAttrs uint8

const (
	xfName xforwardAttrs = 1 << iota
	xfAddr
	xfPort
	xfProto
	xfHelo
	xfIdent
	xfSource
)

// parseXForwardAttrs reads the attribute names after the XFORWARD EHLO
// keyword ("NAME ADDR PROTO HELO"); unknown ones are ignored, as
// smtp_proto.c ignores them.
func parseXForwardAttrs(arg string) xforwardAttrs {
	var a xforwardAttrs
	for _, w := range strings.Fields(arg) {
		switch strings.ToUpper(w) {
		case "NAME":
			a |= xfName
		case "ADDR":
			a |= xfAddr
		case "PORT":
			a |= xfPort
		case "PROTO":
			a |= xfProto
		case "HELO":
			a |= xfHelo
		case "IDENT":
			a |= xfIdent
		case "SOURCE":
			a |= xfSource
		}
	}
	return a
}

// xforwardCommands returns the XFORWARD commands to send before MAIL, as
// Postfix 3.7's smtp_proto.c sends them: one with NAME, ADDR and PORT,
// one with PROTO, HELO, IDENT and SOURCE, each with the attributes that
// the peer announced and the message has (an unknown one is left out,
// not sent as "[UNAVAILABLE]": golden lab xforward), and only when it
// has one of them. None when the client does not send XFORWARD, or the
// peer did not announce it.
func (s *session) xforwardCommands(m *Message) []string {
	ann := s.ext.xforward
	if !s.c.cfg.XForward || m.XForward == nil || ann == 0 {
		return nil
	}
	x := m.XForward
	var out []string
	for _, group := range [][]xforwardAttr{
		{{xfName, "NAME", x.Name}, {xfAddr, "ADDR", x.Addr}, {xfPort, "PORT", x.Port}},
		{{xfProto, "PROTO", x.Proto}, {xfHelo, "HELO", x.Helo}, {xfIdent, "IDENT", x.Ident}, {xfSource, "SOURCE", x.Source}},
	} {
		var b strings.Builder
		for _, a := range group {
			if ann&a.bit == 0 || a.value == "" {
				continue
			}
			if b.Len() == 0 {
				b.WriteString("XFORWARD")
			}
			b.WriteByte(' ')
			b.WriteString(a.name)
			b.WriteByte('=')
			b.WriteString(xforwardQuote(a.value))
		}
		if b.Len() > 0 {
			out = append(out, b.String())
		}
	}
	return out
}

type xforwardAttr struct {
	bit   xforwardAttrs
	name  string
	value string
}

// xforwardQuote xtext-encodes an XFORWARD value as Postfix's smtp_proto.c
// does (xtext_quote_append with no extra specials): "+XX" for '+' and
// for bytes outside 0x21-0x7e; '=' stays as it is (golden lab xforward,
// "HELO=odd+2Bhelo=name.test"). The result is capped at 255 bytes so that
// a command stays within the 512-byte line limit (RFC 5321 section
// 4.5.3.1.4) whatever a client sent as its HELO name.
func xforwardQuote(v string) string { return xtextQuote(v, "", 255) }

// xforwardReply logs a refused XFORWARD, which does not stop the
// delivery: smtp_proto.c only warns ("host ... said: ... (in reply to
// XFORWARD name/address command)").
func (s *session) xforwardReply(r Reply) {
	if !r.Positive() {
		s.c.log.Warn("XFORWARD refused", "host", s.peer(), "reply", r.String())
	}
}
