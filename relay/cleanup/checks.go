package cleanup

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
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
}

// ErrFilter is the cause of the 451 4.3.5 refusal of a message that a
// FILTER action matched: mxrelay has no content filters, and relaying the
// message unfiltered would pass what the configuration sends for
// inspection.
var ErrFilter = errors.New("the FILTER action of header_checks and body_checks is not implemented (no content filters)")

// ChecksContent reports whether header_checks or body_checks are
// configured, so that callers can skip Check.
func (cl *Cleanup) ChecksContent() bool {
	return cl != nil && len(cl.c.HeaderChecks)+len(cl.c.BodyChecks) > 0
}

// Check reads a message (CRLF lines) and applies header_checks to each
// field of its header and body_checks to each body line that starts
// within BodyChecksSizeLimit bytes of the body, as Postfix's
// cleanup_message.c: the actions REJECT, DISCARD, HOLD, REDIRECT, BCC,
// WARN, INFO, IGNORE and STRIP, PREPEND, REPLACE, PASS, DUNNO and OK. After
// REJECT, DISCARD, REDIRECT or PASS no further line is checked. It
// returns the message as it is to be queued, and the verdict. FILTER
// refuses the message (451 4.3.5, ErrFilter); a table failure too (451
// 4.3.0), as Postfix's cleanup.
//
// Deliberate difference: mxrelay does not parse MIME, so the headers of
// MIME parts and attached messages are body lines here (body_checks),
// where Postfix checks them with mime_header_checks and
// nested_header_checks.
func (cl *Cleanup) Check(ctx context.Context, queueID string, r io.Reader) ([]byte, Verdict, error) {
	c := &checker{cl: cl, ctx: ctx, queueID: queueID, on: true}
	br := bufio.NewReader(r)
	var field []string // the current header field's lines, without CRLF
	inHeader := true
	var bodyOffset int
	for {
		line, err := br.ReadString('\n')
		if line == "" && err != nil {
			if err != io.EOF {
				return nil, c.v, err
			}
			break
		}
		text := strings.TrimRight(line, "\r\n")
		if inHeader {
			if len(field) > 0 && text != "" && (text[0] == ' ' || text[0] == '\t') {
				field = append(field, text)
				continue
			}
			if err := c.header(field); err != nil {
				return nil, c.v, err
			}
			field = field[:0]
			if text == "" || isBodyLine(text, false) {
				inHeader = false
				if text == "" {
					c.out.WriteString(line)
					continue
				}
				// A line that is no header field starts the body
				// (Postfix's is_header).
				bodyOffset = 0
				if err := c.body(text, bodyOffset); err != nil {
					return nil, c.v, err
				}
				bodyOffset += len(text) + 1
				continue
			}
			field = append(field, text)
			continue
		}
		if err := c.body(text, bodyOffset); err != nil {
			return nil, c.v, err
		}
		bodyOffset += len(text) + 1
	}
	if inHeader {
		if err := c.header(field); err != nil {
			return nil, c.v, err
		}
	}
	return c.out.Bytes(), c.v, nil
}

// checker carries one message's inspection.
type checker struct {
	cl      *Cleanup
	ctx     context.Context
	queueID string
	out     bytes.Buffer
	v       Verdict
	on      bool // checks still apply (Postfix's CLEANUP_FLAG_FILTER)
}

// header checks one header field and writes what is to be kept.
func (c *checker) header(lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	text := strings.Join(lines, "\n")
	out, keep, err := c.act(c.cl.c.HeaderChecks, "header_checks", "header", text)
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
		if out, keep, err = c.act(c.cl.c.BodyChecks, "body_checks", "body", text); err != nil {
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
		return "", false, c.cl.tableFailure(c.queueID, param, clip(text, 100), err)
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
		msg := c.queueID + ": " + action + ": " + context + " " + clip(text, 200)
		if why != "" {
			msg += ": " + why
		}
		c.cl.log.Info(msg, "queue_id", c.queueID, "action", action)
	}
	switch strings.ToUpper(verb) {
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
		logAct("filter", arg)
		c.cl.log.Error(c.queueID+": "+param+": FILTER "+arg+": content filters are not implemented; message refused", "queue_id", c.queueID)
		return "", false, &Error{Code: 451, Status: "4.3.5", Message: "Server configuration error", Why: param + " FILTER " + arg, Err: ErrFilter}
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
