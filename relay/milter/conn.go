package milter

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"
)

// state is a milter's state in a session, as milter8.c's MILTER8_STAT_*.
type state int

const (
	stClosed    state = iota // not connected yet
	stReady                  // connected and negotiated
	stEnvelope               // in a session
	stMessage                // receiving message content
	stAcceptCon              // accepted the connection: no more events
	stRejectCon              // refused the connection: its reply stands
	stAcceptMsg              // accepted (or discarded) the message
	stError                  // failed: its default action stands
)

// milter is the client of one milter in one SMTP session.
type milter struct {
	spec *Spec
	log  *slog.Logger

	conn net.Conn
	r    *bufio.Reader
	w    []byte

	st        state
	defReply  *Reply // the reply to every event until it changes (milter8's def_reply)
	version   uint32
	actions   uint32 // what it may ask for
	events    uint32 // events it does not want, replies it will not send
	npMask    uint32 // events its protocol version does not have
	skipEvent byte   // SMFIR_SKIP: skip further events of this type
	macros    Macros
	rbuf      []byte      // the last packet read
	unwatch   func() bool // stops watching the session's context
}

// setDefault sets the reply that stands.
func (m *milter) setDefault(r *Reply) *Reply {
	if r != nil {
		c := *r
		c.Milter = m.spec.Name
		r = &c
	}
	m.defReply = r
	return r
}

// fail closes the connection after a communication error and applies
// the default action (milter8_comm_error).
func (m *milter) fail(ctx context.Context, what string, err error) *Reply {
	m.log.LogAttrs(ctx, slog.LevelWarn, "milter failed", slog.String("milter", m.spec.Name), slog.String("event", what), slog.Any("err", err))
	m.close()
	m.st = stError
	switch m.spec.DefaultAction {
	case Accept:
		return m.setDefault(nil)
	case Reject:
		return m.setDefault(&replyUnavail)
	case Quarantine:
		return m.setDefault(&Reply{Kind: Hold, Reason: "default_action"})
	}
	return m.setDefault(&replyTempfail)
}

// confError is a milter's reply that is well-formed but wrong (a bad
// header index, a malformed reply code): milter8_conf_error.
func (m *milter) confError(ctx context.Context, what string, err error) *Reply {
	r := m.fail(ctx, what, err)
	if r != nil && r.Kind == Refuse {
		return m.setDefault(&replyConfError)
	}
	return r
}

func (m *milter) close() {
	if m.unwatch != nil {
		m.unwatch()
		m.unwatch = nil
	}
	if m.conn != nil {
		m.conn.Close()
		m.conn = nil
	}
}

// read reads a packet into the milter's buffer: its data is valid until
// the next read.
func (m *milter) read() (packet, error) {
	p, buf, err := readPacketBuf(m.r, m.rbuf)
	m.rbuf = buf
	return p, err
}

// deadline sets the connection's deadline for one exchange: timeout from
// now, or the context's deadline, whichever is first. The context of
// Connect is watched for the whole session (watch).
func (m *milter) deadline(ctx context.Context, timeout time.Duration) {
	d := time.Now().Add(timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	if ctx.Err() != nil {
		d = time.Unix(1, 0) // watch has fired already
	}
	m.conn.SetDeadline(d)
}

// watch ends every exchange with the milter at once when ctx is done.
func (m *milter) watch(ctx context.Context) {
	c := m.conn
	m.unwatch = context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
}

// open connects and negotiates (milter8_connect).
func (m *milter) open(ctx context.Context, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *Reply {
	connTO, cmdTO, _ := m.spec.timeouts()
	dctx, cancel := context.WithTimeout(ctx, connTO)
	conn, err := dial(dctx, m.spec.Network, m.spec.Address)
	cancel()
	if err != nil {
		return m.fail(ctx, "connect", err)
	}
	m.conn, m.r = conn, bufio.NewReaderSize(conn, 4096)
	m.watch(ctx)
	version := uint32(m.spec.Version)
	var proto uint32
	switch version {
	case 2:
		proto = protoV2
	case 3:
		proto = protoV3
	case 4:
		proto = protoV4
	default:
		version, proto = 6, protoV6
	}
	if m.spec.NoHeaderReply {
		proto |= pNRHdr
	}
	m.npMask = noSend &^ proto
	m.deadline(ctx, cmdTO)
	var b [12]byte
	binary.BigEndian.PutUint32(b[0:], version)
	binary.BigEndian.PutUint32(b[4:], allActions)
	binary.BigEndian.PutUint32(b[8:], proto)
	m.w = appendPacket(m.w[:0], cmdOptNeg, b[:])
	if _, err := m.conn.Write(m.w); err != nil {
		return m.fail(ctx, "negotiate", err)
	}
	p, err := m.read()
	if err != nil {
		return m.fail(ctx, "negotiate", err)
	}
	if p.code != cmdOptNeg {
		return m.fail(ctx, "negotiate", protoErr("unexpected reply %q in initial handshake", p.code))
	}
	d := dataReader{b: p.data}
	m.version, m.actions, m.events = d.uint32(), d.uint32(), d.uint32()
	if d.err != nil {
		return m.fail(ctx, "negotiate", d.err)
	}
	if m.version > version {
		return m.fail(ctx, "negotiate", protoErr("protocol version %d conflict with MTA protocol version %d", m.version, version))
	}
	if m.actions&allActions != m.actions {
		return m.fail(ctx, "negotiate", protoErr("request mask %#x conflict with MTA request mask %#x", m.actions, allActions))
	}
	// An older milter gets only the events of its version.
	switch {
	case m.version >= 6:
	case m.version >= 4:
		m.npMask |= noSend &^ protoV4
	case m.version == 3:
		m.npMask |= noSend &^ protoV3
	default:
		m.npMask |= noSend &^ protoV2
	}
	m.macros = m.spec.Macros
	for len(d.b) > 0 && d.err == nil {
		stage, list := d.uint32(), d.str()
		if d.err != nil {
			break
		}
		names := strings.Fields(list)
		switch stage {
		case 0:
			m.macros.Connect = names
		case 1:
			m.macros.Helo = names
		case 2:
			m.macros.Mail = names
		case 3:
			m.macros.Rcpt = names
		case 4:
			m.macros.Data = names
		case 5:
			m.macros.EOM = names
		case 6:
			m.macros.EOH = names
		default:
			m.log.Warn("milter: ignoring unknown macro type", "milter", m.spec.Name, "type", stage)
		}
	}
	if d.err != nil {
		return m.fail(ctx, "negotiate", d.err)
	}
	m.st = stReady
	m.setDefault(nil)
	m.skipEvent = 0
	return nil
}

// MacroFunc gives a macro's value by its name as configured ("i",
// "{client_addr}"); ok false leaves it out.
type MacroFunc func(name string) (value string, ok bool)

// appendMacros appends the SMFIC_MACRO packet of an event, if any macro
// of names has a value.
func appendMacros(b []byte, event byte, names []string, f MacroFunc) []byte {
	if len(names) == 0 || f == nil {
		return b
	}
	var data []byte
	for _, n := range names {
		v, ok := f(n)
		if !ok {
			continue
		}
		if data == nil {
			data = append(data, event)
		}
		data = append(data, n...)
		data = append(data, 0)
		data = append(data, v...)
		data = append(data, 0)
	}
	if data == nil {
		return b
	}
	return appendPacket(b, cmdMacro, data)
}

// event sends one event and reads the milter's decision (milter8_event):
// skipFlag is the SMFIP_NO* flag of the event, noReply its SMFIP_NR_*
// flag. edit receives the modification requests at the end of the
// message.
func (m *milter) event(ctx context.Context, cmd byte, skipFlag, noReply uint32, macros []string, mf MacroFunc, timeout time.Duration, edit func(packet) (bool, error), data ...[]byte) *Reply {
	if skipFlag&m.npMask != 0 {
		return m.defReply
	}
	if m.skipEvent != 0 {
		if cmd == m.skipEvent {
			return m.defReply
		}
		m.skipEvent = 0
	}
	m.w = appendMacros(m.w[:0], cmd, macros, mf)
	skipped := skipFlag&m.events != 0
	if !skipped {
		m.w = appendPacket(m.w, cmd, data...)
	}
	if len(m.w) == 0 {
		return m.defReply
	}
	m.deadline(ctx, timeout)
	if _, err := m.conn.Write(m.w); err != nil {
		return m.fail(ctx, eventName(cmd), err)
	}
	if skipped || noReply&m.events != 0 {
		return m.defReply
	}
	for {
		p, err := m.read()
		if err != nil {
			return m.fail(ctx, eventName(cmd), err)
		}
		if edit != nil {
			handled, err := edit(p)
			if err != nil {
				var pe *ProtocolError
				if errors.As(err, &pe) {
					return m.fail(ctx, eventName(cmd), err)
				}
				return m.confError(ctx, eventName(cmd), err)
			}
			if handled {
				continue
			}
		}
		switch p.code {
		case repProgress:
			if len(p.data) != 0 {
				return m.fail(ctx, eventName(cmd), protoErr("reply %q followed by %d data bytes", p.code, len(p.data)))
			}
			// Still working: a new timeout.
			m.deadline(ctx, timeout)
			continue
		case repContinue, repAccept, repDiscard, repReject, repTempfail, repShutdown, repSkip:
			if len(p.data) != 0 {
				return m.fail(ctx, eventName(cmd), protoErr("reply %q followed by %d data bytes", p.code, len(p.data)))
			}
		}
		connEvent := cmd == cmdConnect || cmd == cmdHelo
		switch p.code {
		case repContinue:
			return m.defReply
		case repAccept:
			if connEvent {
				m.st = stAcceptCon
			} else {
				m.st = stAcceptMsg
			}
			return m.defReply
		case repDiscard:
			if connEvent {
				m.log.Warn("milter: DISCARD action is not allowed for connect or helo", "milter", m.spec.Name)
				return m.defReply
			}
			m.st = stAcceptMsg
			return m.decided(Reply{Kind: Discard})
		case repReject:
			return m.refuse(connEvent, replyRejected)
		case repTempfail:
			return m.refuse(connEvent, replyTempfail)
		case repShutdown:
			m.st = stRejectCon
			return m.setDefault(&Reply{Kind: Shutdown})
		case repReplyCode:
			r, ok := ParseReplyCode(string(p.data))
			if !ok {
				return m.confError(ctx, eventName(cmd), protoErr("malformed reply %q", truncate(string(p.data))))
			}
			return m.refuse(connEvent, r)
		case repQuarantine:
			reason := strings.TrimSuffix(string(p.data), "\x00")
			if len(reason) > 100 {
				reason = reason[:100]
			}
			m.setDefault(&Reply{Kind: Hold, Reason: reason})
			continue
		case repSkip:
			m.skipEvent = cmd
			return m.defReply
		}
		return m.fail(ctx, eventName(cmd), protoErr("unexpected filter response %q after event %s", p.code, eventName(cmd)))
	}
}

// decided returns a reply for this event only.
func (m *milter) decided(r Reply) *Reply {
	r.Milter = m.spec.Name
	return &r
}

// refuse is a reject, tempfail or reply code: for the connection (and
// every later event) at connect and HELO, else for this event.
func (m *milter) refuse(connEvent bool, r Reply) *Reply {
	if connEvent {
		m.st = stRejectCon
		return m.setDefault(&r)
	}
	return m.decided(r)
}

// quit ends the milter's session (SMFIC_QUIT) and closes the connection.
func (m *milter) quit() {
	if m.conn == nil {
		return
	}
	m.conn.SetDeadline(time.Now().Add(time.Second))
	m.conn.Write(appendPacket(nil, cmdQuit))
	m.close()
}

// abort cancels the milter's message state (SMFIC_ABORT).
func (m *milter) abort(ctx context.Context) {
	switch m.st {
	case stEnvelope, stMessage, stAcceptMsg:
	default:
		return
	}
	_, cmdTO, _ := m.spec.timeouts()
	m.deadline(ctx, cmdTO)
	if _, err := m.conn.Write(appendPacket(m.w[:0], cmdAbort)); err != nil {
		m.fail(ctx, "abort", err)
		return
	}
	m.st = stEnvelope
}

func eventName(cmd byte) string {
	switch cmd {
	case cmdConnect:
		return "connect"
	case cmdHelo:
		return "helo"
	case cmdMail:
		return "mail"
	case cmdRcpt:
		return "rcpt"
	case cmdData:
		return "data"
	case cmdHeader:
		return "header"
	case cmdEOH:
		return "end of header"
	case cmdBody:
		return "body"
	case cmdEOB:
		return "end of message"
	case cmdUnknown:
		return "unknown command"
	}
	return fmt.Sprintf("%q", cmd)
}

func truncate(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}
