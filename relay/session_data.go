package relay

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maillog"
	"github.com/mxrelay/mxrelay/relay/smtpd"
)

// dataStart decides on DATA (or the first BDAT): there must be
// recipients, then the data restrictions.
func (s *session) dataStart() *Error {
	if len(s.rcpts) == 0 {
		return errNeedRcpt
	}
	only := ""
	if len(s.rcpts) == 1 {
		only = s.rcpts[0].Address // Postfix knows the recipient at DATA only then
	}
	if e := s.check(policy.StageData, only); e != nil {
		return e
	}
	if e := s.milterData(); e != nil {
		return e
	}
	return s.proxyData()
}

// message receives the message text r: it is normalised, checked and
// stored durably before the queue ID is returned for the 250 reply.
// The transaction ends, stored or not.
func (s *session) message(r io.Reader) (queue.ID, *Error) {
	s.mu.Lock()
	s.inData = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inData = false
		s.mu.Unlock()
	}()
	now := s.r.c.Now()
	addrs := make([]string, len(s.rcpts))
	for i, rc := range s.rcpts {
		addrs[i] = rc.Address
	}
	var hdr strings.Builder
	for _, p := range s.prepends {
		hdr.WriteString(sanitizeHeader(p))
		hdr.WriteString("\r\n")
	}
	hdr.WriteString(Received(ReceivedInfo{
		Helo: s.helo, ClientAddr: s.clientAddr, ClientName: knownName(s.names.Name), Hostname: s.r.c.Hostname, MailName: s.r.c.MailName,
		Protocol: receivedProtocol(s.protocol(), s.tls != nil, s.params.utf8), TLS: s.tls,
		QueueID: string(s.queueID), Recipients: addrs, Time: now,
	}))
	lim := DataLimits{MaxSize: s.r.MessageSizeLimit(), MaxHops: s.r.c.HopCountLimit, Bare: s.r.c.BareLineEndings}
	dr := newDataReader(r, lim)
	s.messageIDDue = ""
	dr.headerDone = func(messageID string) {
		if messageID == "" {
			// cleanup may add one (cleanBody): the line waits for it.
			s.messageIDDue = s.queueID
			return
		}
		s.r.log.Info(maillog.MessageID, maillog.KeyQueueID, string(s.queueID), maillog.KeyMessageID, messageID)
	}
	defer s.logNoMessageID()
	if s.proxied() {
		return s.proxyMessage(hdr.String(), dr)
	}
	if s.discard {
		_, err := io.Copy(io.Discard, dr)
		id := s.queueID
		// Debug: the DISCARD action was logged when policy asked for it.
		s.r.log.Debug("discarded", "queue_id", id, "client", s.clientString(), "from", s.sender)
		s.resetTransaction()
		if err != nil {
			return "", s.dataError(err)
		}
		return id, nil
	}
	sender, rcpts, cerr := s.cleanEnvelope()
	if cerr != nil {
		io.Copy(io.Discard, dr) // the reply comes after the message
		s.resetTransaction()
		return "", cerr
	}
	var body io.Reader = dr
	if s.r.c.Auth != nil {
		msg, hold, rerr := s.authenticate(dr)
		if rerr != nil {
			s.resetTransaction()
			return "", rerr
		}
		body, s.hold = msg, s.hold || hold
	}
	body, verdict, cerr := s.cleanBody(body, sender, now)
	verdict = s.accessActions(verdict)
	if cerr == nil {
		rcpts, cerr = s.applyVerdict(verdict, rcpts)
	}
	if cerr != nil {
		io.Copy(io.Discard, dr)
		s.resetTransaction()
		return "", cerr
	}
	if verdict.Discard {
		id := s.queueID // header_checks or body_checks DISCARD, logged there
		s.resetTransaction()
		return id, nil
	}
	s.hold = s.hold || verdict.Hold
	if s.milters != nil {
		var discard bool
		if body, sender, rcpts, discard, cerr = s.milterBody(hdr.String(), body, sender, rcpts, verdict); cerr != nil || discard {
			io.Copy(io.Discard, dr)
			id := s.queueID
			s.resetTransaction()
			if cerr != nil {
				return "", cerr
			}
			return id, nil
		}
		hdr.Reset()
	}
	env := &queue.Envelope{
		ID:         s.queueID,
		Sender:     sender,
		Recipients: rcpts,
		EnvID:      s.params.envID,
		SMTPUTF8:   s.params.utf8,
		Ret:        s.params.ret,
		Arrival:    now,
		Held:       s.hold,
		Client:     s.queueClient(),
	}
	s.setFilter(env, verdict)
	err := s.r.c.Queue.Store(s.ctx, env, io.MultiReader(strings.NewReader(hdr.String()), body))
	id := env.ID
	nrcpt := len(rcpts)
	hold := s.hold
	s.resetTransaction()
	if err != nil {
		return "", s.dataError(err)
	}
	if hold {
		// Stored with Held set: it went straight to the hold queue.
		// Debug: the HOLD action was logged when policy asked for it.
		s.r.log.Debug("stored on hold", "queue_id", id, "client", s.clientString(), "from", env.Sender)
	}
	s.accepted++
	s.r.log.LogAttrs(s.ctx, slog.LevelInfo, maillog.Queued, slog.String(maillog.KeyQueueID, string(id)),
		slog.String(maillog.KeyClient, s.clientString()), slog.String(maillog.KeyFrom, env.Sender),
		slog.Int64(maillog.KeySize, env.Size), slog.Int(maillog.KeyNrcpt, nrcpt))
	s.r.obs.Accepted(Accepted{QueueID: string(id), Size: env.Size, Recipients: nrcpt, Client: s.clientAddr})
	return id, nil
}

// queuedReply is the end-of-data reply, Postfix's "250 2.0.0 Ok: queued
// as ID".
func queuedReply(id queue.ID) *Error {
	return &Error{Code: 250, Status: "2.0.0", Message: "Ok: queued as " + string(id)}
}

// dataError maps a failed store: our own checks keep their reply, a
// client limit of a go-smtp server keeps Postfix's wording, anything else
// is a queue write error (4xx, without its text).
func (s *session) dataError(err error) *Error {
	var re *Error
	if errors.As(err, &re) {
		return re
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code == 552 {
		return errTooBig
	}
	if errors.Is(err, smtp.ErrTooLongLine) {
		return errLineTooLong
	}
	if clientGone(err) {
		// Nothing to store and nobody to tell: not a queue problem.
		// The engine logs the lost connection (maillog.LostConnection).
		s.r.log.Debug("lost connection after DATA", "client", s.clientString(), "err", err)
		return &Error{Code: errQueueWrite.Code, Status: errQueueWrite.Status, Message: errQueueWrite.Message, Err: err}
	}
	s.r.log.Error("queue file write error", "client", s.clientString(), "err", err)
	return &Error{Code: errQueueWrite.Code, Status: errQueueWrite.Status, Message: errQueueWrite.Message, Err: err}
}

// clientGone reports whether a failed store is the client's doing: the
// connection ended or timed out inside the message, or a command aborted
// a BDAT transfer.
func clientGone(err error) bool {
	var ne net.Error
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, smtpd.ErrAborted) || errors.As(err, &ne) && ne.Timeout()
}

// logAddedMessageID logs the (Resent-)Message-Id cleanup added, as
// cleanup_header_done_callback does.
func (s *session) logAddedMessageID(resent bool, id string) {
	s.r.log.Info(maillog.MessageID, maillog.KeyQueueID, string(s.queueID), maillog.KeyMessageID, id, maillog.KeyResent, resent)
	if !resent {
		s.messageIDDue = ""
	}
}

// logNoMessageID logs "message-id=<>" for a message that has no
// Message-Id and was given none, as cleanup_header_done_callback does
// after adding what it adds.
func (s *session) logNoMessageID() {
	if id := s.messageIDDue; id != "" {
		s.messageIDDue = ""
		s.r.log.Info(maillog.MessageID, maillog.KeyQueueID, string(id), maillog.KeyMessageID, "")
	}
}
