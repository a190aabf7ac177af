package smtpd

import (
	"strconv"
	"strings"
)

// ehloReply is the EHLO reply: the keywords Postfix 3.7 announces, in its
// order, less those of smtpd_discard_ehlo_keywords (Config.DiscardEHLOKeywords).
func (c *conn) ehloReply() *Reply {
	lines := []string{c.cfg.Hostname}
	add := func(keyword, text string) {
		if !c.cfg.discarded(keyword) {
			lines = append(lines, text)
		}
	}
	add("PIPELINING", "PIPELINING")
	if c.cfg.SizeLimit > 0 {
		add("SIZE", "SIZE "+strconv.FormatInt(c.cfg.SizeLimit, 10))
	} else {
		add("SIZE", "SIZE")
	}
	if !c.cfg.DisableVRFY {
		add("VRFY", "VRFY")
	}
	add("ETRN", "ETRN")
	if c.cfg.TLS != nil && !c.tlsReady {
		add("STARTTLS", "STARTTLS")
	}
	if c.client.XForward {
		add("XFORWARD", xforwardKeyword)
	}
	add("ENHANCEDSTATUSCODES", "ENHANCEDSTATUSCODES")
	add("8BITMIME", "8BITMIME")
	add("DSN", "DSN")
	if !c.cfg.NoSMTPUTF8 {
		add("SMTPUTF8", "SMTPUTF8")
	}
	add("CHUNKING", "CHUNKING")
	return reply(250, "", strings.Join(lines, "\n"))
}
