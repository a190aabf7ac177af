package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Deliver runs one session to t for m: it reuses an idle connection to the
// same (nexthop, address) when there is one (after RSET), or dials. It
// always returns a Result with one entry per recipient. The error is nil
// when the session completed (recipients may still have been refused one by
// one), else the session-level *Error also found in Result.Err, or
// ErrClosed.
//
// Deliver does not try other addresses: the caller applies Postfix's
// try-next-address rules (smtp_connect.c, smtp_trouble.c) across the
// addresses of a nexthop, with Result.Pending, Error.NextAddress and
// Error.RetryWithoutTLS.
func (c *Client) Deliver(ctx context.Context, t Target, m *Message) (*Result, error) {
	res := &Result{Host: t.Host, Addr: t.Address, Recipients: make([]RecipientResult, len(m.Recipients))}
	for i, r := range m.Recipients {
		res.Recipients[i].Recipient = r.Address
	}
	if c.isClosed() {
		return res, ErrClosed
	}
	active, e := c.checkEnvelope(&t, m, res)
	if e != nil {
		return res, e
	}
	if len(active) == 0 {
		return res, nil
	}
	bp := c.scanBufs.Get().(*[]byte)
	ci, err := scanContent(m.Body, m.Size, *bp)
	c.scanBufs.Put(bp)
	if err != nil {
		e := localError(KindMessage, StageNone, true, EnhancedCode{4, 3, 0}, "error reading message content", err, &t)
		return res, res.failSession(active, e)
	}
	tx := &txn{m: m, ci: ci, active: active, res: res}
	tx.setUTF8()
	for {
		s := c.checkout(&t)
		reused := s != nil
		if s == nil {
			var e *Error
			if s, e = c.open(ctx, t); e != nil {
				return res, res.failSession(active, e)
			}
		}
		if reused {
			// The session was opened for another destination of the
			// same address: its EHLO name still decides (checkLoop).
			if e := s.checkLoop(); e != nil {
				s.close(true)
				return res, res.failSession(active, e)
			}
		}
		res.Established, res.TLS, res.Reused = true, s.tls, reused
		release := s.tc.bind(ctx)
		stale, e := s.transact(tx, reused)
		if release() {
			s.broken = true
		}
		if stale {
			// The cached connection died while idle: nothing was
			// accepted on it; try the next idle one or a new one.
			s.broken = true
			s.close(false)
			c.log.Debug("stale cached connection", "host", t.Host, "addr", t.Address)
			continue
		}
		c.checkin(s)
		c.log.Debug("session done", "host", t.Host, "addr", t.Address, "reused", reused,
			"tls", s.tls, "err", e)
		if e != nil {
			res.Err = e
			return res, e
		}
		return res, nil
	}
}

// checkEnvelope fails recipients that cannot be sent and returns the rest.
func (c *Client) checkEnvelope(t *Target, m *Message, res *Result) ([]int, error) {
	bad := func(enh EnhancedCode, text string) *Error {
		return localError(KindMessage, StageNone, false, enh, text, nil, t)
	}
	var e *Error
	switch {
	case !validAddress(m.From):
		e = bad(EnhancedCode{5, 1, 7}, fmt.Sprintf("bad sender address syntax: %q", m.From))
	case m.Ret != "" && !strings.EqualFold(m.Ret, "FULL") && !strings.EqualFold(m.Ret, "HDRS"):
		e = bad(EnhancedCode{5, 5, 4}, fmt.Sprintf("invalid DSN RET value %q", m.Ret))
	case len(m.EnvID) > 100:
		e = bad(EnhancedCode{5, 5, 4}, "DSN ENVID longer than 100 characters")
	case m.Size < 0 || (m.Size > 0 && m.Body == nil):
		e = bad(EnhancedCode{5, 3, 0}, "message has no content")
	}
	all := make([]int, len(m.Recipients))
	for i := range all {
		all[i] = i
	}
	if e != nil {
		return nil, res.failSession(all, e)
	}
	active := all[:0]
	for i, r := range m.Recipients {
		switch {
		case !validAddress(r.Address) || r.Address == "":
			res.fail(i, bad(EnhancedCode{5, 1, 3}, fmt.Sprintf("bad recipient address syntax: %q", r.Address)))
		case r.Notify != "" && !validNotify(r.Notify):
			res.fail(i, bad(EnhancedCode{5, 5, 4}, fmt.Sprintf("invalid DSN NOTIFY value %q", r.Notify)))
		case !validAddress(r.ORcpt) || !validAddrType(r.ORcptType):
			res.fail(i, bad(EnhancedCode{5, 5, 4}, fmt.Sprintf("invalid DSN ORCPT value %q", r.ORcpt)))
		default:
			active = append(active, i)
		}
	}
	return active, nil
}

func (r *Result) fail(i int, e *Error) {
	rr := &r.Recipients[i]
	rr.Err = e
	rr.Status = Failed
	if e.Temporary() {
		rr.Status = Deferred
	}
	if e.Reply != nil {
		rr.Reply = *e.Reply
	}
}

// failSession applies a session-level error to the recipients idx and
// returns it.
func (r *Result) failSession(idx []int, e *Error) *Error {
	for _, i := range idx {
		r.fail(i, e)
	}
	r.Err = e
	return e
}

// txn is one message's state across session attempts.
type txn struct {
	m        *Message
	ci       contentInfo
	wantUTF8 bool // an address is not ASCII: use SMTPUTF8 where offered
	needUTF8 bool // SMTPUTF8 cannot be done without (see asciiAddress)
	active   []int
	res      *Result
}

// setUTF8 sets wantUTF8 and needUTF8 from the message and its active
// recipients. An address with UTF-8 only in its domain makes SMTPUTF8
// wanted, not needed: without it, the domain goes as A-labels
// (asciiAddress).
func (tx *txn) setUTF8() {
	m := tx.m
	want := !isASCII(m.From)
	need := m.SMTPUTF8 && tx.ci.utf8Header || !downgradable(m.From)
	for _, i := range tx.active {
		a := m.Recipients[i].Address
		want = want || !isASCII(a)
		need = need || !downgradable(a)
	}
	tx.wantUTF8, tx.needUTF8 = want || need, need
}

// utf8 reports whether the transaction uses SMTPUTF8 (RFC 6531): the
// next hop offers it and the sender asked for it or an address needs it.
func (s *session) utf8(tx *txn) bool {
	return s.ext.smtputf8 && (tx.m.SMTPUTF8 || tx.wantUTF8)
}

// address is an envelope address as the transaction sends it: as is with
// SMTPUTF8, else with its domain in A-labels. transact has refused the
// transaction before this when that cannot be done (needUTF8).
func (s *session) address(tx *txn, addr string) string {
	if s.utf8(tx) {
		return addr
	}
	if a, ok := asciiAddress(addr); ok {
		return a
	}
	return addr
}

func (s *session) mailCommand(tx *txn) string {
	m := tx.m
	var b strings.Builder
	b.WriteString("MAIL FROM:<")
	b.WriteString(s.address(tx, m.From))
	b.WriteByte('>')
	if s.ext.size && tx.ci.size > 0 {
		b.WriteString(" SIZE=")
		b.WriteString(strconv.FormatInt(tx.ci.size, 10))
	}
	if s.ext.eightBit && (m.EightBit || tx.ci.eightBit) {
		b.WriteString(" BODY=8BITMIME")
	}
	if s.utf8(tx) {
		b.WriteString(" SMTPUTF8")
	}
	if s.ext.dsn {
		if m.Ret != "" {
			b.WriteString(" RET=")
			b.WriteString(strings.ToUpper(m.Ret))
		}
		if m.EnvID != "" {
			b.WriteString(" ENVID=")
			b.WriteString(xtext(m.EnvID))
		}
	}
	return b.String()
}

func (s *session) rcptCommand(tx *txn, r *Recipient) string {
	var b strings.Builder
	b.WriteString("RCPT TO:<")
	b.WriteString(s.address(tx, r.Address))
	b.WriteByte('>')
	if s.ext.dsn {
		if r.Notify != "" {
			b.WriteString(" NOTIFY=")
			b.WriteString(strings.ToUpper(r.Notify))
		}
		if r.ORcpt != "" {
			typ := r.ORcptType
			ascii := isASCII(r.ORcpt)
			if typ == "" {
				typ = "rfc822"
				if !ascii {
					typ = "utf-8"
				}
			}
			b.WriteString(" ORCPT=")
			b.WriteString(typ)
			b.WriteByte(';')
			if strings.EqualFold(typ, "utf-8") {
				b.WriteString(utf8AddrText(r.ORcpt, s.utf8(tx)))
			} else {
				b.WriteString(xtext(r.ORcpt))
			}
		}
	}
	return b.String()
}

// transact runs one mail transaction on s. stale reports that a reused
// connection failed its RSET: nothing happened and the caller should retry
// on another connection.
func (s *session) transact(tx *txn, reused bool) (stale bool, e *Error) {
	to := &s.c.timeouts
	t := &s.t
	res := tx.res
	if tx.needUTF8 && !s.ext.smtputf8 {
		e := localError(KindMessage, StageMail, false, EnhancedCode{5, 6, 7},
			fmt.Sprintf("SMTPUTF8 is required, but was not offered by host %s", s.peer()), nil, t)
		return false, res.failSession(tx.active, e)
	}
	if s.ext.sizeLimit > 0 && tx.ci.size > s.ext.sizeLimit {
		e := localError(KindMessage, StageMail, false, EnhancedCode{5, 3, 4},
			fmt.Sprintf("message size %d exceeds size limit %d of server %s", tx.ci.size, s.ext.sizeLimit, s.peer()), nil, t)
		return false, res.failSession(tx.active, e)
	}
	useBDAT := s.c.cfg.Chunking && s.ext.chunking
	pipe := s.ext.pipelining
	m := tx.m

	// The commands. With PIPELINING, RSET, MAIL and RCPT go out in groups
	// (RFC 2920: DATA ends the last group) of at most pipelineWindow
	// bytes; the replies to a group are read before the next is written.
	if reused {
		s.bw.WriteString("RSET\r\n")
		if !pipe {
			if stale := s.rset(); stale != nil {
				return stale.Kind != KindCanceled, stale
			}
		}
	}
	xf := s.xforwardCommands(m)
	if !pipe {
		for _, cmd := range xf {
			r, e := s.cmd(StageMail, to.XForward, cmd)
			if e != nil {
				return false, res.failSession(tx.active, e)
			}
			s.xforwardReply(r)
		}
	} else {
		for _, cmd := range xf {
			s.bw.WriteString(cmd)
			s.bw.WriteString("\r\n")
		}
	}
	s.bw.WriteString(s.mailCommand(tx))
	s.bw.WriteString("\r\n")
	if !pipe {
		if e := s.flush(StageMail, to.Mail); e != nil {
			return false, res.failSession(tx.active, e)
		}
	}

	var accepted []int
	var acceptedReplies []Reply // for a Probe
	// rcptReply records the reply to the RCPT of tx.active[n]; a non-nil
	// result ends the transaction.
	rcptReply := func(n int, r Reply, e *Error) *Error {
		if e == nil && r.Code == 421 {
			e = replyError(KindRcpt, StageRcpt, r, t)
		}
		if e != nil {
			return res.failSession(append(accepted, tx.active[n:]...), e)
		}
		if i := tx.active[n]; r.Positive() {
			accepted = append(accepted, i)
			if m.Probe {
				acceptedReplies = append(acceptedReplies, r)
			}
		} else {
			res.fail(i, replyError(KindRcpt, StageRcpt, r, t))
		}
		return nil
	}
	sent, read := 0, 0 // RCPT commands written and answered
	for first := true; first || (pipe && sent < len(tx.active)); first = false {
		if pipe {
			for sent < len(tx.active) {
				cmd := s.rcptCommand(tx, &m.Recipients[tx.active[sent]])
				if s.bw.Buffered() > 0 && s.bw.Buffered()+len(cmd)+2 > pipelineWindow {
					break
				}
				s.bw.WriteString(cmd)
				s.bw.WriteString("\r\n")
				sent++
			}
			if sent == len(tx.active) && !useBDAT && !m.Probe {
				s.bw.WriteString("DATA\r\n")
			}
			stage, timeout := StageRcpt, to.Rcpt
			if first {
				stage, timeout = StageMail, to.Mail
			}
			if e := s.flush(stage, timeout); e != nil {
				if first && reused {
					return e.Kind != KindCanceled, e
				}
				return false, res.failSession(append(accepted, tx.active[read:]...), e)
			}
		}
		if first {
			if reused && pipe {
				if stale := s.rset(); stale != nil {
					return stale.Kind != KindCanceled, stale
				}
			}
			for k := 0; pipe && k < len(xf); k++ {
				r, e := s.read(StageMail, to.XForward)
				if e != nil {
					return false, res.failSession(tx.active, e)
				}
				s.xforwardReply(r)
			}
			// MAIL reply.
			r, e := s.read(StageMail, to.Mail)
			if e != nil {
				return false, res.failSession(tx.active, e)
			}
			if !r.Positive() {
				mailErr := replyError(KindMail, StageMail, r, t)
				if pipe && !s.broken {
					s.drain(sent, sent == len(tx.active) && !useBDAT && !m.Probe)
				}
				return false, res.failSession(tx.active, mailErr)
			}
		}
		// RCPT replies.
		if !pipe {
			for n, i := range tx.active {
				r, e := s.cmd(StageRcpt, to.Rcpt, s.rcptCommand(tx, &m.Recipients[i]))
				if e := rcptReply(n, r, e); e != nil {
					return false, e
				}
			}
			break
		}
		for ; read < sent; read++ {
			r, e := s.read(StageRcpt, to.Rcpt)
			if e := rcptReply(read, r, e); e != nil {
				return false, e
			}
		}
	}

	if m.Probe {
		// The RCPT replies are the answer; the next transaction on this
		// connection starts with RSET, and QUIT ends an unused one.
		for k, i := range accepted {
			rr := &res.Recipients[i]
			rr.Status, rr.Reply, rr.Err = Delivered, acceptedReplies[k], nil
		}
		return false, nil
	}
	if useBDAT {
		if len(accepted) == 0 {
			return false, nil
		}
		return false, s.sendBDAT(tx, accepted)
	}

	// DATA.
	if !pipe {
		if len(accepted) == 0 {
			return false, nil
		}
		s.bw.WriteString("DATA\r\n")
		if e := s.flush(StageData, to.DataInit); e != nil {
			return false, res.failSession(accepted, e)
		}
	}
	r, e := s.read(StageData, to.DataInit)
	if e != nil {
		return false, res.failSession(accepted, e)
	}
	if len(accepted) == 0 {
		// RFC 2920 3.1: all RCPTs failed but DATA was accepted: send an
		// empty message's end so the server discards the transaction.
		if r.Intermediate() {
			s.bw.WriteString(".\r\n")
			if e := s.flush(StageDataDone, to.DataDone); e == nil {
				_, _ = s.read(StageDataDone, to.DataDone)
			}
		}
		return false, nil
	}
	if r.Code != 354 {
		return false, res.failSession(accepted, replyError(KindData, StageData, r, t))
	}
	lw := newLineWriter(s.bw, true)
	if e := s.copyBody(tx, lw); e != nil {
		return false, res.failSession(accepted, e)
	}
	s.bw.WriteString(".\r\n")
	if e := s.flush(StageBody, to.DataXfer); e != nil {
		return false, res.failSession(accepted, e)
	}
	return false, s.finalReplies(accepted, res)
}

// rset reads the reply to RSET on a reused connection; any failure means
// the connection is stale.
func (s *session) rset() *Error {
	to := &s.c.timeouts
	if !s.ext.pipelining {
		if e := s.flush(StageRSET, to.Rset); e != nil {
			return e
		}
	}
	r, e := s.read(StageRSET, to.Rset)
	if e != nil {
		return e
	}
	if !r.Positive() {
		s.broken = true
		return replyError(KindLost, StageRSET, r, &s.t)
	}
	return nil
}

// drain reads the pipelined RCPT (and DATA) replies after a failed MAIL,
// to keep the session in sync; a 354 is answered with an empty message.
func (s *session) drain(rcpts int, data bool) {
	to := &s.c.timeouts
	for range rcpts {
		if _, e := s.read(StageRcpt, to.Rcpt); e != nil || s.broken {
			return
		}
	}
	if !data {
		return
	}
	r, e := s.read(StageData, to.DataInit)
	if e == nil && r.Intermediate() {
		s.bw.WriteString(".\r\n")
		if s.flush(StageDataDone, to.DataDone) == nil {
			_, _ = s.read(StageDataDone, to.DataDone)
		}
	}
}

// copyBody streams the content through w (a lineWriter) with the data
// transfer timeout, then ends the last line.
func (s *session) copyBody(tx *txn, w *lineWriter) *Error {
	s.tc.setTimeout(s.c.timeouts.DataXfer)
	if s.scratch == nil {
		s.scratch = make([]byte, ioBufferSize)
	}
	var off int64
	for off < tx.m.Size {
		n := min(int64(len(s.scratch)), tx.m.Size-off)
		got, err := tx.m.Body.ReadAt(s.scratch[:n], off)
		if int64(got) < n {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			// The peer already has part of the message: abandon the
			// connection so nothing incomplete is delivered.
			s.broken = true
			return localError(KindMessage, StageBody, true, EnhancedCode{4, 3, 0}, "error reading message content", err, &s.t)
		}
		off += n
		if _, err := w.Write(s.scratch[:n]); err != nil {
			var ce *Error
			if errors.As(err, &ce) {
				return ce
			}
			return s.ioError(StageBody, err)
		}
	}
	if err := w.finish(); err != nil {
		return s.ioError(StageBody, err)
	}
	return nil
}

// finalReplies reads the end-of-data reply (SMTP) or one reply per
// accepted recipient (LMTP, RFC 2033 4.2).
func (s *session) finalReplies(accepted []int, res *Result) *Error {
	to := &s.c.timeouts
	n := 1
	if s.t.LMTP {
		n = len(accepted)
	}
	var sessionErr *Error
	for k := range n {
		r, e := s.read(StageDataDone, to.DataDone)
		if e != nil {
			return res.failSession(accepted[k:], e)
		}
		targets := accepted[k : k+1]
		if !s.t.LMTP {
			targets = accepted
		}
		if r.Positive() {
			for _, i := range targets {
				rr := &res.Recipients[i]
				rr.Status, rr.Reply, rr.Err = Delivered, r, nil
			}
			continue
		}
		e = replyError(KindData, StageDataDone, r, &s.t)
		for _, i := range targets {
			res.fail(i, e)
		}
		if !s.t.LMTP {
			sessionErr = e
		}
		if r.Code == 421 {
			return res.failSession(accepted[k+1:], e)
		}
	}
	if sessionErr != nil {
		res.Err = sessionErr
	}
	return sessionErr
}

// sendBDAT sends the content in BDAT chunks (RFC 3030), reading each
// chunk's reply.
func (s *session) sendBDAT(tx *txn, accepted []int) *Error {
	res := tx.res
	cw := &chunkWriter{s: s, size: s.c.cfg.ChunkSize}
	cw.buf.cw = cw
	lw := newLineWriter(&cw.buf, false)
	if e := s.copyBody(tx, lw); e != nil {
		return res.failSession(accepted, e)
	}
	if cw.err != nil {
		return res.failSession(accepted, cw.err)
	}
	if e := cw.send(true); e != nil {
		return res.failSession(accepted, e)
	}
	return s.finalReplies(accepted, res)
}

// chunkWriter collects canonical content and sends it as BDAT chunks.
type chunkWriter struct {
	s    *session
	size int
	buf  chunkBuffer
	err  *Error
}

// chunkBuffer is a bytes.Buffer that flushes full chunks.
type chunkBuffer struct {
	bytes.Buffer
	cw *chunkWriter
}

func (b *chunkBuffer) Write(p []byte) (int, error) {
	n, _ := b.Buffer.Write(p)
	if b.cw != nil && b.Len() >= b.cw.size {
		if e := b.cw.send(false); e != nil {
			return 0, e
		}
	}
	return n, nil
}

// send writes the buffered content as one BDAT chunk. The reply to a
// non-last chunk is read at once; the LAST reply is left to finalReplies.
func (cw *chunkWriter) send(last bool) *Error {
	s := cw.s
	to := &s.c.timeouts
	s.bw.WriteString("BDAT ")
	s.bw.WriteString(strconv.Itoa(cw.buf.Len()))
	if last {
		s.bw.WriteString(" LAST")
	}
	s.bw.WriteString("\r\n")
	s.tc.setTimeout(to.DataXfer)
	if _, err := s.bw.Write(cw.buf.Bytes()); err != nil {
		cw.err = s.ioError(StageBody, err)
		return cw.err
	}
	cw.buf.Reset()
	stage := StageBody
	if last {
		stage = StageDataDone
	}
	if e := s.flush(stage, to.DataXfer); e != nil {
		cw.err = e
		return e
	}
	if last {
		return nil
	}
	r, e := s.read(StageBody, to.DataXfer)
	if e == nil && !r.Positive() {
		s.broken = true
		e = replyError(KindData, StageBody, r, &s.t)
	}
	cw.err = e
	return e
}
