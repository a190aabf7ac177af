package milter

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
)

// Options are what a Session needs besides its milters.
type Options struct {
	// Logger receives the milters' failures (nil: discard).
	Logger *slog.Logger
	// Dial connects to a milter (nil: a net.Dialer).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// MaxBody caps a body a milter replaces, and the header fields it
	// adds or changes (zero: 64 MiB); more is a protocol error, as are
	// more than 10000 envelope changes.
	MaxBody int
}

// Session is the milters of one SMTP session, asked in turn at each
// event as Postfix's milter.c does: the first that decides (refuses,
// discards, holds) ends the event for the rest. It is not safe for
// concurrent use.
type Session struct {
	milters []*milter
	opts    Options
	opened  bool
}

// NewSession returns the session of milters specs; none is contacted
// before Connect.
func NewSession(specs []Spec, opts Options) *Session {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Dial == nil {
		var d net.Dialer
		opts.Dial = d.DialContext
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 64 << 20
	}
	s := &Session{opts: opts}
	for i := range specs {
		s.milters = append(s.milters, &milter{spec: &specs[i], log: opts.Logger})
	}
	return s
}

// each asks the milters in turn; the first reply ends the event.
func (s *Session) each(f func(m *milter) *Reply) Reply {
	for _, m := range s.milters {
		if r := f(m); r != nil {
			return *r
		}
	}
	return Reply{}
}

// Connect connects to the milters and reports the client (SMFIC_CONNECT):
// its name ("unknown" becomes "[addr]", as Postfix sends it), address and
// port. A refusal here stands for the whole session.
func (s *Session) Connect(ctx context.Context, name string, addr netip.Addr, port int, mf MacroFunc) Reply {
	s.opened = true
	return s.each(func(m *milter) *Reply {
		if m.st == stClosed {
			if r := m.open(ctx, s.opts.Dial); m.st == stError {
				return r
			}
		}
		if m.st != stReady {
			return m.defReply
		}
		m.st = stEnvelope
		_, cmd, _ := m.spec.timeouts()
		sm := name
		if sm == "" || sm == "unknown" {
			sm = "[" + addr.String() + "]"
		}
		family := byte('4')
		if addr.Is6() && !addr.Is4In6() {
			family = '6'
		}
		var p [2]byte
		binary.BigEndian.PutUint16(p[:], uint16(port))
		data := append(cstrings(sm), family)
		data = append(data, p[:]...)
		data = append(data, cstrings(addr.Unmap().String())...)
		return m.event(ctx, cmdConnect, pNoConnect, pNRConn, m.macros.Connect, mf, cmd, nil, data)
	})
}

// envelopeOK reports whether a milter takes envelope events.
func envelopeOK(m *milter, helo bool) bool {
	switch m.st {
	case stEnvelope:
		return true
	case stAcceptMsg:
		return helo
	}
	return false
}

// Helo reports HELO or EHLO (SMFIC_HELO).
func (s *Session) Helo(ctx context.Context, helo string, mf MacroFunc) Reply {
	return s.each(func(m *milter) *Reply {
		if !envelopeOK(m, true) {
			return m.defReply
		}
		_, cmd, _ := m.spec.timeouts()
		return m.event(ctx, cmdHelo, pNoHelo, pNRHelo, m.macros.Helo, mf, cmd, nil, cstrings(helo))
	})
}

// Mail reports MAIL FROM (SMFIC_MAIL): args are "<sender>" and the ESMTP
// parameters.
func (s *Session) Mail(ctx context.Context, args []string, mf MacroFunc) Reply {
	return s.each(func(m *milter) *Reply {
		if !envelopeOK(m, true) {
			return m.defReply
		}
		m.st = stEnvelope
		_, cmd, _ := m.spec.timeouts()
		return m.event(ctx, cmdMail, pNoMail, pNRMail, m.macros.Mail, mf, cmd, nil, cstrings(args...))
	})
}

// Unknown reports a command the SMTP server does not know (SMFIC_UNKNOWN,
// protocol 3 and later): verb is its first word, as Postfix sends it. A
// milter past its envelope (it accepted the message, or refused or
// accepted the connection) answers with its standing reply, as
// milter8.c's milter8_unknown_event.
func (s *Session) Unknown(ctx context.Context, verb string, mf MacroFunc) Reply {
	return s.each(func(m *milter) *Reply {
		if m.st != stEnvelope {
			return m.defReply
		}
		_, cmd, _ := m.spec.timeouts()
		return m.event(ctx, cmdUnknown, pNoUnknown, pNRUnkn, m.macros.Unknown, mf, cmd, nil, cstrings(verb))
	})
}

// Rcpt reports RCPT TO (SMFIC_RCPT): args are "<recipient>" and the
// ESMTP parameters.
func (s *Session) Rcpt(ctx context.Context, args []string, mf MacroFunc) Reply {
	return s.each(func(m *milter) *Reply {
		if !envelopeOK(m, false) {
			return m.defReply
		}
		_, cmd, _ := m.spec.timeouts()
		return m.event(ctx, cmdRcpt, pNoRcpt, pNRRcpt, m.macros.Rcpt, mf, cmd, nil, cstrings(args...))
	})
}

// RcptRejected reports a recipient the MTA refused to the milters that
// asked for them at negotiation (SMFIP_RCPT_REJ), as Postfix's smtpd does;
// their replies change nothing.
func (s *Session) RcptRejected(ctx context.Context, args []string, mf MacroFunc) {
	s.each(func(m *milter) *Reply {
		if m.events&pRcptRej == 0 || !envelopeOK(m, false) {
			return nil
		}
		_, cmd, _ := m.spec.timeouts()
		return m.event(ctx, cmdRcpt, pNoRcpt, pNRRcpt, m.macros.Rcpt, mf, cmd, nil, cstrings(args...))
	})
}

// Data reports the DATA command (SMFIC_DATA).
func (s *Session) Data(ctx context.Context, mf MacroFunc) Reply {
	return s.each(func(m *milter) *Reply {
		if !envelopeOK(m, false) {
			return m.defReply
		}
		_, cmd, _ := m.spec.timeouts()
		return m.event(ctx, cmdData, pNoData, pNRData, m.macros.Data, mf, cmd, nil)
	})
}

// EditKind is a change of the envelope a milter asks for.
type EditKind int

const (
	// ChangeSender replaces the envelope sender (SMFIR_CHGFROM).
	ChangeSender EditKind = iota + 1
	// AddRecipient adds a recipient (SMFIR_ADDRCPT, SMFIR_ADDRCPT_PAR).
	AddRecipient
	// DeleteRecipient removes a recipient as the milters saw it at RCPT,
	// with whatever it expanded to (SMFIR_DELRCPT).
	DeleteRecipient
)

// EnvelopeEdit is one change of the envelope, in the order the milters
// asked for them. Address is as the milter sent it (often in <>); Args
// are the ESMTP parameters of ChangeSender and AddRecipient.
type EnvelopeEdit struct {
	Kind    EditKind
	Address string
	Args    string
	Milter  string
}

// Message sends the message to each milter in turn (header fields, end
// of header, body, end of message) and applies the header and body
// changes each asks for to msg before the next milter sees it, as
// Postfix's cleanup does. It returns the decision and the envelope
// changes, in order.
func (s *Session) Message(ctx context.Context, msg *Message, mf MacroFunc) (Reply, []EnvelopeEdit) {
	var edits []EnvelopeEdit
	r := s.each(func(m *milter) *Reply {
		if !envelopeOK(m, false) {
			return m.defReply
		}
		r, e := s.message(ctx, m, msg, mf)
		edits = append(edits, e...)
		return r
	})
	return r, edits
}

func (s *Session) message(ctx context.Context, m *milter, msg *Message, mf MacroFunc) (*Reply, []EnvelopeEdit) {
	_, _, content := m.spec.timeouts()
	m.st = stMessage
	defer func() {
		if m.st == stMessage || m.st == stAcceptMsg {
			m.st = stEnvelope
		}
	}()
	done := func(r *Reply) bool { return r != nil || m.st != stMessage }
	var r *Reply
	lead := m.events&pHdrLeadSpc != 0
	if m.events&pNoHdrs == 0 {
		for _, f := range msg.Fields {
			if f.Hidden {
				continue
			}
			r = m.event(ctx, cmdHeader, pNoHdrs, pNRHdr, m.macros.EOH, mf, content, nil, cstrings(f.Name, f.value(lead)))
			if done(r) {
				return r, nil
			}
		}
	}
	if m.events&pNoEOH == 0 {
		if r = m.event(ctx, cmdEOH, pNoEOH, pNREOH, m.macros.EOH, mf, content, nil); done(r) {
			return r, nil
		}
	}
	if m.events&pNoBody == 0 {
		for b := msg.Body; len(b) > 0; {
			n := min(len(b), chunkSize)
			r = m.event(ctx, cmdBody, pNoBody, pNRBody, m.macros.EOM, mf, content, nil, b[:n])
			if done(r) {
				return r, nil
			}
			b = b[n:]
		}
	}
	ed := editor{m: m, msg: msg, max: s.opts.MaxBody}
	if lead {
		ed.space = ""
	} else {
		ed.space = " "
	}
	r = m.event(ctx, cmdEOB, 0, 0, m.macros.EOM, mf, content, ed.apply)
	if ed.replacing {
		if m.st == stError && (r == nil || r.Kind == Hold) {
			// The milter failed in the middle of a body replacement.
			r = m.decided(replyBodyAbort)
		} else {
			ed.finish()
		}
	}
	return r, ed.env
}

// editor applies one milter's modification requests.
type editor struct {
	m          *milter
	msg        *Message
	space      string
	max        int
	env        []EnvelopeEdit
	replacing  bool
	lockout    bool
	body, line []byte
	added      int // bytes of header fields added or changed
}

// maxEnvelopeEdits caps the envelope changes of one milter for one
// message: past it the milter is broken.
const maxEnvelopeEdits = 10000

// finish ends a body replacement.
func (e *editor) finish() {
	if len(e.line) > 0 {
		e.body = append(append(e.body, e.line...), "\r\n"...)
		e.line = e.line[:0]
	}
	e.msg.Body = e.body
	e.replacing, e.lockout = false, true
}

// apply handles one packet of the end-of-message event: handled false
// for a reply that is not a modification request.
func (e *editor) apply(p packet) (bool, error) {
	if e.replacing && p.code != repReplBody {
		e.finish()
	}
	d := dataReader{b: p.data}
	switch p.code {
	case repAddHeader, repChgHeader, repInsHeader:
		if e.added += len(p.data); e.added > e.max {
			return true, protoErr("header changes larger than %d bytes", e.max)
		}
	case repChgFrom, repAddRcpt, repAddRcptPar, repDelRcpt:
		if len(e.env) >= maxEnvelopeEdits {
			return true, protoErr("more than %d envelope changes", maxEnvelopeEdits)
		}
	}
	switch p.code {
	case repAddHeader:
		name, value := d.str(), d.str()
		if err := d.end(); err != nil {
			return true, err
		}
		e.msg.addHeader(name, e.space, value)
	case repChgHeader, repInsHeader:
		index, name, value := d.uint32(), d.str(), d.str()
		if err := d.end(); err != nil {
			return true, err
		}
		if p.code == repInsHeader {
			if int32(index)+1 < 1 {
				return true, &editError{"bad insert header index: " + strconv.Itoa(int(int32(index)))}
			}
			e.msg.insertHeader(int(index), name, e.space, value)
			break
		}
		if int32(index) < 0 {
			return true, &editError{"bad change header index: " + strconv.Itoa(int(int32(index)))}
		}
		if name == "" {
			return true, &editError{"null change header name"}
		}
		e.msg.changeHeader(int(index), name, e.space, value)
	case repChgFrom, repAddRcptPar:
		addr := d.str()
		var args string
		if len(d.b) > 0 {
			args = d.str()
		}
		if err := d.end(); err != nil {
			return true, err
		}
		k := ChangeSender
		if p.code == repAddRcptPar {
			k = AddRecipient
		}
		e.env = append(e.env, EnvelopeEdit{Kind: k, Address: addr, Args: args, Milter: e.m.spec.Name})
	case repAddRcpt, repDelRcpt:
		addr := d.str()
		if err := d.end(); err != nil {
			return true, err
		}
		k := AddRecipient
		if p.code == repDelRcpt {
			k = DeleteRecipient
		}
		e.env = append(e.env, EnvelopeEdit{Kind: k, Address: addr, Milter: e.m.spec.Name})
	case repReplBody:
		if e.lockout {
			return true, &editError{"body replacement requests can't currently be mixed with other requests"}
		}
		if !e.replacing {
			e.replacing, e.body, e.line = true, nil, nil
		}
		for _, c := range p.data {
			if c == '\n' {
				line := e.line
				if n := len(line); n > 0 && line[n-1] == '\r' {
					line = line[:n-1]
				}
				e.body = append(append(e.body, line...), "\r\n"...)
				e.line = e.line[:0]
				continue
			}
			e.line = append(e.line, c)
		}
		if len(e.body)+len(e.line) > e.max {
			return true, protoErr("replaced body larger than %d bytes", e.max)
		}
	default:
		return false, nil
	}
	return true, nil
}

// editError is a modification request Postfix refuses as a configuration
// error of the milter (milter8_conf_error).
type editError struct{ reason string }

func (e *editError) Error() string { return e.reason }

// Abort ends the transaction for the milters (SMFIC_ABORT): after RSET, a
// refused or finished message, a new MAIL.
func (s *Session) Abort(ctx context.Context) {
	for _, m := range s.milters {
		m.abort(ctx)
	}
}

// Close ends the session for every milter (SMFIC_QUIT) and closes the
// connections.
func (s *Session) Close() {
	for _, m := range s.milters {
		m.quit()
	}
}
