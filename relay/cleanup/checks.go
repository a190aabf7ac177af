package cleanup

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"slices"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/relay/maillog"
)

// Verdict is what header_checks and body_checks decided about a message
// (Cleanup.Check).
type Verdict struct {
	// Reject is the reply of a REJECT action (550 5.7.1 "message content
	// rejected" by default; 451 with a 4.x.x text): the message must not
	// be queued.
	Reject *Error
	// Discard: DISCARD. The message is answered as queued and dropped.
	Discard bool
	// Hold: HOLD. The message goes to the hold queue.
	Hold bool
	// Redirect is the address of a REDIRECT: the message goes there
	// instead of to its recipients.
	Redirect string
	// Bcc are the addresses of BCC actions, added as recipients.
	Bcc []string
	// Filter is the "transport:destination" of the last FILTER action:
	// the message goes to that content filter instead of its
	// recipients' routes, as Postfix's cleanup writes it into the queue
	// file's FILTER record (overriding content_filter).
	Filter string
}

// ChecksContent reports whether header_checks or body_checks are
// configured, so that callers can skip Check.
func (cl *Cleanup) ChecksContent() bool {
	return cl != nil && len(cl.c.HeaderChecks)+len(cl.c.BodyChecks) > 0
}

// Check reads a message (CRLF lines) and applies header_checks to each
// header field and body_checks to each body line that starts within
// BodyChecksSizeLimit bytes of its body part, as Postfix's
// cleanup_message.c with its MIME parser (mime_state.c): the primary
// header by header_checks, the headers of multipart parts (and Content-*
// and MIME-Version fields anywhere) by mime_header_checks, the headers of
// attached messages (message/rfc822) by nested_header_checks; boundary
// lines and the empty line that ends a header are body lines. The actions are REJECT, DISCARD, HOLD, REDIRECT, BCC,
// WARN, INFO, IGNORE and STRIP, PREPEND, REPLACE, PASS, FILTER, DUNNO
// and OK; after REJECT, DISCARD, REDIRECT or PASS no further line is
// checked. It returns the message as it is to be queued (with the empty
// line Postfix puts where a header ends without one), and the verdict. A
// table failure refuses the message (451 4.3.0), as Postfix's cleanup.
// Each action is logged as a maillog.Content event describing msg.
func (cl *Cleanup) Check(ctx context.Context, msg Message, r io.Reader) ([]byte, Verdict, error) {
	c := &checker{cl: cl, ctx: ctx, m: msg, on: true, set: checkSet{
		header: cl.c.HeaderChecks, mime: cl.c.MIMEHeaderChecks, nested: cl.c.NestedHeaderChecks, body: cl.c.BodyChecks}}
	return c.run(r)
}

// run reads a message and checks each header field and body line with
// the checker's set of tables.
func (c *checker) run(r io.Reader) ([]byte, Verdict, error) {
	m := mimeState{inHeader: true, primary: true, off: c.cl.c.NoMIME}
	br := bufio.NewReader(r)
	var field []string // the current header field's lines, without CRLF
	for {
		line, err := br.ReadString('\n')
		if line == "" && err != nil {
			if err != io.EOF {
				return nil, c.v, err
			}
			break
		}
		text := strings.TrimRight(line, "\r\n")
		if m.inHeader {
			if len(field) > 0 && text != "" && (text[0] == ' ' || text[0] == '\t') {
				field = append(field, text)
				continue
			}
			if err := c.header(field, m.section()); err != nil {
				return nil, c.v, err
			}
			m.field(field)
			field = field[:0]
			switch {
			case text == "":
				m.endHeader()
			case isBodyLine(text, false):
				// A line that is no header field ends the header
				// (Postfix's is_header); the primary header gets the
				// empty line it lacks.
				if m.primary {
					if err := c.body("", 0); err != nil {
						return nil, c.v, err
					}
				}
				m.inHeader, m.primary, m.inNested = false, false, false
			default:
				field = append(field, text)
				continue
			}
		} else {
			m.boundary(text)
		}
		if err := c.body(text, m.offset); err != nil {
			return nil, c.v, err
		}
		m.offset += len(text) + 1
	}
	if err := c.header(field, m.section()); err != nil {
		return nil, c.v, err
	}
	return c.out.Bytes(), c.v, nil
}

// mimeState follows the MIME structure of a message as Postfix's
// mime_state.c: which header section a line is in, the multipart
// boundaries, and the offset in the current body part.
type mimeState struct {
	off      bool // disable_mime_input_processing
	inHeader bool
	inNested bool        // the header section is an attached message's
	primary  bool        // the header section is the message's own
	nested   bool        // the section's type is message/rfc822 or message/global
	stack    []mimeLevel // open multiparts, innermost last
	offset   int         // bytes of the current body part so far
}

type mimeLevel struct {
	boundary string
	digest   bool
}

// field notes the Content-Type of a header field.
func (m *mimeState) field(lines []string) {
	if len(lines) == 0 || m.off {
		return
	}
	name, value, _ := strings.Cut(strings.Join(lines, " "), ":")
	if !strings.EqualFold(strings.TrimSpace(name), "content-type") {
		return
	}
	typ, params, _ := strings.Cut(value, ";")
	major, minor, _ := strings.Cut(strings.ToLower(strings.TrimSpace(typ)), "/")
	major, minor = strings.TrimSpace(major), strings.TrimSpace(minor)
	m.nested = major == "message" && (minor == "rfc822" || minor == "global")
	if major != "multipart" {
		return
	}
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(p, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "boundary") {
			v = strings.TrimSpace(v)
			if len(v) >= 2 && v[0] == '"' {
				if end := strings.IndexByte(v[1:], '"'); end >= 0 {
					v = v[1 : end+1]
				}
			}
			if v != "" {
				m.stack = append(m.stack, mimeLevel{v, minor == "digest"})
			}
			return
		}
	}
}

// endHeader is the empty line after a header section: an attached
// message's header follows, or a body part.
func (m *mimeState) endHeader() {
	m.offset, m.primary = 0, false
	if m.nested {
		// The attached message's header starts now.
		m.nested, m.inNested = false, true
		return
	}
	m.inHeader, m.inNested = false, false
}

// boundary notes a body line that is a boundary of an open multipart:
// "--b" starts a part's header, "--b--" closes the multipart.
func (m *mimeState) boundary(text string) {
	if len(m.stack) == 0 || !strings.HasPrefix(text, "--") {
		return
	}
	for i := len(m.stack) - 1; i >= 0; i-- {
		b := m.stack[i].boundary
		if !strings.HasPrefix(text[2:], b) {
			continue
		}
		m.stack = m.stack[:i+1]
		if strings.HasPrefix(text[2+len(b):], "--") {
			m.stack = m.stack[:i]
			return
		}
		// A part: its header follows; a digest's parts are messages.
		m.inHeader, m.inNested, m.nested = true, false, m.stack[i].digest
		return
	}
}

// checker carries one message's inspection.
type checker struct {
	cl  *Cleanup
	ctx context.Context
	m   Message
	set checkSet
	out bytes.Buffer
	v   Verdict
	on  bool // checks still apply (Postfix's CLEANUP_FLAG_FILTER)
}

// Header sections, as Postfix's MIME_HDR_PRIMARY, MIME_HDR_MULTIPART and
// MIME_HDR_NESTED.
const (
	sectionPrimary = iota
	sectionMultipart
	sectionNested
)

// section is the kind of the current header section.
func (m *mimeState) section() int {
	switch {
	case m.primary:
		return sectionPrimary
	case m.inNested:
		return sectionNested
	}
	return sectionMultipart
}

// mimeHeaders are the header names Postfix flags HDR_OPT_MIME: in any
// section they are checked by mime_header_checks.
var mimeHeaders = []string{"content-description", "content-disposition", "content-id", "content-transfer-encoding", "content-type", "mime-version"}

// header checks one header field of a section with header_checks,
// mime_header_checks or nested_header_checks, and writes what is to be
// kept.
func (c *checker) header(lines []string, section int) error {
	if len(lines) == 0 {
		return nil
	}
	text := strings.Join(lines, "\n")
	name, _, _ := strings.Cut(text, ":")
	if slices.Contains(mimeHeaders, strings.ToLower(strings.TrimSpace(name))) {
		section = sectionMultipart
	}
	tables, param := c.set.header, c.set.prefix+"header_checks"
	switch section {
	case sectionMultipart:
		tables, param = c.set.mime, c.set.prefix+"mime_header_checks"
	case sectionNested:
		tables, param = c.set.nested, c.set.prefix+"nested_header_checks"
	}
	out, keep, err := c.act(tables, param, "header", text)
	if err != nil {
		return err
	}
	if keep {
		for _, l := range strings.Split(out, "\n") {
			c.out.WriteString(l + "\r\n")
		}
	}
	return nil
}

// body checks one body line (offset: where it starts in the body).
func (c *checker) body(text string, offset int) error {
	out, keep := text, true
	if offset < c.cl.c.BodyChecksSizeLimit {
		var err error
		if out, keep, err = c.act(c.set.body, c.set.prefix+"body_checks", "body", text); err != nil {
			return err
		}
	}
	if keep {
		c.out.WriteString(out + "\r\n")
	}
	return nil
}

// act looks text up in tables and carries out the action found, as
// cleanup_act: the text to write and whether to write it.
func (c *checker) act(tables []lookup.Table, param, context, text string) (string, bool, error) {
	if !c.on || len(tables) == 0 {
		return text, true, nil
	}
	res, found, err := lookup.Search(c.ctx, tables, []lookup.Key{{Key: text, Kind: lookup.KeyAddress}})
	if err != nil {
		return "", false, c.cl.tableFailure(c.m.QueueID, param, clip(text, 100), err)
	}
	if !found {
		return text, true, nil
	}
	verb, arg, _ := strings.Cut(strings.TrimLeft(res.Value, " \t"), " ")
	arg = strings.TrimLeft(arg, " \t")
	if i := strings.IndexAny(verb, "\t"); i >= 0 {
		verb, arg = verb[:i], strings.TrimLeft(verb[i:]+" "+arg, " \t")
	}
	logAct := func(action, why string) {
		if c.set.delivery {
			c.cl.log.Info(maillog.DeliveryContent, c.m.deliveryAttrs(action, context, clip(text, 60), why)...)
			return
		}
		c.cl.log.Info(maillog.Content, c.m.actionAttrs(action, context, clip(text, 200), why)...)
	}
	upper := strings.ToUpper(verb)
	if c.set.delivery && !deliveryActions[upper] {
		// header_body_checks.c: a delivery agent's checks cannot
		// change where or whether the message goes.
		c.cl.log.Warn("unsupported command in " + param + " map: " + res.Value)
		return text, true, nil
	}
	switch upper {
	case "REJECT":
		reason := "5.7.1 message content rejected"
		if arg != "" {
			reason = prependDSN("5.7.1", arg)
		}
		code := 550
		if reason[0] == '4' {
			code = 451
		}
		c.v.Reject = &Error{Code: code, Status: reason[:strings.IndexByte(reason, ' ')], Message: reason[strings.IndexByte(reason, ' ')+1:], Why: param + " REJECT"}
		c.on = false
		logAct("reject", reason)
	case "WARN":
		logAct("warning", arg)
	case "INFO":
		logAct("info", arg)
	case "FILTER":
		// cleanup_act.c: the last valid FILTER wins.
		switch {
		case arg == "":
			c.cl.log.Warn("missing FILTER command argument in " + param + " map")
		case !strings.Contains(arg, ":"):
			c.cl.log.Warn("bad FILTER command " + arg + " in " + param + " -- need transport:destination")
		default:
			c.v.Filter = arg
			logAct("filter", arg)
		}
	case "PASS":
		logAct("pass", arg)
		c.on = false
	case "DISCARD":
		logAct("discard", arg)
		c.v.Discard, c.on = true, false
	case "HOLD":
		if !c.v.Hold && !c.v.Discard {
			logAct("hold", arg)
			c.v.Hold = true
		}
	case "PREPEND":
		if c.validText("PREPEND", arg, param, context) {
			logAct("prepend", arg)
			c.out.WriteString(arg + "\r\n")
		}
	case "REPLACE":
		if c.validText("REPLACE", arg, param, context) {
			logAct("replace", arg)
			return arg, true, nil
		}
	case "REDIRECT":
		if !strings.Contains(arg, "@") {
			c.cl.log.Warn("bad REDIRECT target \"" + arg + "\" in " + param + " map -- need user@domain")
			break
		}
		c.v.Redirect, c.on = arg, false
		logAct("redirect", arg)
	case "BCC":
		if !strings.Contains(arg, "@") {
			c.cl.log.Warn("bad BCC address \"" + arg + "\" in " + param + " map -- need user@domain")
			break
		}
		c.v.Bcc = append(c.v.Bcc, arg)
		logAct("bcc", arg)
	case "STRIP":
		logAct("strip", arg)
		return "", false, nil
	case "IGNORE":
		return "", false, nil
	case "DUNNO", "OK":
	default:
		c.cl.log.Warn("unknown command in " + param + " map: " + res.Value)
	}
	return text, true, nil
}

// validText reports whether the text of a PREPEND or REPLACE action can
// be used (a "name: value" header in header context), with Postfix's
// warning when it cannot.
func (c *checker) validText(verb, arg, param, context string) bool {
	switch {
	case arg == "":
		c.cl.log.Warn(verb + " action without text in " + param + " map")
	case context == "header" && !isHeaderText(arg):
		c.cl.log.Warn("bad " + verb + " header text \"" + arg + "\" in " + param + " map -- need \"headername: headervalue\"")
	default:
		return true
	}
	return false
}

// prependDSN gives text an enhanced status code (def when it has none),
// as Postfix's dsn_prepend; a code that is not 4.x.x or 5.x.x becomes
// 4.x.x, as cleanup_act makes it.
func prependDSN(def, text string) string {
	code, rest, _ := strings.Cut(text, " ")
	if !isDSN(code) {
		return def + " " + text
	}
	if code[0] != '4' && code[0] != '5' {
		code = "4" + code[1:]
	}
	return code + " " + rest
}

// isDSN reports whether s is an RFC 3463 code: digit.1-3 digits.1-3 digits.
func isDSN(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// isHeaderText reports whether s is "name: value", as Postfix's
// is_header.
func isHeaderText(s string) bool {
	name, _, ok := strings.Cut(s, ":")
	return ok && name != "" && !strings.ContainsAny(name, " \t")
}
