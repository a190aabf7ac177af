package client

import (
	"strings"
)

// firstWord returns the first word of a reply's first line: the name a
// peer gives in its greeting or EHLO reply. Words end at a space, a tab
// or "=", as Postfix's smtp_proto.c splits EHLO lines.
func firstWord(r Reply) string {
	if len(r.Lines) == 0 {
		return ""
	}
	w, _, _ := strings.Cut(strings.TrimLeft(r.Lines[0], " \t"), " ")
	w, _, _ = strings.Cut(w, "\t")
	w, _, _ = strings.Cut(w, "=")
	return w
}

// warnGreetingLoop logs a peer whose banner starts with this host's name,
// as Postfix's smtp_proto.c does; only the EHLO reply decides (checkLoop).
func (s *session) warnGreetingLoop(r Reply) {
	if s.t.LoopDetect && strings.EqualFold(firstWord(r), s.c.cfg.MyHostname) {
		s.c.log.Warn("host " + s.namaddrport() + " greeted me with my own hostname " + s.c.cfg.MyHostname)
	}
}

// checkLoop fails a session whose peer answered EHLO with this host's own
// name (Postfix smtp_proto.c, on port 25 only: Target.LoopDetect): at a
// best MX the recipients fail with 5.4.6, elsewhere they are deferred
// with 4.4.6 and offered to the next address. A peer reached with HELO is
// not checked, as in Postfix.
func (s *session) checkLoop() *Error {
	t := &s.t
	if !t.LoopDetect || s.helo != StageEHLO || !strings.EqualFold(s.ehlo, s.c.cfg.MyHostname) {
		return nil
	}
	s.c.log.Warn("host " + s.namaddrport() + " replied to HELO/EHLO with my own hostname " + s.c.cfg.MyHostname)
	s.broken = true
	nexthop := t.Nexthop
	if nexthop == "" {
		nexthop = t.Host
	}
	enh, temporary := EnhancedCode{5, 4, 6}, false
	if !t.BestMX {
		enh, temporary = EnhancedCode{4, 4, 6}, true
	}
	return localError(KindLoop, StageEHLO, temporary, enh, "mail for "+nexthop+" loops back to myself", nil, t)
}

// namaddrport names the peer as Postfix's warnings do:
// "mx.example.com[192.0.2.1]:25".
func (s *session) namaddrport() string {
	p, port := namaddr(s.t.Host, s.t.Address)
	if port != "" {
		p += ":" + port
	}
	return p
}
